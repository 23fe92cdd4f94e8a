//! MVTec 3D-AD, RGB only:
//!
//! ```text
//! ROOT/<product>/train/good/rgb/*
//! ROOT/<product>/test/<type>/rgb/*
//! ROOT/<product>/test/<type>/gt/<stem>.png      masks
//! ```
//!
//! `validation/` and the `xyz/` point clouds are not used. A product is a directory with a
//! `train/` directory.

use std::path::Path;

use super::{images_in, subdirs, test_kinds, ProductData, GOOD};
use crate::error::Result;

/// The products in `root`: directories that hold `train/`.
pub fn products(root: &Path) -> Result<Vec<String>> {
    Ok(subdirs(root)?
        .into_iter()
        .filter(|name| root.join(name).join("train").is_dir())
        .collect())
}

/// Lists the product in `dir`.
pub fn load(dir: &Path, name: &str) -> Result<ProductData> {
    let tests = dir.join("test");
    let test = if tests.is_dir() {
        test_kinds(
            &tests,
            &[],
            |kind_dir| kind_dir.join("rgb"),
            |kind, stem| tests.join(kind).join("gt").join(format!("{stem}.png")),
        )?
    } else {
        Vec::new()
    };
    Ok(ProductData {
        name: name.into(),
        train: images_in(&dir.join("train").join(GOOD).join("rgb"))?,
        test,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::scratch::Scratch;
    use super::super::{load_product, products, Layout};

    fn mvtec3d_tree() -> Scratch {
        let s = Scratch::new();
        for n in ["000", "001"] {
            s.image(&format!("bagel/train/good/rgb/{n}.png"));
            s.mask(&format!("bagel/train/good/xyz/{n}.png"));
        }
        s.image("bagel/validation/good/rgb/000.png");
        s.image("bagel/test/good/rgb/000.png");
        s.mask("bagel/test/good/gt/000.png");
        s.mask("bagel/test/good/xyz/000.png");
        for n in ["000", "001"] {
            s.image(&format!("bagel/test/crack/rgb/{n}.png"));
            s.mask(&format!("bagel/test/crack/xyz/{n}.png"));
        }
        s.mask("bagel/test/crack/gt/000.png");
        s.image("bagel/test/hole/rgb/000.png");
        s.mask("bagel/test/hole/gt/000.png");
        // Not products: no train/ directory, or not a directory.
        s.image("docs/rgb/000.png");
        s.text("readme.txt", "MVTec 3D-AD");
        s
    }

    #[test]
    fn mvtec3d_products_need_train_dir() {
        let s = mvtec3d_tree();
        assert_eq!(products(s.path(), Layout::Mvtec3d).unwrap(), ["bagel"]);
    }

    #[test]
    fn mvtec3d_loads_rgb_and_gt() {
        let s = mvtec3d_tree();
        let d = s.path().join("bagel");
        let p = load_product(s.path(), Layout::Mvtec3d, "bagel").unwrap();
        // Train from train/good/rgb only: validation and xyz are ignored.
        assert_eq!(
            p.train,
            vec![
                d.join("train/good/rgb/000.png"),
                d.join("train/good/rgb/001.png")
            ]
        );
        assert!(p
            .test
            .iter()
            .all(|t| t.path.parent().unwrap().ends_with("rgb")));
        assert!(!p
            .test
            .iter()
            .any(|t| t.path.starts_with(d.join("validation"))));
        let got: Vec<(&str, PathBuf, Option<PathBuf>)> = p
            .test
            .iter()
            .map(|t| (t.kind.as_str(), t.path.clone(), t.mask.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "crack",
                    d.join("test/crack/rgb/000.png"),
                    Some(d.join("test/crack/gt/000.png"))
                ),
                // A defect image without its gt has no mask.
                ("crack", d.join("test/crack/rgb/001.png"), None),
                (
                    "good",
                    d.join("test/good/rgb/000.png"),
                    None // good images have no mask even though gt exists
                ),
                (
                    "hole",
                    d.join("test/hole/rgb/000.png"),
                    Some(d.join("test/hole/gt/000.png"))
                ),
            ]
        );
        assert!(p.test.iter().all(|t| t.mask_cutoff == 127));
    }
}
