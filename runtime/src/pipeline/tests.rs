//! Pipeline tests against scripted fake graphs: the exact order and inputs of every graph
//! call, and the verdict in each case.

use super::*;
use crate::bundle::tests::sample_manifest;
use crate::bundle::LaterStage;
use crate::engine::fake::{Call, FakeRunner, Script};

fn fill(shape: &[usize], value: f32) -> Tensor {
    let n = shape.iter().product();
    Tensor::new(shape.to_vec(), vec![value; n]).expect("tensor")
}

fn vector(values: &[f32]) -> Tensor {
    Tensor::new(vec![1, values.len()], values.to_vec()).expect("tensor")
}

fn boxed(runner: FakeRunner) -> BoxedRunner {
    Box::new(runner)
}

/// A pipeline whose graphs are fakes named `trunk`, `<stage>`, `head` and `<product>/<stage>`.
fn pipeline(script: &Script, manifest: Manifest) -> Pipeline {
    let graphs = Graphs {
        trunk: boxed(script.runner("trunk")),
        later_stages: manifest
            .later_stages
            .iter()
            .map(|s| boxed(script.runner(&s.name)))
            .collect(),
        features: None,
        head: boxed(script.runner("head")),
        adapters: manifest
            .products
            .iter()
            .map(|t| {
                manifest
                    .adapted
                    .iter()
                    .map(|s| boxed(script.runner(&format!("{}/{}", t.name, s.name))))
                    .collect()
            })
            .collect(),
    };
    Pipeline::new(manifest, graphs).expect("pipeline")
}

fn frame() -> RgbImage {
    RgbImage::from_fn(20, 12, |x, y| {
        image::Rgb([(x * 10) as u8, (y * 20) as u8, 7])
    })
}

/// The trunk input the pipeline must produce for [`frame`].
fn frame_tensor(m: &Manifest) -> Tensor {
    let s = m.trunk.input_size;
    let data = Preprocess::full_frame(s, m.trunk.normalization).apply(&frame());
    Tensor::new(vec![1, 3, s as usize, s as usize], data).expect("input")
}

/// Teacher features: layer2 from the trunk, layer3 from the later stage.
struct Teacher {
    t2: Tensor,
    t3: Tensor,
}

/// The two teacher-path calls (trunk, layer3) answering with `pooled` as routing vector.
fn teacher_calls(m: &Manifest, pooled: &[f32]) -> (Vec<Call>, Teacher) {
    let image = frame_tensor(m);
    let t2 = fill(&[1, 2, 2, 2], 1.0);
    let t3 = fill(&[1, 3, 1, 1], 2.0);
    let calls = vec![
        Call::new("trunk", &[("image", &image)], &[("layer2", &t2)]),
        Call::new(
            "layer3",
            &[("x", &t2)],
            &[("y", &t3), ("pooled", &vector(pooled))],
        ),
    ];
    (calls, Teacher { t2, t3 })
}

/// Student path and head for `product`: A2(t2) -> layer3 -> A3 -> head(t2, s2, t3, s3) -> score.
fn student_calls(product: &str, teacher: &Teacher, score: f32) -> Vec<Call> {
    let s2 = fill(&[1, 2, 2, 2], 3.0);
    let stage3 = fill(&[1, 3, 1, 1], 4.0);
    let s3 = fill(&[1, 3, 1, 1], 5.0);
    let map =
        Tensor::new(vec![1, 1, 8, 8], (0..64).map(|i| i as f32 / 64.0).collect()).expect("map");
    vec![
        Call::new(
            &format!("{product}/layer2"),
            &[("x", &teacher.t2)],
            &[("y", &s2)],
        ),
        Call::new(
            "layer3",
            &[("x", &s2)],
            &[("y", &stage3), ("pooled", &vector(&[0.0; 3]))],
        ),
        Call::new(
            &format!("{product}/layer3"),
            &[("x", &stage3)],
            &[("y", &s3)],
        ),
        Call::new(
            "head",
            &[
                ("t0", &teacher.t2),
                ("s0", &s2),
                ("t1", &teacher.t3),
                ("s1", &s3),
            ],
            &[
                ("map", &map),
                ("score", &Tensor::new(vec![1], vec![score]).expect("score")),
            ],
        ),
    ]
}

#[test]
fn student_path_composes_adapters_and_later_stages_in_order() {
    let m = sample_manifest(&["bottle", "cable"]);
    // Prototypes: bottle [0, 0, 0], cable [10, 0, 0]; both radius 1, threshold 2.
    let (mut calls, teacher) = teacher_calls(&m, &[10.2, 0.0, 0.0]);
    calls.extend(student_calls("cable", &teacher, 3.0));
    let script = Script::new(calls);
    let mut p = pipeline(&script, m);

    let r = p.infer(&frame(), None);
    script.done();
    assert_eq!(r.product.as_deref(), Some("cable"));
    assert_eq!(r.nearest.as_deref(), Some("cable"));
    assert!((r.distance - 0.04).abs() < 1e-5, "{}", r.distance);
    assert_eq!(r.routing_radius, 1.0);
    assert_eq!(r.score, 3.0);
    assert_eq!(r.threshold, 2.0);
    assert_eq!(r.ratio, 1.5);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.reason, Some(Reason::Anomaly));
    let map = r.map.expect("map");
    assert_eq!(map.shape, vec![8, 8]);
    assert!(r.latency.total_ms >= r.latency.trunk_ms + r.latency.head_ms);
}

#[test]
fn score_at_or_below_threshold_passes() {
    let m = sample_manifest(&["bottle", "cable"]);
    let (mut calls, teacher) = teacher_calls(&m, &[0.5, 0.0, 0.0]);
    calls.extend(student_calls("bottle", &teacher, 2.0));
    let script = Script::new(calls);
    let r = pipeline(&script, m).infer(&frame(), None);
    script.done();
    assert_eq!(r.product.as_deref(), Some("bottle"));
    assert_eq!(r.verdict, Verdict::Pass);
    assert_eq!(r.reason, None);
    assert_eq!(r.ratio, 1.0);
}

#[test]
fn unknown_product_fails_without_running_adapters() {
    let m = sample_manifest(&["bottle", "cable"]);
    let (calls, _) = teacher_calls(&m, &[13.0, 0.0, 0.0]);
    let script = Script::new(calls);
    let r = pipeline(&script, m).infer(&frame(), None);
    // Only the teacher path ran: no adapter, no student stage, no head.
    script.done();
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.reason, Some(Reason::UnknownProduct));
    assert_eq!(r.product, None);
    assert_eq!(r.nearest.as_deref(), Some("cable"));
    assert_eq!(r.distance, 9.0);
    assert_eq!(r.routing_radius, 1.0);
    assert!(r.score.is_nan() && r.ratio.is_nan());
    assert!(r.map.is_none());
}

#[test]
fn product_override_skips_routing_and_reports_the_distance() {
    let m = sample_manifest(&["bottle", "cable"]);
    // The routing vector is nearest to cable (and far beyond bottle's radius), but the PLC
    // says bottle.
    let (mut calls, teacher) = teacher_calls(&m, &[10.0, 0.0, 0.0]);
    calls.extend(student_calls("bottle", &teacher, 1.0));
    let script = Script::new(calls);
    let r = pipeline(&script, m).infer(&frame(), Some("bottle"));
    script.done();
    assert_eq!(r.product.as_deref(), Some("bottle"));
    assert_eq!(r.nearest, None);
    assert_eq!(r.distance, 100.0);
    assert_eq!(r.verdict, Verdict::Pass);
    assert_eq!(r.ratio, 0.5);
}

#[test]
fn unknown_override_name_fails_with_a_clear_reason_and_runs_nothing() {
    let m = sample_manifest(&["bottle", "cable"]);
    let script = Script::new(vec![]);
    let r = pipeline(&script, m).infer(&frame(), Some("gearbox"));
    script.done();
    assert_eq!(r.verdict, Verdict::Fail);
    let message = r.reason.as_ref().and_then(Reason::message).expect("error");
    assert!(
        message.contains("`gearbox`") && message.contains("`bottle`, `cable`"),
        "{message}"
    );
}

#[test]
fn a_graph_error_becomes_fail_with_reason_error() {
    let m = sample_manifest(&["bottle", "cable"]);
    let (mut calls, teacher) = teacher_calls(&m, &[0.0, 0.0, 0.0]);
    calls.push(Call::failing(
        "bottle/layer2",
        &[("x", &teacher.t2)],
        "out of memory",
    ));
    let script = Script::new(calls);
    let r = pipeline(&script, m).infer(&frame(), None);
    script.done();
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.reason.as_ref().map(Reason::code), Some("error"));
    let message = r
        .reason
        .as_ref()
        .and_then(Reason::message)
        .expect("message");
    assert!(message.contains("out of memory"), "{message}");
    // What was known before the failure is kept.
    assert_eq!(r.product.as_deref(), Some("bottle"));
    assert_eq!(r.distance, 0.0);
}

#[test]
fn a_wrong_feature_shape_or_nan_score_is_an_error_not_a_pass() {
    let m = sample_manifest(&["bottle"]);
    let image = frame_tensor(&m);
    let script = Script::new(vec![Call::new(
        "trunk",
        &[("image", &image)],
        &[("layer2", &fill(&[1, 2, 3, 3], 0.0))],
    )]);
    let r = pipeline(&script, m.clone()).infer(&frame(), None);
    script.done();
    let message = r.reason.as_ref().and_then(Reason::message).expect("error");
    assert!(
        message.contains("[1, 2, 3, 3]") && message.contains("trunk.onnx"),
        "{message}"
    );

    let (mut calls, teacher) = teacher_calls(&m, &[0.0, 0.0, 0.0]);
    calls.extend(student_calls("bottle", &teacher, f32::NAN));
    let script = Script::new(calls);
    let r = pipeline(&script, m).infer(&frame(), None);
    script.done();
    assert_eq!(r.verdict, Verdict::Fail);
    let message = r.reason.as_ref().and_then(Reason::message).expect("error");
    assert!(message.contains("NaN"), "{message}");
}

#[test]
fn single_stage_bundle_routes_from_the_trunk_and_skips_routing_only_stages() {
    // Preset S with a routing-only later stage: the student path stops at layer2.
    let mut m = sample_manifest(&["bottle"]);
    m.adapted.truncate(1);
    m.later_stages = vec![LaterStage {
        name: "layer3".into(),
        graph: "stages/layer3.onnx".into(),
        adapted: false,
    }];
    for t in &mut m.products {
        t.adapters.truncate(1);
    }
    m.files
        .retain(|f| !f.path.ends_with("/layer3.onnx") || f.path.starts_with("stages/"));
    let image = frame_tensor(&m);
    let t2 = fill(&[1, 2, 2, 2], 1.0);
    let s2 = fill(&[1, 2, 2, 2], 3.0);
    let map = fill(&[1, 1, 8, 8], 0.5);
    let script = Script::new(vec![
        Call::new("trunk", &[("image", &image)], &[("layer2", &t2)]),
        Call::new(
            "layer3",
            &[("x", &t2)],
            &[
                ("y", &fill(&[1, 5], 0.0)),
                ("pooled", &vector(&[0.1, 0.0, 0.0])),
            ],
        ),
        Call::new("bottle/layer2", &[("x", &t2)], &[("y", &s2)]),
        Call::new(
            "head",
            &[("t0", &t2), ("s0", &s2)],
            &[("map", &map), ("score", &vector(&[0.5]))],
        ),
    ]);
    let r = pipeline(&script, m.clone()).infer(&frame(), None);
    script.done();
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.reason);

    // No later stages at all: the trunk's own `pooled` is the routing vector.
    m.later_stages.clear();
    m.routing_stage = "layer2".into();
    m.files.retain(|f| !f.path.starts_with("stages/"));
    let script = Script::new(vec![Call::new(
        "trunk",
        &[("image", &image)],
        &[("layer2", &t2), ("pooled", &vector(&[5.0, 0.0, 0.0]))],
    )]);
    let r = pipeline(&script, m).infer(&frame(), None);
    script.done();
    assert_eq!(r.reason, Some(Reason::UnknownProduct));
    assert_eq!(r.distance, 25.0);
}

#[test]
fn graphs_must_match_the_manifest() {
    let m = sample_manifest(&["bottle", "cable"]);
    let script = Script::new(vec![]);
    let graphs = Graphs {
        trunk: boxed(script.runner("trunk")),
        later_stages: vec![boxed(script.runner("layer3"))],
        features: None,
        head: boxed(script.runner("head")),
        adapters: vec![vec![
            boxed(script.runner("bottle/layer2")),
            boxed(script.runner("bottle/layer3")),
        ]],
    };
    let err = Pipeline::new(m, graphs).expect_err("one product's adapters missing");
    assert!(err.to_string().contains("2"), "{err}");
}

#[test]
fn failed_frames_are_fail_with_the_message() {
    let r = Inference::failed("frame `a.png`: truncated file");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.reason.as_ref().map(Reason::code), Some("error"));
    assert!(r.distance.is_nan());
}

/// `sample_manifest` turned into local scoring: the features graph stacks layer2 and layer3
/// into `[1, 5, 2, 2]`; each product has one map graph; products route by standardised
/// distance.
fn local_manifest(products: &[&str]) -> Manifest {
    let mut m = sample_manifest(products);
    m.scoring = Scoring::Local(LocalScoring {
        features_graph: "features.onnx".into(),
        features: crate::bundle::StageInfo {
            name: FEATURES.into(),
            channels: 5,
            height: 2,
            width: 2,
        },
        smooth_sigma: 4.0,
    });
    m.routing_stage = FEATURES.into();
    m.routing_dim = 3;
    for p in &mut m.products {
        p.adapters = vec![crate::bundle::manifest::map_graph(&p.name)];
        // Variance 4 along the first axis (spread 2), 1 elsewhere.
        p.routing = crate::bundle::RoutingModel::Ppca {
            basis: vec![1.0, 0.0, 0.0],
            variances: vec![4.0],
            residual: 1.0,
        };
    }
    m.files.push(crate::bundle::FileEntry {
        path: "features.onnx".into(),
        sha256: "0".repeat(64),
        bytes: 0,
    });
    let maps: Vec<String> = m.products.iter().map(|p| p.adapters[0].clone()).collect();
    m.files.retain(|f| !f.path.starts_with("products/"));
    for path in maps {
        m.files.push(crate::bundle::FileEntry {
            path,
            sha256: "0".repeat(64),
            bytes: 0,
        });
    }
    m
}

/// The calls of one local-scoring frame routed to `cable`, its map graph answering `small`;
/// with `head`, the head graph then runs on `small` and answers an `[8, 8]` map and a score
/// of 1 (which the pipeline must not take: the score comes from `small`).
fn local_script(m: &Manifest, small: &Tensor, head: bool) -> Script {
    let image = frame_tensor(m);
    let t2 = fill(&[1, 2, 2, 2], 1.0);
    let t3 = fill(&[1, 3, 1, 1], 2.0);
    let features = fill(&[1, 5, 2, 2], 0.5);
    // Routing by the features graph's vector: bottle [0, 0, 0], cable [10, 0, 0], scale 0.5 on
    // the first axis: [9, 0, 0] is (1 * 0.5)^2 / 3 from cable.
    let mut calls = vec![
        Call::new("trunk", &[("image", &image)], &[("layer2", &t2)]),
        Call::new(
            "layer3",
            &[("x", &t2)],
            &[("y", &t3), ("pooled", &vector(&[99.0, 0.0, 0.0]))],
        ),
        Call::new(
            "features",
            &[("t0", &t2), ("t1", &t3)],
            &[
                ("features", &features),
                ("pooled", &vector(&[9.0, 0.0, 0.0])),
            ],
        ),
        Call::new("cable/map", &[("x", &features)], &[("map", small)]),
    ];
    if head {
        calls.push(Call::new(
            "head",
            &[("x", small)],
            &[
                ("map", &fill(&[1, 1, 8, 8], 0.75)),
                ("score", &Tensor::new(vec![1], vec![1.0]).expect("score")),
            ],
        ));
    }
    Script::new(calls)
}

fn local_graphs(script: &Script) -> Graphs {
    Graphs {
        trunk: boxed(script.runner("trunk")),
        later_stages: vec![boxed(script.runner("layer3"))],
        features: Some(boxed(script.runner("features"))),
        head: boxed(script.runner("head")),
        adapters: vec![
            vec![boxed(script.runner("bottle/map"))],
            vec![boxed(script.runner("cable/map"))],
        ],
    }
}

#[test]
fn local_scoring_runs_features_then_the_routed_products_map_then_the_head() {
    let m = local_manifest(&["bottle", "cable"]);
    m.validate(Path::new("(test)"))
        .expect("a consistent local manifest");
    let small = fill(&[1, 1, 2, 2], 0.25);
    let script = local_script(&m, &small, true);
    let mut p = Pipeline::new(m, local_graphs(&script)).expect("pipeline");
    let r = p.infer(&frame(), None);
    script.done();
    assert_eq!(r.product.as_deref(), Some("cable"), "{:?}", r.reason);
    assert!((r.distance - 0.25 / 3.0).abs() < 1e-6, "{}", r.distance);
    // A constant map upsamples and smooths to itself: the score is its value, not the head's.
    assert!((r.score - 0.25).abs() < 1e-6, "{}", r.score);
    assert_eq!((r.threshold, r.verdict), (2.0, Verdict::Pass));
    assert_eq!(r.map.expect("map").shape, vec![8, 8]);
    assert_eq!(r.coarse_map.expect("coarse map").shape, vec![2, 2]);
}

#[test]
fn without_full_maps_the_head_runs_only_when_the_map_is_completed() {
    let m = local_manifest(&["bottle", "cable"]);
    // Above the threshold of 2 at its peak only, so the verdict turns on the maximum.
    let small = Tensor::new(vec![1, 1, 2, 2], vec![0.0, 0.0, 0.0, 40.0]).expect("small");
    let script = local_script(&m, &small, true);
    let mut p = Pipeline::new(m, local_graphs(&script)).expect("pipeline");
    p.set_full_maps(false);
    let mut r = p.infer(&frame(), None);
    assert_eq!(r.product.as_deref(), Some("cable"), "{:?}", r.reason);
    assert!(r.map.is_none());
    assert_eq!(
        r.coarse_map.as_ref().map(|c| c.data.clone()),
        Some(small.data.clone())
    );
    // Bilinear upsampling keeps the corner at 40 before the blur, which spreads it out.
    assert!(r.score > 2.0 && r.score < 40.0, "{}", r.score);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.reason, Some(Reason::Anomaly));
    p.complete_map(&mut r).expect("the head runs");
    script.done();
    assert_eq!(r.map.expect("map").shape, vec![8, 8]);
}

#[test]
fn a_head_graph_whose_score_is_not_the_manifests_smoothing_is_refused() {
    let m = local_manifest(&["bottle", "cable"]);
    let probe = Tensor::new(vec![1, 1, 2, 2], super::head_probe(2, 2)).expect("probe");
    // The manifest's sigma 4, then a head that blurs with sigma 1 instead.
    let scores = [4.0, 1.0].map(|sigma| SmoothedMax::new((2, 2), (8, 8), sigma).max(&probe.data));
    assert!(
        (scores[0] - scores[1]).abs() > 10.0 * super::HEAD_SCORE_TOLERANCE * scores[0],
        "{scores:?}"
    );
    // The manifest's blur, the same within FP16 rounding, and the other blur.
    let cases = [
        (scores[0], true),
        (scores[0] * 1.001, true),
        (scores[1], false),
    ];
    for (score, accepted) in cases {
        let script = Script::new(vec![Call::new(
            "head",
            &[("x", &probe)],
            &[
                ("map", &fill(&[1, 1, 8, 8], score)),
                ("score", &Tensor::new(vec![1], vec![score]).expect("score")),
            ],
        )]);
        let mut p = Pipeline::new(m.clone(), local_graphs(&script)).expect("pipeline");
        let checked = p.check_head_score("head.onnx");
        script.done();
        match checked {
            Ok(()) => assert!(accepted, "a head scoring {score} was accepted"),
            Err(Error::GraphContract { graph, reason }) => {
                assert!(!accepted, "{reason}");
                assert_eq!(graph, "head.onnx");
                assert!(reason.contains("sigma 4"), "{reason}");
            }
            Err(other) => panic!("{other}"),
        }
    }
}

#[test]
fn a_smoothing_sigma_that_is_not_a_blur_of_the_input_is_refused() {
    for sigma in [f32::NAN, -1.0, 1e6] {
        let mut m = local_manifest(&["bottle"]);
        if let Scoring::Local(l) = &mut m.scoring {
            l.smooth_sigma = sigma;
        }
        let msg = m
            .validate(Path::new("b"))
            .expect_err("a bad sigma")
            .to_string();
        assert!(msg.contains(&format!("smoothing sigma {sigma}")), "{msg}");
    }
}

#[test]
fn local_scoring_needs_its_features_runner_and_one_map_per_product() {
    let m = local_manifest(&["bottle"]);
    let script = Script::new(vec![]);
    let graphs = |features: bool, maps: usize| Graphs {
        trunk: boxed(script.runner("trunk")),
        later_stages: vec![boxed(script.runner("layer3"))],
        features: features.then(|| boxed(script.runner("features"))),
        head: boxed(script.runner("head")),
        adapters: vec![(0..maps)
            .map(|_| boxed(script.runner("bottle/map")))
            .collect()],
    };
    let err = Pipeline::new(m.clone(), graphs(false, 1)).expect_err("no features runner");
    assert!(
        err.to_string().contains("features runner is missing"),
        "{err}"
    );
    let err = Pipeline::new(m.clone(), graphs(true, 2)).expect_err("two maps");
    assert!(err.to_string().contains("2 runners for 1 graphs"), "{err}");
    assert!(Pipeline::new(m.clone(), graphs(true, 1)).is_ok());
    // The manifest itself: a product with per-stage adapters under local scoring is refused.
    let mut bad = m;
    bad.products[0]
        .adapters
        .push("products/bottle/extra.onnx".into());
    let err = bad.validate(Path::new("(test)")).expect_err("two graphs");
    assert!(err.to_string().contains("its scoring needs 1"), "{err}");
}

/// An engine of fake runners: each graph file declares the names the bundle contract gives
/// it, except where `broken` says otherwise; every load is recorded.
struct FakeEngine {
    root: std::path::PathBuf,
    script: Script,
    loaded: std::sync::Mutex<Vec<String>>,
    broken: Option<(
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    )>,
}

impl FakeEngine {
    fn new(
        root: &Path,
        broken: Option<(
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
        )>,
    ) -> Self {
        Self {
            root: root.to_path_buf(),
            script: Script::default(),
            loaded: Default::default(),
            broken,
        }
    }
}

impl Engine for FakeEngine {
    fn describe(&self) -> String {
        "fake engine".into()
    }

    fn load(&self, path: &Path) -> Result<BoxedRunner> {
        let rel = path
            .strip_prefix(&self.root)
            .expect("a bundle file")
            .to_string_lossy()
            .into_owned();
        self.loaded.lock().unwrap().push(rel.clone());
        let (inputs, outputs): (Vec<&str>, Vec<&str>) = match rel.as_str() {
            "trunk.onnx" => (vec![IMAGE], vec!["layer2"]),
            "head.onnx" => (vec!["t0", "s0", "t1", "s1"], vec![MAP, SCORE]),
            stage if stage.starts_with("stages/") => (vec![X], vec![Y, POOLED]),
            _ => (vec![X], vec![Y]),
        };
        let (inputs, outputs) = match self.broken {
            Some((graph, i, o)) if graph == rel => (i.to_vec(), o.to_vec()),
            _ => (inputs, outputs),
        };
        Ok(Box::new(
            self.script.runner_with_io(&rel, &inputs, &outputs),
        ))
    }
}

#[test]
fn a_pipeline_is_built_from_a_bundle_and_any_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = crate::bundle::tests::write_bundle(dir.path(), &["bolt", "nut"]);
    let bundle = Bundle::open(dir.path()).expect("open");
    let engine = FakeEngine::new(dir.path(), None);
    let pipeline = Pipeline::with_engine(&bundle, &engine).expect("pipeline");
    assert_eq!(pipeline.manifest().products.len(), 2);
    // One load per graph file of the manifest: trunk, later stage, head, 2 x 2 adapters.
    let loaded = engine.loaded.lock().unwrap().clone();
    let graphs = 3 + manifest
        .products
        .iter()
        .map(|p| p.adapters.len())
        .sum::<usize>();
    assert_eq!(loaded.len(), graphs, "{loaded:?}");
    engine.script.done();
}

#[test]
fn a_graph_breaking_the_contract_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::bundle::tests::write_bundle(dir.path(), &["bolt"]);
    let bundle = Bundle::open(dir.path()).expect("open");
    let engine = FakeEngine::new(
        dir.path(),
        Some(("head.onnx", &["t0", "s0", "t1", "s1"], &[MAP])),
    );
    let err = Pipeline::with_engine(&bundle, &engine).expect_err("no score output");
    let text = err.to_string();
    assert!(
        text.contains("head.onnx") && text.contains("score"),
        "{text}"
    );
    let engine = FakeEngine::new(dir.path(), Some(("trunk.onnx", &["pixels"], &["layer2"])));
    let text = Pipeline::with_engine(&bundle, &engine)
        .expect_err("wrong input")
        .to_string();
    assert!(
        text.contains("trunk.onnx") && text.contains("pixels"),
        "{text}"
    );
}
