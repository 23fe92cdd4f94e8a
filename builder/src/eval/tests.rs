//! A tiny real bundle (the runtime's `tiny_*.onnx` fixture graphs, 8 px input): the
//! trunk average-pools the normalised image 4x4 to a 2x2 map, the adapter multiplies by
//! zero, so the map is the per-block sum of squared normalised colour: near 0 on the
//! product's mid grey, high on a dark block.

use std::path::Path;

use super::*;
use crate::export::onnx::{decode, encode};
use adapts_runtime::bundle::{
    Bundle, BundleWriter, Manifest, Precision, Product, RoutingModel, ScoreStats, Scoring,
    StageInfo, TrunkInfo,
};
use adapts_runtime::preprocess::{Normalization, Preprocess};
use image::{GrayImage, Luma, Rgb, RgbImage};

const GREY: Rgb<u8> = Rgb([124, 116, 104]);
const RED: Rgb<u8> = Rgb([250, 10, 10]);

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/tests/fixtures")
        .join(format!("tiny_{name}.onnx"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `y = x * 0`, from the shift adapter (`y = x + b`).
fn zero_adapter() -> Vec<u8> {
    let mut model = decode(&fixture("adapter_shift")).unwrap();
    let graph = model.graph.as_mut().unwrap();
    graph.node[0].op_type = "Mul".into();
    graph.initializer[0].raw_data = vec![0u8; 12];
    encode(&model)
}

fn prototype(colour: Rgb<u8>) -> Vec<f32> {
    let img = RgbImage::from_pixel(8, 8, colour);
    let planar = Preprocess::full_frame(8, Normalization::Imagenet).apply(&img);
    planar
        .chunks(64)
        .map(|c| c.iter().sum::<f32>() / 64.0)
        .collect()
}

fn product(name: &str, colour: Rgb<u8>) -> Product {
    Product {
        name: name.into(),
        prototype: prototype(colour),
        routing: RoutingModel::Euclidean,
        routing_radius: 0.5,
        threshold: 1.0,
        normal_stats: ScoreStats {
            count: 4,
            mean: 0.1,
            std: 0.01,
            p50: 0.1,
            p99: 0.2,
            max: 0.2,
        },
        precision: Precision::Fp32,
        adapters: vec![format!("products/{name}/layer2.onnx")],
        bytes: 145,
    }
}

fn write_bundle(dir: &Path) {
    write_bundle_with(dir, 1.0)
}

/// The tiny bundle with `red`'s threshold set to `red_threshold`.
fn write_bundle_with(dir: &Path, red_threshold: f32) {
    write_bundle_of(dir, red_threshold, &["grey", "red"])
}

/// The tiny bundle holding only the named products (of `grey` and `red`).
fn write_bundle_of(dir: &Path, red_threshold: f32, names: &[&str]) {
    let mut writer = BundleWriter::create(dir).unwrap();
    writer.add_file("trunk.onnx", &fixture("trunk")).unwrap();
    writer.add_file("head.onnx", &fixture("head")).unwrap();
    for name in names {
        writer
            .add_file(&format!("products/{name}/layer2.onnx"), &zero_adapter())
            .unwrap();
    }
    writer
        .finish(Manifest {
            tool_version: "test".into(),
            sequence: 0,
            trunk: TrunkInfo {
                id: "tiny".into(),
                weights_sha256: "0".repeat(64),
                input_size: 8,
                normalization: Normalization::Imagenet,
            },
            preset: "S".into(),
            adapted: vec![StageInfo {
                name: "layer2".into(),
                channels: 3,
                height: 2,
                width: 2,
            }],
            later_stages: vec![],
            trunk_graph: "trunk.onnx".into(),
            head_graph: "head.onnx".into(),
            routing_stage: "layer2".into(),
            routing_dim: 3,
            scoring: Scoring::Distance,
            products: [
                product("grey", GREY),
                Product {
                    threshold: red_threshold,
                    ..product("red", RED)
                },
            ]
            .into_iter()
            .filter(|t| names.contains(&t.name.as_str()))
            .collect(),
            files: vec![],
        })
        .unwrap();
}

/// Grey image with its top-left 4x4 block in `dark` (none for a good image).
fn frame(dark: Option<u8>) -> RgbImage {
    RgbImage::from_fn(8, 8, |x, y| match dark {
        Some(v) if x < 4 && y < 4 => Rgb([v, v, v]),
        _ => GREY,
    })
}

/// MVTec layout: `grey` (2 good; `spot` = dark grey block, routed; `hole` = black block,
/// far enough from the prototype to be an unknown product) and `wood` (not in the bundle).
fn write_data(root: &Path, with_masks: bool) {
    let p = root.join("grey");
    for dir in ["train/good", "test/good", "test/spot", "test/hole"] {
        std::fs::create_dir_all(p.join(dir)).unwrap();
    }
    frame(None).save(p.join("train/good/000.png")).unwrap();
    frame(None).save(p.join("test/good/000.png")).unwrap();
    frame(None).save(p.join("test/good/001.png")).unwrap();
    frame(Some(60)).save(p.join("test/spot/000.png")).unwrap();
    frame(Some(0)).save(p.join("test/hole/000.png")).unwrap();
    if with_masks {
        // 16 px masks, soft outside (100 <= 127): nearest resize to 8, then binarise.
        let mask = GrayImage::from_fn(16, 16, |x, y| {
            Luma([if x < 8 && y < 8 { 255 } else { 100 }])
        });
        for kind in ["spot", "hole"] {
            let dir = p.join("ground_truth").join(kind);
            std::fs::create_dir_all(&dir).unwrap();
            mask.save(dir.join("000_mask.png")).unwrap();
        }
    }
    std::fs::create_dir_all(root.join("wood/train/good")).unwrap();
    frame(None)
        .save(root.join("wood/train/good/000.png"))
        .unwrap();
}

/// A temporary directory, removed when the guard drops.
fn tempdir() -> (tempfile::TempDir, std::path::PathBuf) {
    let guard = tempfile::tempdir().unwrap();
    let dir = guard.path().to_path_buf();
    (guard, dir)
}

#[test]
fn evaluates_a_tiny_bundle_with_an_unknown_and_a_rerun_map() {
    let (_guard, dir) = tempdir();
    write_bundle(&dir.join("bundle"));
    write_data(&dir.join("data"), true);
    let config = EvalConfig::new(dir.join("bundle"), dir.join("data"), Layout::Mvtec);
    let eval = Evaluation::prepare(&config).unwrap();
    assert_eq!(eval.products().len(), 1, "only `grey` is in both");
    assert_eq!(eval.image_count(), 4);
    let ticks = std::sync::atomic::AtomicUsize::new(0);
    let report = eval
        .run(&|| {
            ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(ticks.into_inner(), 4);
    let p = &report.products[0];
    assert_eq!((p.images, p.defects, p.unknown, p.misrouted), (4, 2, 1, 0));
    assert_eq!(p.image_auroc, Some(1.0));
    // The unknown image's map comes from the rerun, so its dark block is still found.
    assert_eq!(p.pixel_auroc, Some(1.0));
    assert_eq!(p.routing_accuracy, Some(0.75));
    assert_eq!((p.pixels, p.defect_pixels), (4 * 64, 2 * 16));
    assert_eq!(report.mean.image_auroc, Some(1.0));
    let hole = report.images.iter().find(|r| r.kind == "hole").unwrap();
    assert_eq!(hole.routed, None);
    assert!(hole.ratio.is_infinite() && hole.map_rerun);

    let csv = report.scores_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[0],
        "image,product,kind,label,routed,score,threshold,ratio"
    );
    assert!(lines.contains(&"grey/test/hole/000.png,grey,hole,1,,NaN,NaN,inf"));
    assert!(report.table().contains("75.0"));
    // Image and pixel AP, F1max and AUPRO are perfect on this set too.
    for v in [p.image_ap, p.image_f1, p.pixel_ap, p.pixel_f1, p.aupro] {
        assert_eq!(v, Some(1.0));
    }
    assert_eq!(p.regions, 2);
    // Memory from the graphs: the fixtures carry no MAC metadata, so no GFLOPs.
    assert_eq!(report.cost.products, 2);
    assert!(report.cost.total_fp32_mb > 0.0 && report.cost.inference_gflops.is_none());
    assert!(report.peak_rss_mb.is_some_and(|m| m > 0.0));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["products"][0]["pixel_auroc"], 1.0);
    assert_eq!(json["routing"], "on");

    // Routing off: every image judged as grey, no routing column.
    let off = Evaluation::prepare(&EvalConfig {
        routing: Routing::Off,
        ..config
    })
    .unwrap()
    .run(&|| {})
    .unwrap();
    let p = &off.products[0];
    assert_eq!((p.unknown, p.routing_accuracy), (0, None));
    assert_eq!((p.image_auroc, p.pixel_auroc), (Some(1.0), Some(1.0)));
}

#[test]
fn defect_image_without_mask_is_an_error_naming_it() {
    let (_guard, dir) = tempdir();
    write_bundle(&dir.join("bundle"));
    write_data(&dir.join("data"), false);
    let config = EvalConfig::new(dir.join("bundle"), dir.join("data"), Layout::Mvtec);
    let err = Evaluation::prepare(&config).unwrap_err().to_string();
    assert!(
        err.contains("hole/000.png") && err.contains("mask"),
        "{err}"
    );
    let err = Evaluation::prepare(&EvalConfig {
        categories: vec!["wood".into()],
        ..config
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("`wood` is not in bundle"), "{err}");
}

/// `red`: a red product with one good and one dark-block test image (masked).
fn write_red(root: &Path) {
    let p = root.join("red");
    for dir in ["train/good", "test/good", "test/spot", "ground_truth/spot"] {
        std::fs::create_dir_all(p.join(dir)).unwrap();
    }
    let red = |dark: bool| {
        RgbImage::from_fn(8, 8, |x, y| {
            if dark && x < 4 && y < 4 {
                Rgb([60, 0, 0])
            } else {
                RED
            }
        })
    };
    red(false).save(p.join("train/good/000.png")).unwrap();
    red(false).save(p.join("test/good/000.png")).unwrap();
    red(true).save(p.join("test/spot/000.png")).unwrap();
    GrayImage::from_fn(8, 8, |x, y| Luma([if x < 4 && y < 4 { 255 } else { 0 }]))
        .save(p.join("ground_truth/spot/000_mask.png"))
        .unwrap();
}

#[test]
fn continual_replay_builds_the_step_matrix() {
    let (_guard, dir) = tempdir();
    write_bundle(&dir.join("bundle"));
    write_data(&dir.join("data"), true);
    write_red(&dir.join("data"));
    let config = EvalConfig::new(dir.join("bundle"), dir.join("data"), Layout::Mvtec);
    assert_eq!(continual::replay_image_count(&config).unwrap(), 2 * 4 + 2);
    let report = continual::replay(&config, &|| {}).unwrap();
    assert_eq!(report.products, vec!["grey".to_string(), "red".to_string()]);
    assert_eq!(report.steps.len(), 2);
    // Step 1 knows grey only; step 2 both.
    assert_eq!(report.steps[0].products.len(), 1);
    assert_eq!(report.steps[0].cost.products, 1);
    assert_eq!(report.steps[1].products.len(), 2);
    let rows = &report.image_auroc.rows;
    assert!(rows[0][0].is_some() && rows[0][1].is_none());
    assert!(rows[1][0].is_some() && rows[1][1].is_some());
    // Red's prototype is far from grey images: grey's results do not move, so nothing is
    // forgotten.
    assert_eq!(rows[0][0], rows[1][0]);
    assert_eq!(report.image_auroc.forgetting, Some(0.0));
    assert_eq!(report.routing_accuracy.rows[1][0], Some(0.75));
    assert!(report.weights.is_none());
    let text = report.table();
    assert!(
        text.contains("step 2") && text.contains("forgetting 0.0"),
        "{text}"
    );

    // The single-class setting on the same bundle: routing off, one model per product.
    let single = single_class(&config, &|| {}).unwrap();
    assert_eq!(single.routing, Routing::Off);
    assert!(single.products.iter().all(|p| p.routing_accuracy.is_none()));
    let multi = Evaluation::prepare(&config).unwrap().run(&|| {}).unwrap();
    assert!(single.cost.total_fp32_mb > multi.cost.total_fp32_mb);
}

#[test]
fn weight_ledger_catches_a_changed_earlier_product() {
    let (_guard, dir) = tempdir();
    write_bundle(&dir.join("bundle"));
    let mut ledger = continual::WeightLedger::default();
    let open = || Bundle::open(&dir.join("bundle")).unwrap();
    ledger.step(&open()).unwrap();
    assert_eq!((ledger.added.len(), ledger.checks), (2, 0));
    ledger.step(&open()).unwrap();
    assert_eq!(ledger.checks, 2);
    // Rewrite the bundle with red's threshold changed: the ledger refuses it.
    write_bundle_with(&dir.join("bundle"), 2.0);
    let err = ledger.step(&open()).unwrap_err().to_string();
    assert!(err.contains("`red`") && err.contains("forgetting"), "{err}");
    // A product that disappears is caught too.
    let mut ledger = continual::WeightLedger::default();
    write_bundle(&dir.join("bundle"));
    ledger.step(&open()).unwrap();
    write_bundle_of(&dir.join("bundle"), 1.0, &["grey"]);
    let err = ledger.step(&open()).unwrap_err().to_string();
    assert!(err.contains("`red` is gone"), "{err}");
}

#[test]
fn heatmaps_carry_the_ground_truth_outline() {
    let (_guard, dir) = tempdir();
    write_bundle(&dir.join("bundle"));
    write_data(&dir.join("data"), true);
    let config = EvalConfig {
        heatmaps: Some(HeatmapConfig {
            dir: dir.join("maps"),
            per_product: 2,
            matching: Vec::new(),
        }),
        ..EvalConfig::new(dir.join("bundle"), dir.join("data"), Layout::Mvtec)
    };
    Evaluation::prepare(&config).unwrap().run(&|| {}).unwrap();
    // Two of grey's four test images, spread: the first (good) and the last (spot).
    let mut written: Vec<String> = std::fs::read_dir(dir.join("maps/grey"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        vec!["grey__test__good__000.png", "grey__test__spot__000.png"]
    );
    let spot = image::open(dir.join("maps/grey/grey__test__spot__000.png"))
        .unwrap()
        .to_rgb8();
    // The 4 x 4 defect block's outline is white; the good image has none.
    assert_eq!(spot.pixels().filter(|p| p.0 == [255, 255, 255]).count(), 12);
    // Chosen by name instead: only the hole.
    let named = EvalConfig {
        heatmaps: Some(HeatmapConfig {
            dir: dir.join("named"),
            per_product: 2,
            matching: vec!["hole/".into()],
        }),
        ..config.clone()
    };
    Evaluation::prepare(&named).unwrap().run(&|| {}).unwrap();
    let named: Vec<_> = std::fs::read_dir(dir.join("named/grey")).unwrap().collect();
    assert_eq!(named.len(), 1);
    let good = image::open(dir.join("maps/grey/grey__test__good__000.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(good.pixels().filter(|p| p.0 == [255, 255, 255]).count(), 0);
}

#[test]
fn single_class_over_a_directory_of_bundles() {
    let (_guard, dir) = tempdir();
    write_data(&dir.join("data"), true);
    write_red(&dir.join("data"));
    write_bundle_of(&dir.join("bundles/grey"), 1.0, &["grey"]);
    write_bundle_of(&dir.join("bundles/red"), 1.0, &["red"]);
    let config = EvalConfig::new(dir.join("bundles"), dir.join("data"), Layout::Mvtec);
    let report = single_class(&config, &|| {}).unwrap();
    let names: Vec<&str> = report.products.iter().map(|p| p.product.as_str()).collect();
    assert_eq!(names, ["grey", "red"]);
    assert_eq!(report.bundles.len(), 2);
    assert_eq!(report.setting, Setting::Single);
    // Two separate one-product models: twice the shared graphs.
    let one = Evaluation::prepare(&EvalConfig {
        bundle: dir.join("bundles/grey"),
        ..config.clone()
    })
    .unwrap()
    .run(&|| {})
    .unwrap();
    assert!((report.cost.total_fp32_mb - 2.0 * one.cost.total_fp32_mb).abs() < 1e-9);
    assert_eq!(report.images.len(), 4 + 2);
    // --categories picks per bundle; a product no bundle has is named.
    let only_red = single_class(
        &EvalConfig {
            categories: vec!["red".into()],
            ..config.clone()
        },
        &|| {},
    )
    .unwrap();
    assert_eq!(only_red.products.len(), 1);
    let err = single_class(
        &EvalConfig {
            categories: vec!["wood".into()],
            ..config.clone()
        },
        &|| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("`wood` is in no bundle"), "{err}");
    // The same product in two bundles is refused, naming it.
    write_bundle_of(&dir.join("bundles/zz"), 1.0, &["grey"]);
    let err = single_class(&config, &|| {}).unwrap_err().to_string();
    assert!(err.contains("`grey` is in two bundles"), "{err}");
}
