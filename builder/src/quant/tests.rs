//! The quantized graph in ONNX Runtime (integer kernels) against a fake-quantised candle
//! reference of the same arithmetic, and the rewrite's structure.

use std::collections::HashMap;

use adapts_calibration::{
    fake_quantize, fake_quantize_per_channel, PerChannelParams, QuantDtype, QuantParams,
};
use adapts_runtime::{OrtSession, SessionConfig, Tensor as RtTensor};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::export::onnx::{self, proto::ModelProto, OnnxGraph};
use crate::model::graph::Graph;
use crate::model::local::conv1x1;
use crate::model::nn::{BatchNorm2d, Conv2d, Padding};
use crate::quant::observe::Observation;
use crate::quant::{all_int8, apply, prepare, Method, Prepared, Scheme};

const C: usize = 4;
const HW: usize = 6;

fn random(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| rng.random_range(-1.0f32..1.0) * scale)
        .collect()
}

fn tensor(values: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

struct Block {
    conv1: Conv2d,
    bn: BatchNorm2d,
    conv2: Conv2d,
}

/// x -> Conv 3x3 (8 ch) -> BN -> ReLU -> Conv 1x1 (C ch) -> + x.
fn block(rng: &mut ChaCha8Rng) -> Block {
    let conv1 = Conv2d {
        name: "c1".into(),
        weight: tensor(random(rng, 8 * C * 9, 0.4), &[8, C, 3, 3]),
        bias: None,
        stride: 1,
        padding: Padding::Symmetric(1),
        groups: 1,
        int8_scales: None,
    };
    let bn = BatchNorm2d {
        name: "bn".into(),
        weight: tensor(random(rng, 8, 0.5).iter().map(|v| v + 1.0).collect(), &[8]),
        bias: tensor(random(rng, 8, 0.3), &[8]),
        running_mean: tensor(random(rng, 8, 0.2), &[8]),
        running_var: tensor(random(rng, 8, 0.2).iter().map(|v| v + 0.8).collect(), &[8]),
        eps: 1e-3,
    };
    let conv2 = conv1x1(
        "c2",
        tensor(random(rng, C * 8, 0.5), &[C, 8, 1, 1]),
        Some(tensor(random(rng, C, 0.1), &[C])),
    );
    Block { conv1, bn, conv2 }
}

fn model(b: &Block) -> ModelProto {
    let mut g = OnnxGraph::new();
    let x = g.input("x", &[1, C, HW, HW]);
    let y = g.conv2d(&x, &b.conv1).unwrap();
    let y = g.batch_norm(&y, &b.bn).unwrap();
    let y = g.relu(&y).unwrap();
    let y = g.conv2d(&y, &b.conv2).unwrap();
    let y = g.add(&y, &x).unwrap();
    g.finish("block", &[("y", &y)], &[])
}

fn run(model: &ModelProto, x: &[f32]) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    std::fs::write(&path, onnx::encode(model)).unwrap();
    let mut s = OrtSession::load(&path, &SessionConfig::default()).unwrap();
    let input = RtTensor::new(vec![1, C, HW, HW], x.to_vec()).unwrap();
    s.run(&[("x", &input)]).unwrap().remove(0).1.data
}

fn op_types(model: &ModelProto) -> Vec<&str> {
    let graph = model.graph.as_ref().unwrap();
    graph.node.iter().map(|n| n.op_type.as_str()).collect()
}

/// An observation of `prepared` fed `samples` as the input `x`.
fn observed(prepared: &Prepared, method: Method, samples: &[Vec<f32>]) -> Observation {
    let mut obs = Observation::new(prepared, method).unwrap();
    for s in samples {
        let x = RtTensor::new(vec![1, C, HW, HW], s.clone()).unwrap();
        obs.feed(&[("x", &x)]).unwrap();
    }
    obs
}

fn fq(t: &Tensor, p: &QuantParams) -> Tensor {
    tensor(fake_quantize(&values(t), p), t.dims())
}

/// A tensor's values, flattened.
fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// The largest magnitude of each of `channels` output channels of weights `w`.
fn channel_amax(w: &[f32], channels: usize) -> Vec<f32> {
    w.chunks(w.len() / channels)
        .map(|c| c.iter().fold(0f32, |m, v| m.max(v.abs())))
        .collect()
}

/// Root-mean-square difference between `quantized` and `float` over `samples`, relative to
/// `float`'s.
fn relative_error(float: &ModelProto, quantized: &ModelProto, samples: &[Vec<f32>]) -> f64 {
    let (mut err, mut norm) = (0f64, 0f64);
    for s in samples {
        for (a, q) in run(float, s).iter().zip(&run(quantized, s)) {
            err += f64::from(a - q).powi(2);
            norm += f64::from(*a).powi(2);
        }
    }
    (err / norm).sqrt()
}

/// Folded, per-channel fake-quantised weight and INT32-rounded bias of a convolution.
fn fq_conv(w: &[f32], shape: &[usize], b: &[f32], input_scale: f32) -> (Tensor, Tensor) {
    let amax = channel_amax(w, shape[0]);
    // Integer kernels multiply these weights: 63 levels a side (x86 without VNNI saturates
    // on more).
    let channels = amax
        .iter()
        .map(|&a| QuantParams::new(a / 63.0, 0, QuantDtype::Int8).unwrap())
        .collect();
    let pc = PerChannelParams::from_channels(channels).unwrap();
    let wq = fake_quantize_per_channel(w, shape, &pc).unwrap();
    let bq: Vec<f32> = b
        .iter()
        .zip(pc.scales())
        .map(|(&v, s)| {
            let step = s * input_scale;
            (v / step).round() * step
        })
        .collect();
    (tensor(wq, shape), tensor(bq, &[shape[0], 1, 1]))
}

#[test]
fn quantized_graph_matches_a_fake_quantised_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let b = block(&mut rng);
    let float = model(&b);
    let prepared = prepare(&float, Scheme::Uint8, &all_int8).unwrap();
    // x, conv1 (+BN+ReLU) output, conv2 output; the sum is returned and stays float.
    let names: Vec<String> = prepared
        .calibrated_tensors()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let samples: Vec<Vec<f32>> = (0..6).map(|_| random(&mut rng, C * HW * HW, 1.5)).collect();
    let obs = observed(&prepared, Method::MinMax, &samples);
    let params = obs.params(&prepared, Scheme::Uint8).unwrap();
    let quantized = apply(&prepared, &params).unwrap();
    let ops = op_types(&quantized);
    assert!(
        !ops.contains(&"BatchNormalization") && !ops.contains(&"Relu"),
        "{ops:?}"
    );
    assert_eq!(ops.iter().filter(|o| **o == "QuantizeLinear").count(), 3);

    let p: Vec<QuantParams> = names.iter().map(|n| params[n]).collect();
    // The reference: BN folded by hand, every quantization step done in f32 by candle.
    let w1 = values(&b.conv1.weight);
    let gamma = b.bn.weight.to_vec1::<f32>().unwrap();
    let beta = b.bn.bias.to_vec1::<f32>().unwrap();
    let mean = b.bn.running_mean.to_vec1::<f32>().unwrap();
    let var = b.bn.running_var.to_vec1::<f32>().unwrap();
    let per = C * 9;
    let mut w1f = w1.clone();
    let mut b1f = vec![0f32; 8];
    for c in 0..8 {
        let k = gamma[c] / (var[c] + 1e-3).sqrt();
        w1f[c * per..(c + 1) * per].iter_mut().for_each(|v| *v *= k);
        b1f[c] = -mean[c] * k + beta[c];
    }
    let (w1q, b1q) = fq_conv(&w1f, &[8, C, 3, 3], &b1f, p[0].scale());
    let w2 = values(&b.conv2.weight);
    let b2 = b.conv2.bias.as_ref().unwrap().to_vec1::<f32>().unwrap();
    let (w2q, b2q) = fq_conv(&w2, &[C, 8, 1, 1], &b2, p[1].scale());
    let mut worst = 0f32;
    for s in &samples {
        let x = fq(&tensor(s.clone(), &[1, C, HW, HW]), &p[0]);
        let y1 = x
            .conv2d(&w1q, 1, 1, 1, 1)
            .unwrap()
            .broadcast_add(&b1q)
            .unwrap();
        let y1 = fq(&y1, &p[1]);
        let y2 = y1
            .conv2d(&w2q, 0, 1, 1, 1)
            .unwrap()
            .broadcast_add(&b2q)
            .unwrap();
        let y2 = fq(&y2, &p[2]);
        let y = (y2 + &x).unwrap();
        let reference = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let got = run(&quantized, s);
        for (r, g) in reference.iter().zip(&got) {
            worst = worst.max((r - g).abs());
        }
    }
    // Integer kernels requantize with their own rounding: at most one step of conv2 apart.
    assert!(
        worst <= 1.01 * p[2].scale(),
        "worst {worst}, step {}",
        p[2].scale()
    );
}

#[test]
fn quantized_graph_stays_close_to_the_float_graph() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let b = block(&mut rng);
    let float = model(&b);
    for scheme in [Scheme::Uint8, Scheme::Int8] {
        let prepared = prepare(&float, scheme, &all_int8).unwrap();
        let samples: Vec<Vec<f32>> = (0..8).map(|_| random(&mut rng, C * HW * HW, 1.0)).collect();
        let obs = observed(&prepared, Method::MinMax, &samples);
        let params = obs.params(&prepared, scheme).unwrap();
        let quantized = apply(&prepared, &params).unwrap();
        let relative = relative_error(&float, &quantized, &samples);
        assert!(relative < 0.05, "{scheme}: relative error {relative}");
        let ops = op_types(&quantized);
        assert_eq!(
            ops.contains(&"Relu"),
            scheme == Scheme::Int8,
            "{scheme}: {ops:?}"
        );
    }
}

/// Every INT8 initializer of `model` (weights and zero points) as signed levels.
fn int8_levels(model: &ModelProto) -> Vec<i8> {
    let graph = model.graph.as_ref().unwrap();
    graph
        .initializer
        .iter()
        .filter(|t| t.data_type == onnx::proto::data_type::INT8)
        .flat_map(|t| t.raw_data.iter().map(|&b| b as i8))
        .collect()
}

#[test]
fn weights_that_integer_kernels_multiply_use_63_levels_even_when_stored_as_int8() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut b = block(&mut rng);
    // conv2 arrives with INT8 weights behind a DequantizeLinear, as a product map stores them:
    // full-range levels, which the rewrite must quantize again.
    let w = values(&b.conv2.weight);
    let pc = PerChannelParams::symmetric_int8(&channel_amax(&w, C)).unwrap();
    let stored = fake_quantize_per_channel(&w, &[C, 8, 1, 1], &pc).unwrap();
    b.conv2.weight = tensor(stored, &[C, 8, 1, 1]);
    b.conv2.int8_scales = Some(pc.scales());
    let float = model(&b);
    assert!(
        int8_levels(&float).iter().any(|&q| q.unsigned_abs() > 63),
        "the stored weights use the full range"
    );
    for scheme in [Scheme::Uint8, Scheme::Int8] {
        let prepared = prepare(&float, scheme, &all_int8).unwrap();
        let samples: Vec<Vec<f32>> = (0..8).map(|_| random(&mut rng, C * HW * HW, 1.0)).collect();
        let obs = observed(&prepared, Method::MinMax, &samples);
        let quantized = apply(&prepared, &obs.params(&prepared, scheme).unwrap()).unwrap();
        let levels = int8_levels(&quantized);
        assert!(!levels.is_empty());
        assert!(
            levels.iter().all(|&q| q.unsigned_abs() <= 63),
            "{scheme}: a level beyond 63"
        );
        let relative = relative_error(&float, &quantized, &samples);
        assert!(relative < 0.05, "{scheme}: relative error {relative}");
    }
}

#[test]
fn missing_parameters_name_the_tensor() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let prepared = prepare(&model(&block(&mut rng)), Scheme::Uint8, &all_int8).unwrap();
    let err = apply(&prepared, &HashMap::new()).unwrap_err().to_string();
    assert!(
        err.contains("no calibration parameters for tensor `x`"),
        "{err}"
    );
}

#[test]
fn tensorrt_cache_lists_every_tensor_with_symmetric_scales() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let prepared = prepare(&model(&block(&mut rng)), Scheme::Uint8, &all_int8).unwrap();
    let mut obs = Observation::new(&prepared, Method::MinMax).unwrap();
    let s = random(&mut rng, C * HW * HW, 2.0);
    let amax = s.iter().fold(0f32, |m, v| m.max(v.abs()));
    obs.feed(&[("x", &RtTensor::new(vec![1, C, HW, HW], s).unwrap())])
        .unwrap();
    let cache = obs.tensorrt_cache(Method::MinMax, 8502).unwrap().unwrap();
    assert_eq!(cache.scale("x"), Some(amax / 127.0));
    // x, Conv (BN folded), ReLU, Conv, Add, and the output Identity.
    assert_eq!(cache.len(), 6);
    let parsed = adapts_calibration::CalibrationCache::parse(&cache.to_text()).unwrap();
    assert_eq!(parsed, cache);
    assert!(obs
        .tensorrt_cache(Method::Percentile, 8502)
        .unwrap()
        .is_none());
}

#[test]
// In this module because the builder traces graphs with their multiply-accumulate counts.
fn light_graphs_run_on_one_thread_unless_threads_are_set() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.onnx");
    std::fs::write(&small, onnx::encode(&model(&block(&mut rng)))).unwrap();
    // 64 -> 64 channels, 3x3, at 64 x 64: 151 M multiply-accumulates.
    let mut g = OnnxGraph::new();
    let x = g.input("x", &[1, 64, 64, 64]);
    let conv = Conv2d {
        name: "big".into(),
        weight: tensor(random(&mut rng, 64 * 64 * 9, 0.1), &[64, 64, 3, 3]),
        bias: None,
        stride: 1,
        padding: Padding::Symmetric(1),
        groups: 1,
        int8_scales: None,
    };
    let y = g.conv2d(&x, &conv).unwrap();
    let big = dir.path().join("big.onnx");
    std::fs::write(&big, onnx::encode(&g.finish("big", &[("y", &y)], &[]))).unwrap();

    let auto = SessionConfig::default();
    let load = |p: &std::path::Path, c: &SessionConfig| OrtSession::load(p, c).unwrap();
    assert_eq!(load(&small, &auto).intra_op_threads(), Some(1));
    assert_eq!(load(&big, &auto).intra_op_threads(), None);
    let two = SessionConfig {
        intra_op_threads: Some(2),
        ..SessionConfig::default()
    };
    assert_eq!(load(&small, &two).intra_op_threads(), Some(2));
}
