//! The `adapts-builder` command line: export, backbone check, and its error messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use adapts_builder::onnx::{self, proto::dimension::Value as Dim};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn builder(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adapts-builder"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run adapts-builder")
}

fn weights() -> String {
    let path = repo("weights/efficientnet-lite0.pth");
    assert!(
        path.exists(),
        "{} not found: run scripts/setup.sh",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adapts-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn export_trunk_writes_named_stage_outputs_and_metadata() {
    let out = temp("lite0-stride16.onnx");
    let o = builder(&[
        "export-trunk",
        "--trunk",
        "effnet-lite0",
        "--weights",
        &weights(),
        "--cut",
        "stride16",
        "--size",
        "256",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let model = onnx::decode(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(model.opset_import[0].version, onnx::OPSET);
    let graph = model.graph.unwrap();
    let outputs: Vec<&str> = graph.output.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(outputs, ["stride4", "stride8", "stride16", "pooled"]);
    let dims: Vec<Dim> = graph.input[0]
        .r#type
        .clone()
        .unwrap()
        .tensor_type
        .unwrap()
        .shape
        .unwrap()
        .dim
        .into_iter()
        .map(|d| d.value.unwrap())
        .collect();
    assert_eq!(
        dims,
        [
            Dim::DimParam("batch".into()),
            Dim::DimValue(3),
            Dim::DimValue(256),
            Dim::DimValue(256)
        ]
    );
    // Nothing past the cut: the last tap is block 10, the head is absent.
    assert!(graph
        .initializer
        .iter()
        .any(|t| t.name == "_blocks.10._project_conv.weight"));
    assert!(!graph
        .initializer
        .iter()
        .any(|t| t.name.starts_with("_blocks.11.") || t.name.starts_with("_conv_head")));
    let meta = |k: &str| {
        model
            .metadata_props
            .iter()
            .find(|p| p.key == k)
            .map(|p| p.value.clone())
    };
    assert_eq!(meta("trunk").as_deref(), Some("effnet-lite0"));
    assert_eq!(meta("normalization").as_deref(), Some("\"tf\""));
    assert_eq!(
        meta("weights_sha256").as_deref(),
        Some("579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db")
    );
}

#[test]
fn unknown_stage_names_the_stage_and_the_choices() {
    let o = builder(&[
        "export-trunk",
        "--trunk",
        "effnet-lite0",
        "--weights",
        &weights(),
        "--cut",
        "layer9",
        "--out",
        temp("never.onnx").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("layer9") && err.contains("stride16"), "{err}");
    assert!(!temp("never.onnx").exists());
}

#[test]
fn wrong_architecture_for_weights_names_a_key() {
    let o = builder(&[
        "export-trunk",
        "--trunk",
        "wrn50-2",
        "--weights",
        &weights(),
        "--cut",
        "layer2",
        "--out",
        temp("wrong.onnx").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("efficientnet-lite0.pth") && err.contains("key `"),
        "{err}"
    );
}

#[test]
fn missing_weights_file_is_named() {
    let o = builder(&[
        "backbone",
        "check",
        "--trunk",
        "effnet-lite0",
        "--weights",
        "/nonexistent/w.pth",
        "--image",
        repo("tests/data/cat.jpg").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/w.pth"));
}

#[test]
fn backbone_check_json_reports_top5_and_weights_hash() {
    let o = builder(&[
        "backbone",
        "check",
        "--trunk",
        "effnet-lite0",
        "--weights",
        &weights(),
        "--image",
        repo("tests/data/coffee.jpg").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let top5 = v["top5"].as_array().unwrap();
    assert_eq!(top5.len(), 5);
    let probs: Vec<f64> = top5
        .iter()
        .map(|p| p["probability"].as_f64().unwrap())
        .collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "sorted: {probs:?}");
    assert_eq!(v["weights_format"], "torch-legacy");
    assert_eq!(v["trunk"], "effnet-lite0");
}
