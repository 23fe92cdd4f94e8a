//! `train --routing-stage`: a deeper stage's pooled output routes instead of the taps', the
//! bundle keeps that stage for routing alone, and appending must keep the same choice.

mod common;

use adapts_runtime::bundle::{Bundle, Manifest};
use common::{builder, calibrate, ok, product_names, refused, synth, train_args};

fn manifest(bundle: &std::path::Path) -> Manifest {
    Bundle::open(bundle).unwrap().manifest().clone()
}

#[test]
fn a_deeper_routing_stage_is_kept_routed_by_and_held_on_append() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 2, 6, 1);
    let names = product_names(&data);
    let bundle = tmp.path().join("bundle");
    let deep = ["--routing-stage", "stride32"];

    ok(builder()
        .args(train_args(&data, &bundle, &names[0], false))
        .args(deep)
        .output()
        .unwrap());
    let m = manifest(&bundle);
    assert_eq!(m.routing_stage, "stride32");
    // Lite0's stride-32 stage has 320 channels: the prototypes are that long.
    assert_eq!(m.routing_dim, 320);
    let last = m
        .later_stages
        .last()
        .expect("the routing stage is a later stage");
    assert_eq!((last.name.as_str(), last.adapted), ("stride32", false));
    assert_eq!(m.products[0].prototype.len(), 320);

    // Appending without the flag would route the new product by other vectors: refused.
    let err = refused(
        builder()
            .args(train_args(&data, &bundle, &names[1], true))
            .output()
            .unwrap(),
    );
    assert!(err.contains("routes by `stride32`"), "{err}");

    ok(builder()
        .args(train_args(&data, &bundle, &names[1], true))
        .args(deep)
        .output()
        .unwrap());
    let json = tmp.path().join("eval.json");
    ok(builder()
        .args(["eval", "--bundle", &bundle.to_string_lossy()])
        .args(["--data", &data.to_string_lossy(), "--layout", "mvtec"])
        .args(["--json", &json.to_string_lossy()])
        .output()
        .unwrap());
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for p in eval["products"].as_array().unwrap() {
        let routed = p["routing_accuracy"].as_f64().unwrap();
        assert!(routed.is_finite(), "{p}");
    }

    // The INT8 trunk: the routing stage gets its twin, and routing follows its features.
    ok(calibrate(&bundle, &data, &["--trunk"]));
    let m = manifest(&bundle);
    assert!(m.has_file("stages/stride32.int8.onnx"), "{:?}", m.files);
    assert!(m.products.iter().all(|p| p.prototype.len() == 320));
    ok(builder()
        .args(["eval", "--bundle", &bundle.to_string_lossy()])
        .args(["--data", &data.to_string_lossy(), "--layout", "mvtec"])
        .output()
        .unwrap());
}

#[test]
fn a_routing_stage_shallower_than_the_taps_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 1, 4, 1);
    let name = product_names(&data).remove(0);
    let err = refused(
        builder()
            .args(train_args(&data, &tmp.path().join("b"), &name, false))
            .args(["--routing-stage", "stride8"])
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("--routing-stage stride8") && err.contains("stride16"),
        "{err}"
    );
}
