//! What the builder's command-line tests share: the binary, a quick `train` on the pretrained
//! Lite0 at 64 px for one epoch, and a small synthetic dataset.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A path in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// `adapts-builder` with warnings-only logging.
pub fn builder() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_adapts-builder"));
    c.env("RUST_LOG", "warn");
    c
}

/// Stdout and stderr of a run that must succeed (else it panics with stderr).
pub fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

/// Stderr of a run that must fail (else it panics with its output).
pub fn refused(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "succeeded: {stderr}");
    stderr
}

/// `calibrate` on `bundle` with 4 images per product and 1 refit epoch, plus `extra`.
pub fn calibrate(bundle: &Path, data: &Path, extra: &[&str]) -> Output {
    builder()
        .args(["calibrate", "--bundle", &bundle.to_string_lossy()])
        .args(["--data", &data.to_string_lossy()])
        .args(["--images", "4", "--epochs", "1"])
        .args(extra)
        .output()
        .unwrap()
}

/// `train` arguments: one product, one epoch at 64 px, pretrained Lite0.
pub fn train_args(data: &Path, out: &Path, category: &str, append: bool) -> Vec<String> {
    let weights = repo("weights/efficientnet-lite0.pth");
    assert!(
        weights.exists(),
        "{} not found: run scripts/setup.sh",
        weights.display()
    );
    let mut args: Vec<String> = [
        "train",
        "--data",
        &data.to_string_lossy(),
        "--categories",
        category,
        "--weights",
        &weights.to_string_lossy(),
        "--epochs",
        "1",
        "--image-size",
        "64",
        "--out",
        &out.to_string_lossy(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if append {
        args.push("--append".into());
    }
    args
}

/// A synthetic dataset of `products` products at 64 px under `out`.
pub fn synth(out: &Path, products: usize, train: usize, test_good: usize) {
    ok(builder()
        .args(["synth", "--out", &out.to_string_lossy()])
        .args(["--products", &products.to_string()])
        .args(["--train", &train.to_string()])
        .args(["--test-good", &test_good.to_string()])
        .args(["--test-defect", "1", "--size", "64"])
        .output()
        .unwrap());
}

/// The product folders of a dataset, sorted.
pub fn product_names(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A synthetic dataset of one product under `data`, trained into a new bundle at `bundle`;
/// returns the product's name.
pub fn one_product_bundle(data: &Path, bundle: &Path) -> String {
    synth(data, 1, 6, 1);
    let product = product_names(data).remove(0);
    ok(builder()
        .args(train_args(data, bundle, &product, false))
        .output()
        .unwrap());
    product
}

/// Every file of a bundle directory (temp leftovers included), path -> bytes.
pub fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
