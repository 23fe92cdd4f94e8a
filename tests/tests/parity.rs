//! Parity: every exported trunk output, run by ONNX Runtime through the device engine,
//! matches the candle forward to <= 1e-4 of max |y|.

use adapts_builder::export::trunk::{export_trunk, IMAGE, LOGITS, POOLED};
use adapts_builder::model::graph::Eval;
use adapts_builder::model::weights::random_trunk;
use adapts_builder::model::{Arch, Cut, EfficientNetLiteConfig, TrunkKind, WideResNetConfig};
use adapts_runtime::{OrtSession, SessionConfig};
use adapts_tests::{relative_error, to_runtime};
use candle_core::{Device, Tensor};

const TOLERANCE: f32 = 1e-4;

fn check_parity(label: &str, arch: Arch, cut: Cut, size: usize, batch: usize) {
    let trunk = random_trunk(arch, cut, 7).unwrap();
    let export = export_trunk(&trunk, size, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{label}-{size}.onnx"));
    export.write(&path).unwrap();

    let x = Tensor::randn(0f32, 1., (batch, 3, size, size), &Device::Cpu).unwrap();
    let reference = trunk.forward(&mut Eval, &x).unwrap();
    let mut expected: Vec<(String, Tensor)> = reference.stages.clone();
    expected.push((POOLED.into(), reference.pooled.clone()));
    if let Some(l) = &reference.logits {
        expected.push((LOGITS.into(), l.clone()));
    }

    let mut session =
        OrtSession::load(&path, &SessionConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let outputs = session.run(&[(IMAGE, &to_runtime(&x))]).unwrap();
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, want, "{label}: output names");
    for ((name, got), (_, want)) in outputs.iter().zip(&expected) {
        let err = relative_error(got, &to_runtime(want));
        eprintln!("{label} {size}px {name}: relative error {err:.2e}");
        assert!(
            err <= TOLERANCE,
            "{label} {name}: relative error {err:e} > {TOLERANCE:e}"
        );
    }
}

#[test]
fn wide_resnet_reduced_width_all_stages() {
    let arch = Arch::WideResNet(WideResNetConfig::tiny());
    check_parity("wrn-tiny-full", arch, Cut::Classifier, 64, 2);
    check_parity("wrn-tiny-layer2", arch, Cut::Stage(1), 96, 1);
}

#[test]
fn wide_resnet50_2_full_width_to_layer2() {
    check_parity(
        "wrn50-2-layer2",
        TrunkKind::Wrn50_2.arch(),
        Cut::Stage(1),
        224,
        1,
    );
}

#[test]
fn effnet_lite_reduced_width_all_stages() {
    let arch = Arch::EfficientNetLite(EfficientNetLiteConfig::tiny());
    check_parity("lite-tiny-full", arch, Cut::Classifier, 64, 2);
    check_parity("lite-tiny-stride8", arch, Cut::Stage(1), 96, 1);
}

#[test]
fn effnet_lite0_full_size_with_classifier() {
    check_parity(
        "lite0-full",
        TrunkKind::EffnetLite0.arch(),
        Cut::Classifier,
        224,
        1,
    );
    check_parity(
        "lite0-stride16",
        TrunkKind::EffnetLite0.arch(),
        Cut::Stage(2),
        256,
        2,
    );
}

#[test]
fn pretrained_effnet_lite0_logits_match_on_a_photo() {
    use adapts_builder::model::check::default_normalization;
    use adapts_builder::model::weights::Checkpoint;
    use adapts_runtime::preprocess::{load_rgb, Preprocess};

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let weights = root.join("weights/efficientnet-lite0.pth");
    assert!(
        weights.exists(),
        "{} not found: run scripts/setup.sh",
        weights.display()
    );
    let kind = TrunkKind::EffnetLite0;
    let trunk = Checkpoint::load(&weights)
        .unwrap()
        .build_trunk(kind.arch(), Cut::Classifier)
        .unwrap();
    let export = export_trunk(&trunk, 224, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lite0-pretrained.onnx");
    export.write(&path).unwrap();

    let img = load_rgb(&root.join("tests/data/cat.jpg")).unwrap();
    let px = Preprocess::imagenet_eval(224, default_normalization(kind)).apply(&img);
    let x = Tensor::from_vec(px, (1, 3, 224, 224), &Device::Cpu).unwrap();
    let want = trunk.forward(&mut Eval, &x).unwrap().logits.unwrap();
    let mut session = OrtSession::load(&path, &SessionConfig::default()).unwrap();
    let out = session.run(&[(IMAGE, &to_runtime(&x))]).unwrap();
    let (_, got) = out.iter().find(|(n, _)| n == LOGITS).unwrap();
    let want = to_runtime(&want);
    let err = relative_error(got, &want);
    assert!(
        err <= TOLERANCE,
        "pretrained logits: relative error {err:e}"
    );
    let argmax = |t: &adapts_runtime::Tensor| {
        t.data
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap()
    };
    assert_eq!(argmax(got), argmax(&want));
}
