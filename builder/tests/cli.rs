//! The `adapts-builder` command line: export, backbone check, evaluation settings, the paper
//! run, and its error messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use adapts_builder::export::onnx::{self, proto::dimension::Value as Dim};

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

#[test]
fn export_trunk_writes_named_stage_outputs_and_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lite0-stride16.onnx");
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
    let tmp = tempfile::tempdir().unwrap();
    let o = builder(&[
        "export-trunk",
        "--trunk",
        "effnet-lite0",
        "--weights",
        &weights(),
        "--cut",
        "layer9",
        "--out",
        tmp.path().join("never.onnx").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("layer9") && err.contains("stride16"), "{err}");
    assert!(!tmp.path().join("never.onnx").exists());
}

#[test]
fn wrong_architecture_for_weights_names_a_key() {
    let tmp = tempfile::tempdir().unwrap();
    let o = builder(&[
        "export-trunk",
        "--trunk",
        "wrn50-2",
        "--weights",
        &weights(),
        "--cut",
        "layer2",
        "--out",
        tmp.path().join("wrong.onnx").to_str().unwrap(),
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

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// synth -> train (two products, 64 px, one epoch) -> eval in each setting -> paper.
#[test]
fn eval_settings_and_the_paper_run_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("eval-data");
    let data_s = data.to_string_lossy().into_owned();
    ok(&builder(&[
        "synth",
        "--out",
        &data_s,
        "--products",
        "2",
        "--train",
        "8",
        "--test-good",
        "2",
        "--test-defect",
        "3",
        "--size",
        "64",
    ]));
    let bundle = tmp.path().join("eval-bundle");
    let bundle_s = bundle.to_string_lossy().into_owned();
    let w = weights();
    ok(&builder(&[
        "train",
        "--data",
        &data_s,
        "--weights",
        &w,
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--image-size",
        "64",
        "--out",
        &bundle_s,
    ]));

    let json = tmp.path().join("continual.json");
    let csv = tmp.path().join("scores.csv");
    let maps = tmp.path().join("maps");
    let stdout = ok(&builder(&[
        "eval",
        "--bundle",
        &bundle_s,
        "--data",
        &data_s,
        "--setting",
        "continual",
        "--json",
        json.to_str().unwrap(),
        "--dump-scores",
        csv.to_str().unwrap(),
        "--heatmaps",
        maps.to_str().unwrap(),
        "--heatmap-count",
        "2",
    ]));
    for needle in ["I-ROC", "AUPRO", "step 2", "forgetting", "GFLOPs per image"] {
        assert!(stdout.contains(needle), "stdout lacks {needle}:\n{stdout}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["products"], serde_json::json!(["fabric", "washer"]));
    assert_eq!(report["image_auroc"]["rows"].as_array().unwrap().len(), 2);
    assert!(
        report["steps"][1]["cost"]["inference_gflops"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // Header + 2 products x 5 test images, from the last step.
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 11);
    // Heatmaps come from the last step: two per product.
    assert_eq!(std::fs::read_dir(maps.join("washer")).unwrap().count(), 2);

    for (setting, routing) in [("single", "off"), ("multi", "on")] {
        let json = tmp.path().join(format!("{setting}.json"));
        ok(&builder(&[
            "eval",
            "--bundle",
            &bundle_s,
            "--data",
            &data_s,
            "--setting",
            setting,
            "--json",
            json.to_str().unwrap(),
        ]));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(r["setting"], setting);
        assert_eq!(r["routing"], routing);
        assert_eq!(r["products"].as_array().unwrap().len(), 2);
    }

    let bad = builder(&[
        "eval",
        "--bundle",
        &bundle_s,
        "--data",
        &data_s,
        "--max-fpr",
        "0",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--max-fpr"));

    let out = tmp.path().join("paper");
    let out_s = out.to_string_lossy().into_owned();
    let stdout = ok(&builder(&[
        "paper",
        "--data",
        &data_s,
        "--trunk",
        "effnet-lite0",
        "--weights",
        &w,
        "--presets",
        "s",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--image-size",
        "64",
        "--heatmaps",
        "1",
        "--out",
        &out_s,
    ]));
    assert!(stdout.contains("| S | continual |"), "{stdout}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("shared graphs unchanged"), "{summary}");
}
