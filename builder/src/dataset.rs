//! Dataset layouts: where a product's normal training images and its test images are.
//!
//! - `mvtec`: `ROOT/<product>/train/good/*`, `ROOT/<product>/test/<type>/*`, masks in
//!   `ROOT/<product>/ground_truth/<type>/<stem>_mask.png` (MVTec AD).
//! - `folder`: `ROOT/<product>/good/*` (normal), `ROOT/<product>/<defect>/*`, optional masks in
//!   `ROOT/<product>/masks/<defect>/<stem>.png`. All good images train unless a `test/` split
//!   exists.
//! - `mtd`: Magnetic Tile Defects (`ROOT/MT_<class>/Imgs/<name>.jpg` + `<name>.png` masks), one
//!   product named `mtd`, with the standard split: sorted `MT_Free` names, index % 5 == 0 test.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// How a dataset directory is organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Mvtec,
    Folder,
    Mtd,
}

/// One test image with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct TestImage {
    pub path: PathBuf,
    /// `good` or the defect type.
    pub kind: String,
    /// Pixel mask for defect images (nonzero = defect), if the dataset has one.
    pub mask: Option<PathBuf>,
}

impl TestImage {
    pub fn is_anomalous(&self) -> bool {
        self.kind != "good"
    }
}

/// A product's images.
#[derive(Debug, Clone)]
pub struct Product {
    pub name: String,
    pub train: Vec<PathBuf>,
    pub test: Vec<TestImage>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// PNG and JPEG files directly in `dir`, sorted by name.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if path.is_file() && matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn subdirs(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Product names available in `root` under `layout`.
pub fn products(root: &Path, layout: Layout) -> Result<Vec<String>> {
    match layout {
        Layout::Mtd => Ok(vec!["mtd".into()]),
        Layout::Mvtec | Layout::Folder => subdirs(root),
    }
}

/// Loads one product's file lists.
pub fn load_product(root: &Path, layout: Layout, name: &str) -> Result<Product> {
    let product = match layout {
        Layout::Mvtec => load_mvtec(&root.join(name), name)?,
        Layout::Folder => load_folder(&root.join(name), name)?,
        Layout::Mtd => load_mtd(root)?,
    };
    if product.train.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: product `{name}` has no training images ({layout:?} layout)",
            root.display()
        )));
    }
    Ok(product)
}

fn load_mvtec(dir: &Path, name: &str) -> Result<Product> {
    let train = images_in(&dir.join("train").join("good"))?;
    let mut test = Vec::new();
    let test_dir = dir.join("test");
    if test_dir.is_dir() {
        for kind in subdirs(&test_dir)? {
            for path in images_in(&test_dir.join(&kind))? {
                let mask = if kind == "good" {
                    None
                } else {
                    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                    let m = dir
                        .join("ground_truth")
                        .join(&kind)
                        .join(format!("{stem}_mask.png"));
                    m.is_file().then_some(m)
                };
                test.push(TestImage {
                    path,
                    kind: kind.clone(),
                    mask,
                });
            }
        }
    }
    Ok(Product {
        name: name.into(),
        train,
        test,
    })
}

fn load_folder(dir: &Path, name: &str) -> Result<Product> {
    let good = images_in(&dir.join("good"))?;
    let mut test = Vec::new();
    for kind in subdirs(dir)? {
        if kind == "good" || kind == "masks" {
            continue;
        }
        for path in images_in(&dir.join(&kind))? {
            let stem = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let m = dir.join("masks").join(&kind).join(format!("{stem}.png"));
            test.push(TestImage {
                path,
                kind: kind.clone(),
                mask: m.is_file().then_some(m),
            });
        }
    }
    Ok(Product {
        name: name.into(),
        train: good,
        test,
    })
}

fn load_mtd(root: &Path) -> Result<Product> {
    let free = root.join("MT_Free").join("Imgs");
    let jpgs = |dir: &Path| -> Result<Vec<PathBuf>> {
        Ok(images_in(dir)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
            .collect())
    };
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (i, path) in jpgs(&free)?.into_iter().enumerate() {
        if i % 5 == 0 {
            test.push(TestImage {
                path,
                kind: "good".into(),
                mask: None,
            });
        } else {
            train.push(path);
        }
    }
    for class in subdirs(root)? {
        if class == "MT_Free" || !class.starts_with("MT_") {
            continue;
        }
        for path in jpgs(&root.join(&class).join("Imgs"))? {
            let mask = path.with_extension("png");
            if !mask.is_file() {
                return Err(Error::Invalid(format!(
                    "{}: defect image without mask {}",
                    path.display(),
                    mask.display()
                )));
            }
            test.push(TestImage {
                path,
                kind: class.trim_start_matches("MT_").to_lowercase(),
                mask: Some(mask),
            });
        }
    }
    Ok(Product {
        name: "mtd".into(),
        train,
        test,
    })
}
