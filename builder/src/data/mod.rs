//! Where images come from: dataset layouts on disk, ground-truth masks, synthetic products for
//! tests and the demo, and synthetic anomalies for training.
//!
//! A dataset is a root directory in one of the [`Layout`]s; [`products`] lists the products it
//! holds and [`load_product`] lists one product's normal training images and labelled test
//! images ([`ProductData`]). One file per layout:
//!
//! - [`mvtec`]: MVTec AD (`ROOT/<product>/train/good`, `test/<type>`, `ground_truth/<type>`);
//!   the synthetic datasets of [`synth`] are written in this layout too;
//! - [`folder`]: `ROOT/<product>/good`, `<defect>/`, optional `masks/<defect>/`;
//! - [`mtd`]: Magnetic Tile Defects with its standard split;
//! - [`visa`]: VisA as published, split by its CSV;
//! - [`mvtec3d`]: MVTec 3D-AD, RGB only.
//!
//! [`mask`] reads ground-truth masks at a bundle's input size; [`anomaly`] draws the synthetic
//! anomalies training learns from.

pub mod anomaly;
pub mod folder;
pub mod mask;
pub mod mtd;
pub mod mvtec;
pub mod mvtec3d;
pub mod synth;
pub mod visa;

use std::path::{Path, PathBuf};

use crate::error::{Error, PathContext, Result};

/// How a dataset directory is organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// MVTec AD ([`mvtec`]).
    Mvtec,
    /// Good and defect folders per product ([`folder`]).
    Folder,
    /// Magnetic Tile Defects ([`mtd`]).
    Mtd,
    /// VisA ([`visa`]).
    Visa,
    /// MVTec 3D-AD, RGB only ([`mvtec3d`]).
    Mvtec3d,
}

/// One test image with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct TestImage {
    /// The image file.
    pub path: PathBuf,
    /// `good` or the defect type.
    pub kind: String,
    /// Pixel mask for defect images, if the dataset has one.
    pub mask: Option<PathBuf>,
    /// A mask pixel is a defect when its value is > mask_cutoff (127 for 0/255 and soft
    /// masks, 0 for VisA's class-index masks).
    pub mask_cutoff: u8,
}

impl TestImage {
    /// A test image of `kind` whose mask, if any, counts values above 127 as defect.
    pub fn new(path: PathBuf, kind: &str, mask: Option<PathBuf>) -> Self {
        Self {
            path,
            kind: kind.to_string(),
            mask,
            mask_cutoff: 127,
        }
    }

    /// Whether the image shows a defect (its kind is not `good`).
    pub fn is_anomalous(&self) -> bool {
        self.kind != GOOD
    }
}

/// The kind of a defect-free image.
pub const GOOD: &str = "good";

/// A product's images in a dataset.
#[derive(Debug, Clone)]
pub struct ProductData {
    /// Product name.
    pub name: String,
    /// Normal training images.
    pub train: Vec<PathBuf>,
    /// Labelled test images.
    pub test: Vec<TestImage>,
}

/// Product names available in `root` under `layout`.
pub fn products(root: &Path, layout: Layout) -> Result<Vec<String>> {
    match layout {
        Layout::Mtd => Ok(vec![mtd::PRODUCT.into()]),
        Layout::Mvtec | Layout::Folder => subdirs(root),
        Layout::Visa => visa::products(root),
        Layout::Mvtec3d => mvtec3d::products(root),
    }
}

/// Loads one product's file lists. A product without training images is an error.
pub fn load_product(root: &Path, layout: Layout, name: &str) -> Result<ProductData> {
    let product = match layout {
        Layout::Mvtec => mvtec::load(&root.join(name), name)?,
        Layout::Folder => folder::load(&root.join(name), name)?,
        Layout::Mtd => mtd::load(root)?,
        Layout::Visa => visa::load(root, name)?,
        Layout::Mvtec3d => mvtec3d::load(&root.join(name), name)?,
    };
    if product.train.is_empty() {
        return Err(Error::Dataset(format!(
            "product `{name}` has no training images ({layout:?} layout)"
        ))
        .with_path(root));
    }
    Ok(product)
}

/// PNG and JPEG files directly in `dir`, sorted by name.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_path(dir)? {
        let path = entry.with_path(dir)?.path();
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

/// Names of the directories directly in `dir`, sorted.
pub fn subdirs(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_path(dir)? {
        let entry = entry.with_path(dir)?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The test images under `dir`, one directory per kind (sorted, `skip` excepted): the images
/// of a kind are in `images_of(kind directory)`, and a defect image's mask is
/// `mask_of(kind, image stem)` when that file exists. Good images have no mask.
fn test_kinds(
    dir: &Path,
    skip: &[&str],
    images_of: impl Fn(&Path) -> PathBuf,
    mask_of: impl Fn(&str, &str) -> PathBuf,
) -> Result<Vec<TestImage>> {
    let mut test = Vec::new();
    for kind in subdirs(dir)? {
        if skip.contains(&kind.as_str()) {
            continue;
        }
        for path in images_in(&images_of(&dir.join(&kind)))? {
            let mask = Some(mask_of(&kind, &stem(&path))).filter(|m| kind != GOOD && m.is_file());
            test.push(TestImage::new(path, &kind, mask));
        }
    }
    Ok(test)
}

/// The file name of `path` without its extension.
fn stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
pub(crate) mod scratch {
    //! Dataset trees for layout tests, in a temporary directory removed on drop.

    use std::path::{Path, PathBuf};

    /// A temporary dataset root.
    pub struct Scratch(tempfile::TempDir);

    impl Scratch {
        pub fn new() -> Self {
            Scratch(tempfile::tempdir().expect("tempdir"))
        }

        pub fn path(&self) -> &Path {
            self.0.path()
        }

        fn file(&self, rel: &str) -> PathBuf {
            let path = self.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            path
        }

        /// Writes a tiny image at `rel` (format from the extension).
        pub fn image(&self, rel: &str) -> PathBuf {
            let path = self.file(rel);
            image::RgbImage::new(4, 4).save(&path).expect("save image");
            path
        }

        /// Writes a tiny all-zero mask at `rel`.
        pub fn mask(&self, rel: &str) -> PathBuf {
            let path = self.file(rel);
            image::GrayImage::new(4, 4).save(&path).expect("save mask");
            path
        }

        /// Writes a text file at `rel`.
        pub fn text(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.file(rel);
            std::fs::write(&path, text).expect("write");
            path
        }
    }
}
