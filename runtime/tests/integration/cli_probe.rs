//! The `adapts-runtime probe` command as a user runs it: output and exit codes.

use std::process::Command;

use crate::fixture::model_path;

fn probe() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_adapts-runtime"));
    cmd.arg("probe");
    cmd
}

#[test]
fn json_report_lists_library_and_tensors() -> anyhow::Result<()> {
    let out = probe()
        .arg("--model")
        .arg(model_path())
        .arg("--json")
        .output()?;
    assert!(
        out.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert!(report["ort_version"]
        .as_str()
        .is_some_and(|v| v.starts_with("1.")));
    assert!(report["ort_library"]
        .as_str()
        .is_some_and(|p| !p.is_empty()));
    assert_eq!(report["inputs"][0]["name"], "x");
    assert_eq!(report["inputs"][0]["shape"], serde_json::json!([null, 4]));
    assert_eq!(report["outputs"][0]["name"], "y");
    assert_eq!(report["outputs"][1]["name"], "pre_activation");
    Ok(())
}

#[test]
fn text_report_shows_dynamic_dims() -> anyhow::Result<()> {
    let out = probe().arg("--model").arg(model_path()).output()?;
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout)?;
    assert!(text.contains("ONNX Runtime 1."), "{text}");
    assert!(text.contains("[?, 4]"), "{text}");
    Ok(())
}

#[test]
fn missing_model_exits_with_2_and_names_it() -> anyhow::Result<()> {
    let out = probe().args(["--model", "does/not/exist.onnx"]).output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr)?;
    assert!(stderr.contains("does/not/exist.onnx"), "{stderr}");
    Ok(())
}

#[test]
fn missing_library_exits_with_2_and_names_the_variable() -> anyhow::Result<()> {
    let out = probe()
        .arg("--model")
        .arg(model_path())
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr)?;
    assert!(
        stderr.contains("ORT_DYLIB_PATH") && stderr.contains("/nonexistent/libonnxruntime.so"),
        "{stderr}"
    );
    Ok(())
}
