//! `calibrate` end to end: INT8 twins and TensorRT caches beside the FP32 graphs (which stay
//! byte-identical), the runtime in either precision, a second run refused, and an appended
//! product calibrated alone.

mod common;

use std::path::Path;

use adapts_calibration::{CalibrationAlgorithm, CalibrationCache};
use adapts_runtime::bundle::{Bundle, GraphPrecision};
use adapts_runtime::pipeline::{Pipeline, Verdict};
use adapts_runtime::preprocess::load_rgb;
use adapts_runtime::{OrtSession, SessionConfig};
use common::{builder, calibrate, files, ok, one_product_bundle, synth, train_args};

/// Judges `product`'s test images in `precision`; every verdict must be a real one.
fn judge_all(bundle: &Path, data: &Path, product: &str, precision: GraphPrecision) -> Vec<f32> {
    let bundle = Bundle::open(bundle).unwrap();
    let mut pipeline =
        Pipeline::from_bundle_at(&bundle, &SessionConfig::default(), precision).unwrap();
    let mut scores = Vec::new();
    for kind in std::fs::read_dir(data.join(product).join("test")).unwrap() {
        for img in std::fs::read_dir(kind.unwrap().path()).unwrap() {
            let r = pipeline.infer(&load_rgb(&img.unwrap().path()).unwrap(), Some(product));
            let judged = r.verdict == Verdict::Pass
                || r.reason.as_ref().is_some_and(|x| x.code() == "anomaly");
            assert!(judged, "{:?}", r.reason);
            scores.push(r.score);
        }
    }
    scores
}

#[test]
fn calibrate_adds_int8_twins_and_appending_calibrates_only_the_new_product() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, bundle) = (tmp.path().join("data"), tmp.path().join("bundle"));
    synth(&data, 2, 8, 2);
    let mut products: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    products.sort();
    ok(builder()
        .args(train_args(&data, &bundle, &products[0], false))
        .output()
        .unwrap());
    let fp32 = files(&bundle);

    let json = tmp.path().join("calibrate.json");
    ok(calibrate(
        &bundle,
        &data,
        &["--trunk", "--json", &json.to_string_lossy()],
    ));
    let after = files(&bundle);
    for (path, bytes) in &fp32 {
        if path != "manifest.postcard" {
            assert_eq!(&after[path], bytes, "{path} changed");
        }
    }
    let map = format!("products/{}/map", products[0]);
    for added in [
        "trunk.int8.onnx".to_string(),
        format!("{map}.int8.onnx"),
        "calibration/trunk.cache".to_string(),
        format!("calibration/{map}.cache"),
    ] {
        assert!(after.contains_key(&added), "{added} missing");
    }
    let cache = CalibrationCache::read(&bundle.join("calibration/trunk.cache")).unwrap();
    assert_eq!(cache.algorithm(), CalibrationAlgorithm::MinMax);
    assert_eq!(cache.tensorrt_version(), 8502);
    assert!(cache.scale("image").is_some_and(|s| s > 0.0));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(summary["graphs"].as_array().unwrap().len(), 2);
    assert_eq!(summary["products"][0]["name"], products[0].as_str());
    assert!(
        after["trunk.int8.onnx"].len() * 2 < fp32["trunk.onnx"].len(),
        "INT8 trunk {} bytes against {}",
        after["trunk.int8.onnx"].len(),
        fp32["trunk.onnx"].len()
    );

    // The FP32 map stores INT8 weights, which ONNX Runtime dequantizes once, when the session
    // is built; the Q/DQ twins and the float trunk keep their graphs as they are.
    for (file, folded) in [
        (format!("{map}.onnx"), true),
        (format!("{map}.int8.onnx"), false),
        ("trunk.onnx".into(), false),
        ("trunk.int8.onnx".into(), false),
    ] {
        let session = OrtSession::load(&bundle.join(&file), &SessionConfig::default()).unwrap();
        assert_eq!(session.folded_weights(), folded, "{file}");
    }

    // Both precisions run; they score differently (different graphs), never by error.
    let int8 = judge_all(&bundle, &data, &products[0], GraphPrecision::Int8);
    let fp = judge_all(&bundle, &data, &products[0], GraphPrecision::Fp32);
    assert_eq!(int8.len(), fp.len());
    assert_ne!(int8, fp);
    let info = ok(builder()
        .args(["info", "--bundle", &bundle.to_string_lossy()])
        .output()
        .unwrap());
    assert!(
        info.contains("INT8 twins") && info.contains("with the INT8 twins"),
        "{info}"
    );

    // Everything is calibrated now.
    let again = calibrate(&bundle, &data, &["--trunk"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already calibrated"));

    // An appended product gets its own twin; every earlier file stays as it was.
    ok(builder()
        .args(train_args(&data, &bundle, &products[1], true))
        .output()
        .unwrap());
    let before = files(&bundle);
    ok(calibrate(&bundle, &data, &[]));
    let after = files(&bundle);
    for (path, bytes) in &before {
        if path != "manifest.postcard" {
            assert_eq!(&after[path], bytes, "{path} changed");
        }
    }
    let new_twin = format!("products/{}/map.int8.onnx", products[1]);
    assert!(after.contains_key(&new_twin), "{new_twin} missing");
    assert_eq!(after.len(), before.len() + 2, "the twin and its cache only");
    judge_all(&bundle, &data, &products[1], GraphPrecision::Int8);
}

#[test]
fn int8_precision_without_twins_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, bundle) = (tmp.path().join("data"), tmp.path().join("bundle"));
    one_product_bundle(&data, &bundle);
    let opened = Bundle::open(&bundle).unwrap();
    let err = Pipeline::from_bundle_at(&opened, &SessionConfig::default(), GraphPrecision::Int8)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no INT8 graphs") && err.contains("adapts-builder calibrate"),
        "{err}"
    );
}
