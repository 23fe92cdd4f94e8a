//! Magnetic Tile Defects (Huang et al. 2018): `ROOT/MT_<class>/Imgs/<name>.jpg` with the mask
//! `<name>.png` beside each image. One product, named `mtd`, with the standard split: the
//! sorted `MT_Free` names with index % 5 == 0 test, the rest train; every defect image tests,
//! its kind the class in lower case (`blowhole`, `crack`, ...). Masks are soft (0..255).

use std::path::{Path, PathBuf};

use super::{images_in, subdirs, ProductData, TestImage, GOOD};
use crate::error::{Error, Result};

/// The product name of the dataset.
pub const PRODUCT: &str = "mtd";
/// The class of defect-free tiles.
const FREE: &str = "MT_Free";

/// JPEGs in `dir` (the masks beside them are PNGs).
fn jpgs(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(images_in(dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .collect())
}

/// Lists the dataset in `root` with the standard split.
pub fn load(root: &Path) -> Result<ProductData> {
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (i, path) in jpgs(&root.join(FREE).join("Imgs"))?.into_iter().enumerate() {
        if i % 5 == 0 {
            test.push(TestImage::new(path, GOOD, None));
        } else {
            train.push(path);
        }
    }
    for class in subdirs(root)? {
        if class == FREE || !class.starts_with("MT_") {
            continue;
        }
        for path in jpgs(&root.join(&class).join("Imgs"))? {
            let mask = path.with_extension("png");
            if !mask.is_file() {
                return Err(Error::Dataset(format!(
                    "defect image without its mask {}",
                    mask.display()
                ))
                .with_path(path));
            }
            let kind = class.trim_start_matches("MT_").to_lowercase();
            test.push(TestImage::new(path, &kind, Some(mask)));
        }
    }
    Ok(ProductData {
        name: PRODUCT.into(),
        train,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::super::scratch::Scratch;
    use super::super::{load_product, Layout};

    #[test]
    fn standard_split_and_lower_case_kinds() {
        let s = Scratch::new();
        for i in 0..7 {
            s.image(&format!("MT_Free/Imgs/exp{i}.jpg"));
            s.mask(&format!("MT_Free/Imgs/exp{i}.png"));
        }
        s.image("MT_Crack/Imgs/c0.jpg");
        s.mask("MT_Crack/Imgs/c0.png");
        let p = load_product(s.path(), Layout::Mtd, "mtd").unwrap();
        // Indices 0 and 5 of the sorted free tiles test; the other five train.
        assert_eq!(p.train.len(), 5);
        let tests: Vec<_> = p
            .test
            .iter()
            .map(|t| {
                (
                    t.kind.as_str(),
                    t.path.file_name().unwrap().to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert_eq!(
            tests,
            [
                ("good", "exp0.jpg".to_string()),
                ("good", "exp5.jpg".to_string()),
                ("crack", "c0.jpg".to_string())
            ]
        );
    }

    #[test]
    fn a_defect_without_its_mask_is_named() {
        let s = Scratch::new();
        for i in 0..6 {
            s.image(&format!("MT_Free/Imgs/exp{i}.jpg"));
        }
        s.image("MT_Fray/Imgs/f0.jpg");
        let err = load_product(s.path(), Layout::Mtd, "mtd")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f0.jpg") && err.contains("f0.png"), "{err}");
    }
}
