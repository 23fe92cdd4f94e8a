//! End to end: synthetic products -> `train` -> bundle -> runtime verdicts.
//!
//! Uses the pretrained EfficientNet-Lite0 (scripts/setup.sh) at 64 px so training takes
//! seconds. One dataset and two bundles (preset S: one INT8 adapter; preset L: two FP32
//! adapters with a later shared stage) are built once and shared by the tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use adapts_builder::data::synth::{generate, SynthConfig};
use adapts_builder::data::{self, Layout};
use adapts_builder::export::read::{read_adapter, read_map};
use adapts_builder::model::check::default_normalization;
use adapts_builder::model::weights::Checkpoint;
use adapts_builder::model::{Cut, TrunkKind};
use adapts_builder::train::job::{self, TrainJob, WeightsSource};
use adapts_builder::train::plan::{Plan, Preset, Recipe};
use adapts_builder::train::{load_images, to_input, TrainConfig};
use adapts_runtime::bundle::Bundle;
use adapts_runtime::pipeline::{Pipeline, Reason, Verdict};
use adapts_runtime::preprocess::{load_rgb, Preprocess};
use adapts_runtime::SessionConfig;

const SIZE: u32 = 64;
const TRAINED: [&str; 2] = ["fabric", "washer"];
const UNTRAINED: &str = "wood";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn weights() -> PathBuf {
    let path = root().join("weights/efficientnet-lite0.pth");
    assert!(
        path.exists(),
        "{} not found: run scripts/setup.sh",
        path.display()
    );
    path
}

fn workdir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Shared by every test of this binary, so it lives in cargo's scratch directory for
        // integration tests (inside `target/`), replaced on each run.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e");
        let _ = std::fs::remove_dir_all(&dir);
        generate(
            &SynthConfig {
                out: dir.join("data"),
                products: 3,
                train: 16,
                test_good: 4,
                test_defect: 5,
                size: 96,
                seed: 3,
            },
            &|| {},
        )
        .expect("synthetic dataset");
        dir
    })
}

fn job(preset: Preset, recipe: Recipe, out: &str, categories: &[&str], append: bool) -> TrainJob {
    let kind = TrunkKind::EffnetLite0;
    let arch = kind.arch();
    TrainJob {
        data: workdir().join("data"),
        layout: Layout::Mvtec,
        categories: categories.iter().map(|s| s.to_string()).collect(),
        trunk_id: kind.name().into(),
        arch,
        weights: WeightsSource::File(weights()),
        normalization: default_normalization(kind),
        plan: Plan::resolve(&arch, preset, None, None, recipe).unwrap(),
        out: workdir().join(out),
        append,
        textures: None,
        image_size: SIZE,
        config: TrainConfig {
            epochs: 2,
            batch_size: 4,
            seed: 1,
            progress: false,
            ..TrainConfig::default()
        },
        sign_key: None,
    }
}

/// Bundle with both trained products, preset S (INT8).
fn bundle_s() -> &'static PathBuf {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let j = job(Preset::S, Recipe::Paper, "bundle-s", &TRAINED, false);
        job::run(&j).unwrap_or_else(|e| panic!("{e}"));
        j.out
    })
}

/// Bundle with one product, preset L (FP32, adapters at stride8 and stride16).
fn bundle_l() -> &'static PathBuf {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let j = job(Preset::L, Recipe::Paper, "bundle-l", &TRAINED[..1], false);
        job::run(&j).unwrap_or_else(|e| panic!("{e}"));
        j.out
    })
}

/// Bundle with both trained products, local scoring, preset M (INT8, stride8 + stride16).
fn bundle_local() -> &'static PathBuf {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let j = job(Preset::M, Recipe::Local, "bundle-local", &TRAINED, false);
        job::run(&j).unwrap_or_else(|e| panic!("{e}"));
        j.out
    })
}

fn test_images(product: &str) -> Vec<PathBuf> {
    data::load_product(&workdir().join("data"), Layout::Mvtec, product)
        .unwrap()
        .test
        .into_iter()
        .map(|t| t.path)
        .collect()
}

/// Scores the bundle's first product with candle (trunk rebuilt from the weights, adapters read
/// back from the bundle) and with the runtime; they must agree to 1e-3 relative.
fn check_score_parity(bundle_dir: &Path, preset: Preset) {
    let bundle = Bundle::open(bundle_dir).unwrap();
    let m = bundle.manifest();
    let kind = TrunkKind::EffnetLite0;
    let arch = kind.arch();
    let plan = Plan::resolve(&arch, preset, None, None, Recipe::Paper).unwrap();
    let trunk = Checkpoint::load(&weights())
        .unwrap()
        .build_trunk(arch, Cut::Stage(plan.last()))
        .unwrap();
    let product = &m.products[0];
    let adapters: Vec<_> = product
        .adapters
        .iter()
        .zip(&m.adapted)
        .map(|(path, stage)| {
            let model = adapts_builder::export::onnx::decode(
                &std::fs::read(bundle.file_path(path)).unwrap(),
            )
            .unwrap();
            read_adapter(&model, &stage.name).unwrap()
        })
        .collect();
    let pre = Preprocess::full_frame(SIZE, default_normalization(kind));
    let paths = test_images(&product.name);
    let images = load_images(&paths, &pre).unwrap();
    let refs: Vec<_> = images.iter().collect();
    let x = to_input(&refs, &pre).unwrap();
    let builder = adapts_builder::train::score::score_batch(&trunk, &plan, &adapters, &x).unwrap();

    let mut pipeline = Pipeline::open(bundle_dir, &SessionConfig::default()).unwrap();
    for (i, path) in paths.iter().enumerate() {
        let result = pipeline.infer(&load_rgb(path).unwrap(), Some(&product.name));
        assert!(
            result.reason.as_ref().is_none_or(|r| *r == Reason::Anomaly),
            "{path:?}: {:?}",
            result.reason
        );
        let (a, b) = (result.score, builder.scores[i]);
        let rel = (a - b).abs() / b.abs().max(1e-12);
        assert!(
            rel <= 1e-3,
            "{}: runtime {a} vs builder {b} (relative {rel:e})",
            path.display()
        );
        assert_eq!(result.threshold, product.threshold);
    }
}

#[test]
fn runtime_scores_equal_builder_scores_int8_single_stage() {
    check_score_parity(bundle_s(), Preset::S);
}

#[test]
fn runtime_scores_equal_builder_scores_fp32_two_stages() {
    check_score_parity(bundle_l(), Preset::L);
}

/// Local scoring: the runtime's scores equal a candle reference built from the weights (trunk,
/// features, the product's map read back from its graph, head) to 1e-3 relative.
#[test]
fn runtime_scores_equal_builder_scores_local() {
    use adapts_builder::model::graph::Eval;
    use adapts_builder::model::local;
    use adapts_runtime::bundle::Scoring;

    let dir = bundle_local();
    let bundle = Bundle::open(dir).unwrap();
    let m = bundle.manifest();
    let Scoring::Local(scoring) = &m.scoring else {
        panic!("a local bundle has local scoring")
    };
    let kind = TrunkKind::EffnetLite0;
    let arch = kind.arch();
    let plan = Plan::resolve(&arch, Preset::M, None, None, Recipe::Local).unwrap();
    let trunk = Checkpoint::load(&weights())
        .unwrap()
        .build_trunk(arch, Cut::Stage(plan.last()))
        .unwrap();
    let pre = Preprocess::full_frame(SIZE, default_normalization(kind));
    let mut pipeline = Pipeline::open(dir, &SessionConfig::default()).unwrap();
    for product in &m.products {
        let model = adapts_builder::export::onnx::decode(
            &std::fs::read(bundle.file_path(&product.adapters[0])).unwrap(),
        )
        .unwrap();
        let map = read_map(&model).unwrap();
        let paths = test_images(&product.name);
        let images = load_images(&paths, &pre).unwrap();
        let refs: Vec<_> = images.iter().collect();
        let x = to_input(&refs, &pre).unwrap();
        let mut g = Eval;
        let t8 = trunk.forward_to(&mut g, &x, plan.first()).unwrap();
        let t16 = trunk.stage(&mut g, plan.last(), &t8).unwrap();
        let f = &scoring.features;
        let (features, pooled) =
            local::features(&mut g, &[t8, t16], (f.height, f.width), None).unwrap();
        let small = map.forward(&mut g, &features).unwrap();
        let (_, scores) = local::head(
            &mut g,
            &small,
            (f.height, f.width),
            SIZE as usize,
            scoring.smooth_sigma,
        )
        .unwrap();
        let scores: Vec<f32> = scores.to_vec1().unwrap();
        let pooled: Vec<Vec<f32>> = pooled.to_vec2().unwrap();
        for (i, path) in paths.iter().enumerate() {
            let r = pipeline.infer(&load_rgb(path).unwrap(), Some(&product.name));
            assert!(
                r.reason.as_ref().is_none_or(|r| *r == Reason::Anomaly),
                "{path:?}: {:?}",
                r.reason
            );
            let rel = (r.score - scores[i]).abs() / scores[i].abs().max(1e-12);
            assert!(
                rel <= 1e-3,
                "{}: runtime {} vs candle {}",
                path.display(),
                r.score,
                scores[i]
            );
            // The score, taken from the feature-resolution map, is the maximum of the head
            // graph's full-resolution map as ONNX Runtime computes it.
            let map = r.map.as_ref().expect("full maps are on by default");
            let peak = map.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert!(
                (r.score - peak).abs() <= 1e-5 * peak.abs(),
                "{}: score {} vs the head's map peak {peak}",
                path.display(),
                r.score
            );
            // The routing distance is the product's PPCA one, on the same routing vector.
            let d = ppca_distance(&pooled[i], product);
            assert!(
                (r.distance - d).abs() <= 1e-3 * d.max(1.0),
                "{} vs {d}",
                r.distance
            );
        }
    }
}

/// `(sum_i (b_i . y)^2 / v_i + (|y|^2 - sum_i (b_i . y)^2) / residual) / D` in f64.
fn ppca_distance(z: &[f32], product: &adapts_runtime::bundle::Product) -> f32 {
    let adapts_runtime::bundle::RoutingModel::Ppca {
        basis,
        variances,
        residual,
    } = &product.routing
    else {
        panic!("local products route with PPCA")
    };
    let y: Vec<f64> = z
        .iter()
        .zip(&product.prototype)
        .map(|(a, b)| f64::from(*a) - f64::from(*b))
        .collect();
    let mut inside = 0.0;
    let mut explained = 0.0;
    for (k, v) in variances.iter().enumerate() {
        let p: f64 = (0..y.len())
            .map(|j| f64::from(basis[k * y.len() + j]) * y[j])
            .sum();
        inside += p * p;
        explained += p * p / f64::from(*v);
    }
    let total: f64 = y.iter().map(|v| v * v).sum();
    ((explained + (total - inside) / f64::from(*residual)) / y.len() as f64) as f32
}

#[test]
fn local_scoring_routes_trained_products_and_rejects_an_untrained_one() {
    // A defect can move the routing vector beyond the product's radius: it is then rejected
    // as unknown (and fails), never given to another product.
    check_routing(bundle_local(), true);
}

#[test]
fn routes_trained_products_and_rejects_an_untrained_one() {
    check_routing(bundle_s(), false);
}

fn check_routing(bundle: &Path, defects_may_be_unknown: bool) {
    let mut pipeline = Pipeline::open(bundle, &SessionConfig::default()).unwrap();
    for product in TRAINED {
        for path in test_images(product) {
            let r = pipeline.infer(&load_rgb(&path).unwrap(), None);
            let defect = !path.components().any(|c| c.as_os_str() == "good");
            if defects_may_be_unknown && defect && r.product.is_none() {
                assert_eq!(r.reason, Some(Reason::UnknownProduct), "{}", path.display());
                assert_eq!(r.verdict, Verdict::Fail, "{}", path.display());
                continue;
            }
            assert_eq!(
                r.product.as_deref(),
                Some(product),
                "{}: {:?}",
                path.display(),
                r.reason
            );
        }
    }
    for path in test_images(UNTRAINED) {
        let r = pipeline.infer(&load_rgb(&path).unwrap(), None);
        assert_eq!(
            r.reason,
            Some(Reason::UnknownProduct),
            "{}: routed to {:?} at distance {} (radius {})",
            path.display(),
            r.product,
            r.distance,
            r.routing_radius
        );
        assert_eq!(r.verdict, adapts_runtime::pipeline::Verdict::Fail);
    }
}

#[test]
fn append_leaves_earlier_files_byte_identical() {
    check_append(Recipe::Paper, "bundle-append");
}

#[test]
fn local_append_leaves_earlier_files_byte_identical() {
    check_append(Recipe::Local, "bundle-append-local");
    // A bundle of one recipe does not take products of the other.
    let err = job::run(&job(
        Preset::S,
        Recipe::Paper,
        "bundle-append-local",
        &[UNTRAINED],
        true,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("--recipe local"), "{err}");
}

fn check_append(recipe: Recipe, out: &str) {
    let first = job(Preset::S, recipe, out, &TRAINED[..1], false);
    job::run(&first).unwrap();
    let before = Bundle::open(&first.out).unwrap().into_manifest();
    let snapshot: Vec<(String, Vec<u8>)> = before
        .files
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                std::fs::read(first.out.join(&f.path)).unwrap(),
            )
        })
        .collect();
    job::run(&job(Preset::S, recipe, out, &TRAINED[1..], true)).unwrap();
    let after = Bundle::open(&first.out).unwrap().into_manifest();
    assert_eq!(after.products.len(), 2);
    assert_eq!(after.products[0], before.products[0]);
    for (path, bytes) in snapshot {
        assert_eq!(
            std::fs::read(first.out.join(&path)).unwrap(),
            bytes,
            "{path} changed"
        );
    }
    // Appending the same product again is refused, and leaves the bundle as it was.
    let again = job::run(&job(Preset::S, recipe, out, &TRAINED[1..], true));
    assert!(again
        .unwrap_err()
        .to_string()
        .contains("already in the bundle"));
    assert_eq!(Bundle::open(&first.out).unwrap().into_manifest(), after);
}

#[test]
fn corrupted_bundle_file_is_rejected_with_its_name() {
    let src = bundle_s();
    let copy = workdir().join("bundle-corrupt");
    let _ = std::fs::remove_dir_all(&copy);
    copy_dir(src, &copy);
    let manifest = Bundle::open(&copy).unwrap().into_manifest();
    let victim = &manifest.products[1].adapters[0];
    let path = copy.join(victim);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let err = Bundle::open(&copy).unwrap_err().to_string();
    assert!(
        err.contains(victim.as_str()) && err.contains("sha256"),
        "{err}"
    );
}

#[test]
fn eval_reports_metrics_for_a_trained_bundle() {
    use adapts_builder::eval::{EvalConfig, Evaluation};
    let config = EvalConfig::new(bundle_s().clone(), workdir().join("data"), Layout::Mvtec);
    let eval = Evaluation::prepare(&config).unwrap_or_else(|e| panic!("{e}"));
    // The untrained product is in the data but not in the bundle: not evaluated.
    let names: Vec<&str> = eval.products().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, TRAINED);
    let images = eval.image_count();
    assert_eq!(images, TRAINED.len() * 9);
    let report = eval.run(&|| {}).unwrap_or_else(|e| panic!("{e}"));
    for p in &report.products {
        assert_eq!(p.routing_accuracy, Some(1.0), "{}", p.product);
        assert_eq!((p.images, p.defects), (9, 5));
        for auc in [p.image_auroc, p.pixel_auroc] {
            assert!(
                auc.is_some_and(|a| (0.0..=1.0).contains(&a)),
                "{}: {auc:?}",
                p.product
            );
        }
        let side = SIZE as usize;
        assert_eq!(p.pixels, 9 * side * side);
        assert!(p.defect_pixels > 0 && p.latency_ms > 0.0);
    }
    assert_eq!(report.mean.routing_accuracy, Some(1.0));
    let csv = report.scores_csv();
    assert_eq!(csv.lines().count(), 1 + images);
    assert!(csv
        .lines()
        .skip(1)
        .all(|l| l.split(',').count() == 8 && !l.contains("inf")));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The paper run: products trained one at a time into one bundle, every seen product evaluated
/// after each step, earlier weights checked after every step. Replaying the finished bundle
/// (`eval --setting continual`) must give exactly the matrix measured during training.
#[test]
fn paper_run_trains_in_order_and_replay_reproduces_every_step() {
    use adapts_builder::eval::{continual, EvalConfig};
    use adapts_builder::paper::{self, PaperRun};

    let kind = TrunkKind::EffnetLite0;
    let order = ["washer", "fabric", "wood"];
    let out = workdir().join("paper");
    let run = PaperRun {
        data: workdir().join("data"),
        layout: Layout::Mvtec,
        categories: order.iter().map(|s| s.to_string()).collect(),
        trunk: kind,
        weights: WeightsSource::File(weights()),
        normalization: default_normalization(kind),
        presets: vec![Preset::S],
        recipe: Recipe::Paper,
        out: out.clone(),
        image_size: SIZE,
        textures: None,
        train: TrainConfig {
            epochs: 1,
            batch_size: 4,
            seed: 1,
            progress: false,
            ..TrainConfig::default()
        },
        heatmaps: 2,
    };
    let steps = std::sync::Mutex::new(Vec::new());
    let results = paper::run(&run, &|line| steps.lock().unwrap().push(line.to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(steps.into_inner().unwrap().len(), 3);
    let r = &results[0];
    let c = &r.continual;
    assert_eq!(c.products, order);
    // Weights: 3 products added; after step 2 one earlier product checked, after step 3 two.
    let ledger = c.weights.as_ref().expect("a training run checks weights");
    assert_eq!((ledger.added.len(), ledger.checks), (3, 3));
    for (k, row) in c.image_auroc.rows.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            assert_eq!(v.is_some(), j <= k, "step {} product {j}: {v:?}", k + 1);
        }
    }
    assert!(c.image_auroc.forgetting.is_some() && c.image_auroc.final_average.is_some());

    // Replay of the final bundle = what each step measured, metric for metric.
    let replayed = continual::replay(
        &EvalConfig::new(r.bundle.clone(), workdir().join("data"), Layout::Mvtec),
        &|| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(replayed.products, c.products);
    for (a, b) in [
        (&replayed.image_auroc, &c.image_auroc),
        (&replayed.pixel_auroc, &c.pixel_auroc),
        (&replayed.aupro, &c.aupro),
        (&replayed.routing_accuracy, &c.routing_accuracy),
    ] {
        assert_eq!(a.rows, b.rows, "{}", a.metric);
    }

    // Multi-class = the last step; single-class = routing off, one model per product.
    let multi = r.multi();
    assert_eq!(multi.products.len(), 3);
    assert!(r
        .single
        .products
        .iter()
        .all(|p| p.routing_accuracy.is_none()));
    let (single_cost, multi_cost) = (&r.single.cost, &multi.cost);
    assert!(single_cost.total_fp32_mb > 2.5 * multi_cost.total_fp32_mb);
    assert_eq!(
        single_cost.additional_int8_mb,
        multi_cost.additional_int8_mb
    );
    assert!(multi_cost.additional_int8_mb * 4.0 == multi_cost.additional_fp32_mb);
    let (inference, training) = (
        multi_cost.inference_gflops.expect("graphs carry MACs"),
        multi_cost.training_gflops.expect("graphs carry MACs"),
    );
    assert!(
        inference > 0.0 && training > inference,
        "{inference} {training}"
    );

    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for row in [
        "| S | single |",
        "| S | multi |",
        "| S | continual |",
        "step 3",
    ] {
        assert!(summary.contains(row), "summary lacks {row}:\n{summary}");
    }
    assert!(out.join("s/results.json").is_file() && out.join("s/scores.csv").is_file());
    let maps = std::fs::read_dir(out.join("s/heatmaps/wood"))
        .unwrap()
        .count();
    assert_eq!(maps, 2);
}
