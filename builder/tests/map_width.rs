//! `train --map-width`: the product map's hidden layer has that width in the exported graph,
//! `calibrate --trunk` fits the map again at the bundle's width, and a width of 0 is refused.

mod common;

use std::path::Path;

use adapts_builder::export::onnx;
use adapts_runtime::bundle::Bundle;
use common::{builder, calibrate, ok, product_names, refused, synth, train_args};

/// Output channels of every `map.conv1` weight in the graph at `path` (FP32 or its INT8
/// twin's quantized copy).
fn hidden_widths(path: &Path) -> Vec<i64> {
    let model = onnx::decode(&std::fs::read(path).unwrap()).unwrap();
    let graph = model.graph.unwrap();
    graph
        .initializer
        .iter()
        .filter(|t| t.name.starts_with("map.conv1") && t.dims.len() == 4)
        .map(|t| t.dims[0])
        .collect()
}

#[test]
fn a_narrower_map_is_exported_and_kept_by_the_int8_refit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 1, 6, 1);
    let name = product_names(&data).remove(0);
    let bundle = tmp.path().join("bundle");

    ok(builder()
        .args(train_args(&data, &bundle, &name, false))
        .args(["--map-width", "24"])
        .output()
        .unwrap());
    let open = Bundle::open(&bundle).unwrap();
    let map = open.file_path(&open.manifest().products[0].adapters[0]);
    assert_eq!(hidden_widths(&map), [24], "{}", map.display());

    // Refitting on the INT8 trunk without the flag keeps the bundle's width.
    ok(calibrate(&bundle, &data, &["--trunk"]));
    let open = Bundle::open(&bundle).unwrap();
    let twins: Vec<_> = open
        .manifest()
        .files
        .iter()
        .filter(|f| f.path.starts_with("products/") && f.path.contains(".int8."))
        .map(|f| open.file_path(&f.path))
        .collect();
    assert_eq!(twins.len(), 1, "{:?}", open.manifest().files);
    let widths = hidden_widths(&twins[0]);
    assert!(
        !widths.is_empty() && widths.iter().all(|&w| w == 24),
        "{}: {widths:?}",
        twins[0].display()
    );
    ok(builder()
        .args(["eval", "--bundle", &bundle.to_string_lossy()])
        .args(["--data", &data.to_string_lossy(), "--layout", "mvtec"])
        .output()
        .unwrap());
}

#[test]
fn a_map_width_of_zero_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 1, 4, 1);
    let name = product_names(&data).remove(0);
    let err = refused(
        builder()
            .args(train_args(&data, &tmp.path().join("b"), &name, false))
            .args(["--map-width", "0"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("--map-width"), "{err}");
}
