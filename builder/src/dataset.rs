//! Dataset layouts: where a product's normal training images and its test images are.
//!
//! - `mvtec`: `ROOT/<product>/train/good/*`, `ROOT/<product>/test/<type>/*`, masks in
//!   `ROOT/<product>/ground_truth/<type>/<stem>_mask.png` (MVTec AD).
//! - `folder`: `ROOT/<product>/good/*` (normal), `ROOT/<product>/<defect>/*`, optional masks in
//!   `ROOT/<product>/masks/<defect>/<stem>.png`. All good images train unless a `test/` split
//!   exists.
//! - `mtd`: Magnetic Tile Defects (`ROOT/MT_<class>/Imgs/<name>.jpg` + `<name>.png` masks), one
//!   product named `mtd`, with the standard split: sorted `MT_Free` names, index % 5 == 0 test.
//! - `visa`: VisA as published (amazon-science/spot-diff):
//!   `ROOT/<product>/Data/Images/{Normal,Anomaly}/*.JPG`, masks in
//!   `ROOT/<product>/Data/Masks/Anomaly/*.png`, split by
//!   `ROOT/split_csv/1cls.csv` (`object,split,label,image,mask`, paths relative to `ROOT`).
//!   Products are the CSV's objects; masks hold class indices, so any nonzero pixel is a defect.
//! - `mvtec3d`: MVTec 3D-AD, RGB only: `ROOT/<product>/train/good/rgb/*`,
//!   `ROOT/<product>/test/<type>/rgb/*`, masks in `ROOT/<product>/test/<type>/gt/<stem>.png`.
//!   `validation/` and the `xyz/` point clouds are not used.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// How a dataset directory is organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Mvtec,
    Folder,
    Mtd,
    Visa,
    Mvtec3d,
}

/// One test image with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct TestImage {
    pub path: PathBuf,
    /// `good` or the defect type.
    pub kind: String,
    /// Pixel mask for defect images (nonzero = defect), if the dataset has one.
    pub mask: Option<PathBuf>,
    /// A mask pixel is a defect when its value is > mask_cutoff (127 for 0/255 and soft masks, 0
    /// for VisA's class-index masks).
    pub mask_cutoff: u8,
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
        Layout::Visa => {
            let (_, rows) = read_visa_csv(root)?;
            let names: BTreeSet<String> = rows.into_iter().map(|r| r.object).collect();
            Ok(names.into_iter().collect())
        }
        Layout::Mvtec3d => Ok(subdirs(root)?
            .into_iter()
            .filter(|name| root.join(name).join("train").is_dir())
            .collect()),
    }
}

/// Loads one product's file lists.
pub fn load_product(root: &Path, layout: Layout, name: &str) -> Result<Product> {
    let product = match layout {
        Layout::Mvtec => load_mvtec(&root.join(name), name)?,
        Layout::Folder => load_folder(&root.join(name), name)?,
        Layout::Mtd => load_mtd(root)?,
        Layout::Visa => load_visa(root, name)?,
        Layout::Mvtec3d => load_mvtec3d(&root.join(name), name)?,
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
                    mask_cutoff: 127,
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
                mask_cutoff: 127,
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
                mask_cutoff: 127,
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
                mask_cutoff: 127,
            });
        }
    }
    Ok(Product {
        name: "mtd".into(),
        train,
        test,
    })
}

/// VisA's split file, relative to the dataset root.
pub const VISA_SPLIT_CSV: &str = "split_csv/1cls.csv";

/// One data row of VisA's split CSV.
#[derive(Debug)]
struct VisaRow {
    /// 1-based line number in the CSV (the header is line 1).
    line: usize,
    object: String,
    split: String,
    label: String,
    image: String,
    mask: String,
}

/// Reads `root/split_csv/1cls.csv`: returns its path and its data rows.
fn read_visa_csv(root: &Path) -> Result<(PathBuf, Vec<VisaRow>)> {
    let path = root.join(VISA_SPLIT_CSV);
    if !path.is_file() {
        return Err(Error::Invalid(format!(
            "{}: VisA split CSV not found (expected `{VISA_SPLIT_CSV}` under the dataset root)",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let raw = if line == 1 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        if raw.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = raw.split(',').map(str::trim).collect();
        if fields.len() != 5 {
            return Err(Error::Invalid(format!(
                "{}:{line}: expected 5 fields (object,split,label,image,mask), found {}",
                path.display(),
                fields.len()
            )));
        }
        if !header_seen {
            header_seen = true;
            if fields != ["object", "split", "label", "image", "mask"] {
                return Err(Error::Invalid(format!(
                    "{}:{line}: expected header `object,split,label,image,mask`, found `{}`",
                    path.display(),
                    raw.trim()
                )));
            }
            continue;
        }
        if !matches!(fields[1], "train" | "test") {
            return Err(Error::Invalid(format!(
                "{}:{line}: split `{}` is neither `train` nor `test`",
                path.display(),
                fields[1]
            )));
        }
        if !matches!(fields[2], "normal" | "anomaly") {
            return Err(Error::Invalid(format!(
                "{}:{line}: label `{}` is neither `normal` nor `anomaly`",
                path.display(),
                fields[2]
            )));
        }
        if fields[0].is_empty() || fields[3].is_empty() {
            return Err(Error::Invalid(format!(
                "{}:{line}: empty object or image field",
                path.display()
            )));
        }
        rows.push(VisaRow {
            line,
            object: fields[0].into(),
            split: fields[1].into(),
            label: fields[2].into(),
            image: fields[3].into(),
            mask: fields[4].into(),
        });
    }
    Ok((path, rows))
}

fn load_visa(root: &Path, name: &str) -> Result<Product> {
    let (csv, rows) = read_visa_csv(root)?;
    let mut train = Vec::new();
    let mut test = Vec::new();
    let mut missing = Vec::new();
    let mut found = false;
    for row in rows.into_iter().filter(|r| r.object == name) {
        found = true;
        let anomalous = row.label == "anomaly";
        let path = root.join(&row.image);
        if !path.is_file() {
            missing.push(path.clone());
        }
        let mask = if anomalous && !row.mask.is_empty() {
            let m = root.join(&row.mask);
            if !m.is_file() {
                missing.push(m.clone());
            }
            Some(m)
        } else {
            None
        };
        if row.split == "train" {
            if anomalous {
                return Err(Error::Invalid(format!(
                    "{}:{}: train row labelled `anomaly` ({}); VisA trains on normal images only",
                    csv.display(),
                    row.line,
                    row.image
                )));
            }
            train.push(path);
        } else {
            test.push(TestImage {
                path,
                kind: if anomalous { "anomaly" } else { "good" }.into(),
                mask,
                mask_cutoff: 0,
            });
        }
    }
    if !found {
        return Err(Error::Invalid(format!(
            "{}: no rows for product `{name}`",
            csv.display()
        )));
    }
    if !missing.is_empty() {
        let shown: Vec<String> = missing
            .iter()
            .take(10)
            .map(|p| p.display().to_string())
            .collect();
        let more = if missing.len() > shown.len() {
            format!(" (and {} more)", missing.len() - shown.len())
        } else {
            String::new()
        };
        return Err(Error::Invalid(format!(
            "{}: {} file(s) named for product `{name}` are missing: {}{more}",
            csv.display(),
            missing.len(),
            shown.join(", ")
        )));
    }
    Ok(Product {
        name: name.into(),
        train,
        test,
    })
}

fn load_mvtec3d(dir: &Path, name: &str) -> Result<Product> {
    let train = images_in(&dir.join("train").join("good").join("rgb"))?;
    let mut test = Vec::new();
    let test_dir = dir.join("test");
    if test_dir.is_dir() {
        for kind in subdirs(&test_dir)? {
            let kind_dir = test_dir.join(&kind);
            for path in images_in(&kind_dir.join("rgb"))? {
                let mask = if kind == "good" {
                    None
                } else {
                    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                    let m = kind_dir.join("gt").join(format!("{stem}.png"));
                    m.is_file().then_some(m)
                };
                test.push(TestImage {
                    path,
                    kind: kind.clone(),
                    mask,
                    mask_cutoff: 127,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "adapts-dataset-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }

        /// Writes a tiny image at `rel` (format from the extension).
        fn image(&self, rel: &str) -> PathBuf {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            image::RgbImage::new(4, 4).save(&path).unwrap();
            path
        }

        fn mask(&self, rel: &str) -> PathBuf {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            image::GrayImage::new(4, 4).save(&path).unwrap();
            path
        }

        fn text(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const VISA_CSV: &str = "object,split,label,image,mask
candle,train,normal,candle/Data/Images/Normal/0000.JPG,
candle,train,normal,candle/Data/Images/Normal/0001.JPG,
candle,test,normal,candle/Data/Images/Normal/0002.JPG,
candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png
candle,test,anomaly,candle/Data/Images/Anomaly/001.JPG,
capsules,train,normal,capsules/Data/Images/Normal/0000.JPG,
capsules,test,anomaly,capsules/Data/Images/Anomaly/000.JPG,capsules/Data/Masks/Anomaly/000.png
";

    fn visa_tree(csv: &str) -> Scratch {
        let s = Scratch::new("visa");
        for n in ["0000", "0001", "0002"] {
            s.image(&format!("candle/Data/Images/Normal/{n}.JPG"));
        }
        s.image("candle/Data/Images/Anomaly/000.JPG");
        s.image("candle/Data/Images/Anomaly/001.JPG");
        s.mask("candle/Data/Masks/Anomaly/000.png");
        s.image("capsules/Data/Images/Normal/0000.JPG");
        s.image("capsules/Data/Images/Anomaly/000.JPG");
        s.mask("capsules/Data/Masks/Anomaly/000.png");
        s.text(VISA_SPLIT_CSV, csv);
        s
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn visa_products_come_from_csv() {
        let s = visa_tree(VISA_CSV);
        // A directory not named in the CSV is not a product.
        std::fs::create_dir_all(s.path().join("zzz_extra")).unwrap();
        assert_eq!(
            products(s.path(), Layout::Visa).unwrap(),
            vec!["candle".to_string(), "capsules".to_string()]
        );
    }

    #[test]
    fn visa_loads_split_kinds_masks_and_cutoff() {
        let s = visa_tree(VISA_CSV);
        let root = s.path();
        let p = load_product(root, Layout::Visa, "candle").unwrap();
        assert_eq!(p.name, "candle");
        assert_eq!(
            p.train,
            vec![
                root.join("candle/Data/Images/Normal/0000.JPG"),
                root.join("candle/Data/Images/Normal/0001.JPG"),
            ]
        );
        assert_eq!(p.test.len(), 3);
        let kinds: Vec<&str> = p.test.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(kinds, ["good", "anomaly", "anomaly"]);
        assert_eq!(
            p.test[0].path,
            root.join("candle/Data/Images/Normal/0002.JPG")
        );
        assert_eq!(p.test[0].mask, None);
        assert!(!p.test[0].is_anomalous());
        assert_eq!(
            p.test[1].mask,
            Some(root.join("candle/Data/Masks/Anomaly/000.png"))
        );
        assert!(p.test[1].is_anomalous());
        // An anomaly row with an empty mask column has no mask.
        assert_eq!(p.test[2].mask, None);
        assert!(p.test.iter().all(|t| t.mask_cutoff == 0));

        let c = load_product(root, Layout::Visa, "capsules").unwrap();
        assert_eq!(c.train.len(), 1);
        assert_eq!(c.test.len(), 1);
        assert_eq!(c.test[0].kind, "anomaly");
    }

    #[test]
    fn visa_handles_crlf() {
        let s = visa_tree(&VISA_CSV.replace('\n', "\r\n"));
        assert_eq!(
            products(s.path(), Layout::Visa).unwrap(),
            ["candle", "capsules"]
        );
        let p = load_product(s.path(), Layout::Visa, "candle").unwrap();
        assert_eq!(p.train.len(), 2);
        assert_eq!(p.test.len(), 3);
        assert_eq!(
            p.test[1].mask,
            Some(s.path().join("candle/Data/Masks/Anomaly/000.png"))
        );
        assert!(p.test[1]
            .mask
            .as_ref()
            .unwrap()
            .to_string_lossy()
            .ends_with("000.png"));
    }

    #[test]
    fn visa_bad_field_count_names_path_and_line() {
        let csv = VISA_CSV.replace(
            "candle,test,normal,candle/Data/Images/Normal/0002.JPG,\n",
            "candle,test,normal\n",
        );
        let s = visa_tree(&csv);
        let msg = err_text(load_product(s.path(), Layout::Visa, "candle"));
        assert!(msg.contains("1cls.csv:4:"), "{msg}");
        assert!(
            msg.contains(&s.path().join(VISA_SPLIT_CSV).display().to_string()),
            "{msg}"
        );
    }

    #[test]
    fn visa_missing_csv_names_expected_path() {
        let s = Scratch::new("visa-nocsv");
        s.image("candle/Data/Images/Normal/0000.JPG");
        let msg = err_text(products(s.path(), Layout::Visa));
        assert!(msg.contains("split_csv/1cls.csv"), "{msg}");
        let msg = err_text(load_product(s.path(), Layout::Visa, "candle"));
        assert!(msg.contains("split_csv/1cls.csv"), "{msg}");
    }

    #[test]
    fn visa_missing_image_is_named() {
        let s = visa_tree(VISA_CSV);
        std::fs::remove_file(s.path().join("candle/Data/Images/Anomaly/001.JPG")).unwrap();
        let msg = err_text(load_product(s.path(), Layout::Visa, "candle"));
        assert!(msg.contains("candle/Data/Images/Anomaly/001.JPG"), "{msg}");
        // Other products are unaffected.
        assert!(load_product(s.path(), Layout::Visa, "capsules").is_ok());
    }

    #[test]
    fn visa_anomalous_train_row_is_an_error() {
        let csv = VISA_CSV.replace(
            "candle,train,normal,candle/Data/Images/Normal/0001.JPG,",
            "candle,train,anomaly,candle/Data/Images/Normal/0001.JPG,",
        );
        let s = visa_tree(&csv);
        let msg = err_text(load_product(s.path(), Layout::Visa, "candle"));
        assert!(msg.contains("1cls.csv:3:"), "{msg}");
    }

    #[test]
    fn visa_unknown_product_is_an_error() {
        let s = visa_tree(VISA_CSV);
        let msg = err_text(load_product(s.path(), Layout::Visa, "pcb1"));
        assert!(msg.contains("pcb1"), "{msg}");
    }

    fn mvtec3d_tree() -> Scratch {
        let s = Scratch::new("mvtec3d");
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

    #[test]
    fn mvtec_sets_mask_cutoff_127() {
        let s = Scratch::new("mvtec");
        s.image("screw/train/good/000.png");
        s.image("screw/test/good/000.png");
        s.image("screw/test/scratch/000.png");
        s.mask("screw/ground_truth/scratch/000_mask.png");
        let p = load_product(s.path(), Layout::Mvtec, "screw").unwrap();
        assert_eq!(p.test.len(), 2);
        assert!(p.test.iter().all(|t| t.mask_cutoff == 127));
        let scratch = p.test.iter().find(|t| t.kind == "scratch").unwrap();
        assert_eq!(
            scratch.mask,
            Some(s.path().join("screw/ground_truth/scratch/000_mask.png"))
        );
    }
}
