//! VisA as published (amazon-science/spot-diff):
//!
//! ```text
//! ROOT/<product>/Data/Images/{Normal,Anomaly}/*.JPG
//! ROOT/<product>/Data/Masks/Anomaly/*.png
//! ROOT/split_csv/1cls.csv                 object,split,label,image,mask (paths relative to ROOT)
//! ```
//!
//! Products are the CSV's objects. Masks hold class indices, so any nonzero pixel is a defect
//! (cutoff 0). A malformed CSV line is an error naming the file and the line; files the CSV
//! names but the disk lacks are listed in one error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{ProductData, TestImage, GOOD};
use crate::error::{Error, PathContext, Result};

/// VisA's split file, relative to the dataset root.
pub const SPLIT_CSV: &str = "split_csv/1cls.csv";

/// The header the split file must start with.
const HEADER: [&str; 5] = ["object", "split", "label", "image", "mask"];

/// One data row of the split CSV.
#[derive(Debug)]
struct Row {
    /// 1-based line number in the CSV (the header is line 1).
    line: usize,
    object: String,
    split: String,
    label: String,
    image: String,
    mask: String,
}

/// The products the split file names, sorted.
pub fn products(root: &Path) -> Result<Vec<String>> {
    let (_, rows) = read_split(root)?;
    let names: BTreeSet<String> = rows.into_iter().map(|r| r.object).collect();
    Ok(names.into_iter().collect())
}

/// Reads `root/split_csv/1cls.csv`: its path and its data rows.
fn read_split(root: &Path) -> Result<(PathBuf, Vec<Row>)> {
    let path = root.join(SPLIT_CSV);
    if !path.is_file() {
        return Err(Error::Dataset(format!(
            "VisA split CSV not found (expected `{SPLIT_CSV}` under the dataset root)"
        ))
        .with_path(path));
    }
    let text = std::fs::read_to_string(&path).with_path(&path)?;
    let rows = parse_split(&text).with_path(&path)?;
    Ok((path, rows))
}

/// Parses the split file's text (header checked, CRLF and a BOM accepted, blank lines
/// skipped).
fn parse_split(text: &str) -> Result<Vec<Row>> {
    let bad = |line: usize, message: String| Error::Dataset(format!("line {line}: {message}"));
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
        if fields.len() != HEADER.len() {
            return Err(bad(
                line,
                format!(
                    "expected 5 fields ({}), found {}",
                    HEADER.join(","),
                    fields.len()
                ),
            ));
        }
        if !header_seen {
            header_seen = true;
            if fields != HEADER {
                return Err(bad(
                    line,
                    format!(
                        "expected header `{}`, found `{}`",
                        HEADER.join(","),
                        raw.trim()
                    ),
                ));
            }
            continue;
        }
        if !matches!(fields[1], "train" | "test") {
            return Err(bad(
                line,
                format!("split `{}` is neither `train` nor `test`", fields[1]),
            ));
        }
        if !matches!(fields[2], "normal" | "anomaly") {
            return Err(bad(
                line,
                format!("label `{}` is neither `normal` nor `anomaly`", fields[2]),
            ));
        }
        if fields[0].is_empty() || fields[3].is_empty() {
            return Err(bad(line, "empty object or image field".into()));
        }
        rows.push(Row {
            line,
            object: fields[0].into(),
            split: fields[1].into(),
            label: fields[2].into(),
            image: fields[3].into(),
            mask: fields[4].into(),
        });
    }
    Ok(rows)
}

/// Lists product `name` by the split file.
pub fn load(root: &Path, name: &str) -> Result<ProductData> {
    let (csv, rows) = read_split(root)?;
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
                return Err(Error::Dataset(format!(
                    "line {}: train row labelled `anomaly` ({}); VisA trains on normal images only",
                    row.line, row.image
                ))
                .with_path(csv));
            }
            train.push(path);
        } else {
            // Class-index masks: any nonzero pixel is a defect.
            test.push(TestImage {
                mask_cutoff: 0,
                ..TestImage::new(path, if anomalous { "anomaly" } else { GOOD }, mask)
            });
        }
    }
    if !found {
        return Err(Error::Dataset(format!("no rows for product `{name}`")).with_path(csv));
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
        return Err(Error::Dataset(format!(
            "{} file(s) named for product `{name}` are missing: {}{more}",
            missing.len(),
            shown.join(", ")
        ))
        .with_path(csv));
    }
    Ok(ProductData {
        name: name.into(),
        train,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::super::scratch::Scratch;
    use super::super::{load_product, products, Layout};
    use super::*;

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
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
        let s = Scratch::new();
        for n in ["0000", "0001", "0002"] {
            s.image(&format!("candle/Data/Images/Normal/{n}.JPG"));
        }
        s.image("candle/Data/Images/Anomaly/000.JPG");
        s.image("candle/Data/Images/Anomaly/001.JPG");
        s.mask("candle/Data/Masks/Anomaly/000.png");
        s.image("capsules/Data/Images/Normal/0000.JPG");
        s.image("capsules/Data/Images/Anomaly/000.JPG");
        s.mask("capsules/Data/Masks/Anomaly/000.png");
        s.text(SPLIT_CSV, csv);
        s
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
        assert!(msg.contains("1cls.csv: line 4:"), "{msg}");
        assert!(
            msg.contains(&s.path().join(SPLIT_CSV).display().to_string()),
            "{msg}"
        );
    }

    #[test]
    fn visa_missing_csv_names_expected_path() {
        let s = Scratch::new();
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
        assert!(msg.contains("1cls.csv: line 3:"), "{msg}");
    }

    #[test]
    fn visa_unknown_product_is_an_error() {
        let s = visa_tree(VISA_CSV);
        let msg = err_text(load_product(s.path(), Layout::Visa, "pcb1"));
        assert!(msg.contains("pcb1"), "{msg}");
    }
}
