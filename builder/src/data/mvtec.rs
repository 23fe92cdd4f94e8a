//! The MVTec AD layout, read by `--layout mvtec` and written by [`super::synth`]:
//!
//! ```text
//! ROOT/<product>/train/good/*                      normal training images
//! ROOT/<product>/test/<type>/*                     test images; <type> is `good` or a defect
//! ROOT/<product>/ground_truth/<type>/<stem>_mask.png
//! ```
//!
//! A defect image whose mask is missing is listed without one (evaluation refuses it).

use std::path::{Path, PathBuf};

use super::{images_in, test_kinds, ProductData, GOOD};
use crate::error::Result;

/// `PRODUCT/train/good`: the normal training images.
pub fn train_dir(product_dir: &Path) -> PathBuf {
    product_dir.join("train").join(GOOD)
}

/// `PRODUCT/test/<kind>`: the test images of one kind.
pub fn test_dir(product_dir: &Path, kind: &str) -> PathBuf {
    product_dir.join("test").join(kind)
}

/// `PRODUCT/ground_truth/<kind>/<stem>_mask.png`: the mask of test image `<stem>`.
pub fn mask_path(product_dir: &Path, kind: &str, stem: &str) -> PathBuf {
    product_dir
        .join("ground_truth")
        .join(kind)
        .join(format!("{stem}_mask.png"))
}

/// Lists the product in `dir`.
pub fn load(dir: &Path, name: &str) -> Result<ProductData> {
    let tests = dir.join("test");
    let test = if tests.is_dir() {
        test_kinds(&tests, &[], Path::to_path_buf, |kind, stem| {
            mask_path(dir, kind, stem)
        })?
    } else {
        Vec::new()
    };
    Ok(ProductData {
        name: name.into(),
        train: images_in(&train_dir(dir))?,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::super::scratch::Scratch;
    use super::super::{load_product, Layout};

    #[test]
    fn lists_train_test_and_masks_with_cutoff_127() {
        let s = Scratch::new();
        s.image("screw/train/good/000.png");
        s.image("screw/test/good/000.png");
        s.image("screw/test/scratch/000.png");
        s.image("screw/test/scratch/001.png");
        s.mask("screw/ground_truth/scratch/000_mask.png");
        let p = load_product(s.path(), Layout::Mvtec, "screw").unwrap();
        assert_eq!(p.train, vec![s.path().join("screw/train/good/000.png")]);
        assert_eq!(p.test.len(), 3);
        assert!(p.test.iter().all(|t| t.mask_cutoff == 127));
        let masks: Vec<_> = p
            .test
            .iter()
            .map(|t| (t.kind.as_str(), t.mask.clone()))
            .collect();
        assert_eq!(
            masks,
            vec![
                ("good", None),
                (
                    "scratch",
                    Some(s.path().join("screw/ground_truth/scratch/000_mask.png"))
                ),
                ("scratch", None),
            ]
        );
    }

    #[test]
    fn a_product_without_training_images_is_named() {
        let s = Scratch::new();
        s.image("screw/test/good/000.png");
        std::fs::create_dir_all(s.path().join("screw/train/good")).unwrap();
        let err = load_product(s.path(), Layout::Mvtec, "screw").unwrap_err();
        assert!(
            err.to_string().contains("`screw` has no training images"),
            "{err}"
        );
    }
}
