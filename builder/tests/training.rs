//! Training building blocks against independent oracles: candle's own autograd, finite
//! differences, hand-computed values.

use adapts_builder::model::adapter::{orthogonal, AdapterKind, AdapterParams};
use adapts_builder::model::graph::{interpolation_matrix, Eval, Graph};
use adapts_builder::model::nn::{Conv2d, Padding};
use adapts_builder::model::weights::random_trunk;
use adapts_builder::model::{Arch, Cut, EfficientNetLiteConfig, Trunk, WideResNetConfig};
use adapts_builder::train::calibrate::youden_threshold;
use adapts_builder::train::frozen::Frozen;
use adapts_builder::train::loss::focal_l1;
use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Gradient of `sum(stage(x) * w)` w.r.t. `x`, through `g`.
fn input_grad<G: Graph<Value = Tensor>>(
    g: &mut G,
    trunk: &Trunk,
    stage: usize,
    x: &Tensor,
    w: &Tensor,
) -> Tensor {
    let v = Var::from_tensor(x).unwrap();
    let y = trunk.stage(g, stage, v.as_tensor()).unwrap();
    let loss = (y * w).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    grads.get(v.as_tensor()).unwrap().clone()
}

#[test]
fn frozen_stages_give_the_same_input_gradient_as_candle_autograd() {
    // WRN layer2 (3x3 stride 2, 1x1 downsample) and Lite0 stride16 (depthwise 5x5, TF padding).
    let cases = [
        (
            Arch::WideResNet(WideResNetConfig::tiny()),
            1,
            (2, 32, 16, 16),
        ),
        (
            Arch::EfficientNetLite(EfficientNetLiteConfig::tiny()),
            2,
            (2, 16, 8, 8),
        ),
    ];
    for (arch, stage, shape) in cases {
        let x = Tensor::randn(0f32, 1., shape, &Device::Cpu).unwrap();
        let trunk = random_trunk(arch, Cut::Stage(stage), 5).unwrap();
        let y = trunk.stage(&mut Eval, stage, &x).unwrap();
        let w = Tensor::randn(0f32, 1., y.shape(), &Device::Cpu).unwrap();
        let ours = input_grad(&mut Frozen, &trunk, stage, &x, &w);
        let reference = input_grad(&mut Eval, &trunk, stage, &x, &w);
        let scale = reference
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let diff = max_abs_diff(&ours, &reference);
        assert!(
            diff <= 1e-4 * scale,
            "{arch:?} stage {stage}: {diff} vs scale {scale}"
        );
        // Same forward values too.
        assert!(max_abs_diff(&trunk.stage(&mut Frozen, stage, &x).unwrap(), &y) < 1e-5);
    }
}

/// The depthwise kernel's backward is ours in both graphs above; finite differences check it
/// on a lone depthwise convolution (linear, so central differences are exact up to rounding).
#[test]
fn depthwise_input_gradient_matches_finite_differences() {
    for (k, stride, padding) in [(3, 1, Padding::Symmetric(1)), (5, 2, Padding::TfSame)] {
        let c = 3;
        let conv = Conv2d {
            name: "dw".into(),
            weight: Tensor::randn(0f32, 1., (c, 1, k, k), &Device::Cpu).unwrap(),
            bias: None,
            stride,
            padding,
            groups: c,
            int8_scales: None,
        };
        let x = Tensor::randn(0f32, 1., (1, c, 7, 7), &Device::Cpu).unwrap();
        let y = Eval.conv2d(&x, &conv).unwrap();
        let w = Tensor::randn(0f32, 1., y.shape(), &Device::Cpu).unwrap();
        let v = Var::from_tensor(&x).unwrap();
        let loss = (Eval.conv2d(v.as_tensor(), &conv).unwrap() * &w)
            .unwrap()
            .sum_all()
            .unwrap();
        let grad: Vec<f32> = loss
            .backward()
            .unwrap()
            .get(v.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let f = |x: &Tensor| -> f64 {
            f64::from(
                (Eval.conv2d(x, &conv).unwrap() * &w)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
            )
        };
        let base: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        for i in 0..base.len() {
            let shifted = |d: f32| {
                let mut v = base.clone();
                v[i] += d;
                Tensor::from_vec(v, (1, c, 7, 7), &Device::Cpu).unwrap()
            };
            let numeric = (f(&shifted(0.5)) - f(&shifted(-0.5))) / 1.0;
            assert!(
                (numeric - f64::from(grad[i])).abs() < 1e-3,
                "k{k} s{stride} x[{i}]: numeric {numeric}, analytic {}",
                grad[i]
            );
        }
    }
}

#[test]
fn bilinear_matrix_matches_torch_half_pixel_interpolation() {
    // torch.nn.functional.interpolate(torch.tensor([[[[1., 2.]]]]), size=(1, 4),
    //   mode="bilinear", align_corners=False) -> [1.0, 1.25, 1.75, 2.0]
    let m = interpolation_matrix(4, 2);
    let out: Vec<f32> = (0..4).map(|i| m[i * 2] + 2.0 * m[i * 2 + 1]).collect();
    assert_eq!(out, vec![1.0, 1.25, 1.75, 2.0]);
    // Downsampling 4 -> 2 without antialias picks the midpoints: [1.5, 3.5] of [1, 2, 3, 4].
    let m = interpolation_matrix(2, 4);
    let out: Vec<f32> = (0..2)
        .map(|i| (0..4).map(|j| m[i * 4 + j] * (j + 1) as f32).sum())
        .collect();
    assert_eq!(out, vec![1.5, 3.5]);
}

#[test]
fn folded_adapter_equals_the_batchnorm_formula() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut params =
        AdapterParams::new(6, AdapterKind::Bottleneck { ratio: 0.5 }, &mut rng).unwrap();
    // A few training passes move the running statistics away from (0, 1).
    for _ in 0..3 {
        let x = Tensor::randn(0.5f32, 2., (4, 6, 3, 3), &Device::Cpu).unwrap();
        params.forward_train(&x).unwrap();
    }
    let adapter = params.to_inference("stage").unwrap();
    let x = Tensor::randn(0f32, 1., (2, 6, 3, 3), &Device::Cpu).unwrap();
    let ours = adapter.forward(&mut Eval, &x).unwrap();
    // Detached from the training variables: scoring with it records no graph (which would
    // keep every intermediate activation alive as long as the output).
    assert!(
        !ours.track_op(),
        "deployable adapter output tracks its graph"
    );

    // Oracle: the unfolded formula with running statistics, pixel by pixel, in f64.
    let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (w1, b1, w2, b2) = (
        v(params.w1.as_tensor()),
        v(params.b1.as_tensor()),
        v(params.w2.as_tensor()),
        v(params.b2.as_tensor()),
    );
    let (gamma, beta) = (v(params.gamma.as_tensor()), v(params.beta.as_tensor()));
    let (rm, rv) = params.running_stats();
    let (rm, rv) = (v(&rm), v(&rv));
    let xs = v(&x);
    let got = v(&ours);
    let (c, l) = (6, 3);
    for n in 0..2 {
        for p in 0..9 {
            let xv: Vec<f64> = (0..c)
                .map(|ch| f64::from(xs[n * 54 + ch * 9 + p]))
                .collect();
            let h: Vec<f64> = (0..l)
                .map(|j| {
                    let z = (0..c)
                        .map(|ch| f64::from(w1[j * c + ch]) * xv[ch])
                        .sum::<f64>()
                        + f64::from(b1[j]);
                    let bn = f64::from(gamma[j]) * (z - f64::from(rm[j]))
                        / (f64::from(rv[j]) + 1e-5).sqrt()
                        + f64::from(beta[j]);
                    bn.max(0.0)
                })
                .collect();
            for ch in 0..c {
                let y = xv[ch]
                    + (0..l)
                        .map(|j| f64::from(w2[ch * l + j]) * h[j])
                        .sum::<f64>()
                    + f64::from(b2[ch]);
                let g = f64::from(got[n * 54 + ch * 9 + p]);
                assert!((y - g).abs() < 1e-4, "n{n} p{p} c{ch}: {g} vs {y}");
            }
        }
    }
}

#[test]
fn orthogonal_init_has_orthonormal_rows_or_columns() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (r, c) in [(4, 9), (9, 4), (5, 5)] {
        let m = orthogonal(r, c, &mut rng);
        // Entry (i, j) of the matrix, and the vectors to check: rows when r <= c, else columns.
        let at = |i: usize, j: usize| m[i * c + j];
        let (k, len) = if r <= c { (r, c) } else { (c, r) };
        let dot = |a: usize, b: usize| -> f32 {
            (0..len)
                .map(|i| {
                    if r <= c {
                        at(a, i) * at(b, i)
                    } else {
                        at(i, a) * at(i, b)
                    }
                })
                .sum()
        };
        for a in 0..k {
            for b in 0..k {
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot(a, b) - want).abs() < 1e-5, "{r}x{c} ({a},{b})");
            }
        }
    }
}

#[test]
fn focal_plus_l1_matches_hand_computation() {
    let p = Tensor::new(&[0.9f32, 0.2, 0.6, 0.5], &Device::Cpu).unwrap();
    let y = Tensor::new(&[1f32, 0., 0., 1.], &Device::Cpu).unwrap();
    let got = f64::from(focal_l1(&p, &y, 4.0).unwrap().to_scalar::<f32>().unwrap());
    let pt = [0.9f64, 0.8, 0.4, 0.5];
    let focal: f64 = pt.iter().map(|&q| -q.ln() * (1.0 - q).powi(4)).sum::<f64>() / 4.0;
    let l1 = (0.1 + 0.2 + 0.6 + 0.5) / 4.0;
    assert!((got - (focal + l1)).abs() < 1e-5, "{got} vs {}", focal + l1);
}

#[test]
fn youden_threshold_separates_and_falls_back_to_the_normal_maximum() {
    let t = youden_threshold(&[0.1, 0.2, 0.3], &[0.5, 0.6]);
    assert!(t > 0.3 && t < 0.5, "{t}");
    // Nothing separates: no normal image may be flagged.
    assert_eq!(youden_threshold(&[0.5, 0.9], &[0.1, 0.2]), 0.9);
}

#[test]
fn normal_quantiles_match_published_values() {
    use adapts_builder::train::calibrate::{normal_cdf, normal_quantile};
    // Standard normal table values.
    for (p, z) in [
        (0.5, 0.0),
        (0.9, 1.281_551_6),
        (0.99, 2.326_347_9),
        (0.999, 3.090_232_3),
    ] {
        assert!(
            (normal_quantile(p) - z).abs() < 1e-6,
            "{p}: {}",
            normal_quantile(p)
        );
        assert!((normal_cdf(z) - p).abs() < 2e-7, "{z}: {}", normal_cdf(z));
    }
    assert!((normal_cdf(-1.959_964) - 0.025).abs() < 2e-7);
}

#[test]
fn binomial_upper_bounds_match_scipy() {
    use adapts_builder::train::calibrate::binomial_upper_bound;
    // scipy.stats.beta.ppf(0.95, k + 1, n - k): the Clopper-Pearson one-sided bound.
    for (k, n, want) in [
        (0, 114, 0.025_936_082_013_628_44),
        (2, 114, 0.054_194_876_584_268_34),
        (0, 12, 0.220_922_191_945_555_85),
        (5, 20, 0.455_582_404_001_748_9),
        (1, 3, 0.864_649_637_828_416_1),
        (0, 1, 0.95),
    ] {
        let got = binomial_upper_bound(k, n, 0.05);
        assert!(
            (got - want).abs() < 1e-9,
            "k {k} n {n}: {got} against {want}"
        );
    }
    assert_eq!(binomial_upper_bound(3, 3, 0.05), 1.0);
    assert_eq!(binomial_upper_bound(0, 0, 0.05), 1.0);
}

#[test]
fn false_reject_rule_sets_mean_plus_z_std_with_its_margin_and_floor() {
    use adapts_builder::train::calibrate::{ExpectedRates, ThresholdRule};
    // Normals 1..=9: mean 5, population std sqrt(20/3); z(0.99) = 2.3263.
    let normal: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let std = (20.0f64 / 3.0).sqrt();
    let rule: ThresholdRule = "frr:0.01:0".parse().unwrap();
    let t = rule.threshold(&normal, &[]);
    assert!(
        (f64::from(t) - (5.0 + 2.326_347_9 * std)).abs() < 1e-4,
        "{t}"
    );
    // The default margin is 5 %; with too few images for the quantile, the rule never goes
    // below the largest normal.
    let with_margin = ThresholdRule::default().threshold(&normal, &[]);
    assert!((with_margin / t - 1.05).abs() < 1e-6);
    let few: ThresholdRule = "frr:0.05:0".parse().unwrap();
    let s5 = 5.0 + 1.644_853_6 * std;
    assert!((f64::from(few.threshold(&normal, &[])) - s5.max(9.0)).abs() < 1e-4);
    // With enough images, the interpolated quantile: 200 normals 1..=200, 99 % -> 198.01.
    let many: Vec<f32> = (1..=200).map(|v| v as f32).collect();
    let q = "frr:0.01:0"
        .parse::<ThresholdRule>()
        .unwrap()
        .threshold(&many, &[]);
    assert!((q - 198.01).abs() < 1e-3, "{q}");
    let loose: ThresholdRule = "frr:0.4:0".parse().unwrap();
    // 9 images x 0.4 >= 1: the 60 % quantile of 1..=9 is 5.8.
    assert!((loose.threshold(&normal, &[]) - 5.8).abs() < 1e-5);
    // Expected rates at that threshold; none of the nine normals is above it.
    let r = ExpectedRates::of(t, &normal, &[2.0, 20.0, 30.0, t]);
    let bound = adapts_builder::train::calibrate::binomial_upper_bound(0, 9, 0.05);
    assert!((r.false_reject_upper - bound).abs() < 1e-12, "{r:?}");
    assert_eq!(r.false_reject_validation, 0.0);
    assert_eq!(r.escape_synthetic, 0.5);
    // Parsing names what is wrong.
    assert_eq!(
        "YOUDEN".parse::<ThresholdRule>().unwrap(),
        ThresholdRule::Youden
    );
    for bad in ["frr", "frr:x", "frr:0.7", "frr:0.01:-1", "max"] {
        assert!(bad.parse::<ThresholdRule>().is_err(), "{bad}");
    }
}
