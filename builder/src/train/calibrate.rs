//! Per-product decisions from normal data only: the routing prototype and radius, the INT8
//! weights, and the score threshold set on held-out normal images and synthetic anomalies.

use adapts_calibration::{fake_quantize_per_channel, PerChannelParams};
use adapts_runtime::bundle::manifest::ScoreStats;
use candle_core::Tensor;
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::model::adapter::Adapter;
use crate::model::nn::Conv2d;
use crate::train::{score_images, ProductSetup};
use crate::Result;

/// Routing radius = largest squared distance of a normal (train or validation) image to
/// its prototype, times this margin.
pub const RADIUS_MARGIN: f32 = 2.0;
/// Synthetic anomalies drawn per validation image.
const ANOMALIES_PER_VAL_IMAGE: usize = 2;
const VAL_SALT: u64 = 0xca11_b4a7;

/// A product's routing and decision parameters, set from normal images only.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// Mean pooled teacher vector of the training images (length `routing_dim`).
    pub prototype: Vec<f32>,
    /// Largest squared distance of a normal image's pooled vector to `prototype`, times
    /// [`RADIUS_MARGIN`].
    pub routing_radius: f32,
    /// Image score above which an image is anomalous (Youden's J on validation scores).
    pub threshold: f32,
    /// Statistics of the normal validation scores.
    pub normal: ScoreStats,
    /// Image scores of the normal validation images.
    pub val_normal_scores: Vec<f32>,
    /// Image scores of the synthetic anomalies made from the validation images.
    pub val_anomaly_scores: Vec<f32>,
}

/// Prototype, radius and threshold for a trained product.
pub fn calibrate(
    setup: &ProductSetup,
    adapters: &[Adapter],
    train_pooled: &Tensor,
    val: &[RgbImage],
    seed: u64,
) -> Result<Calibration> {
    let prototype = train_pooled.mean(0)?;
    let proto: Vec<f32> = prototype.to_vec1()?;
    let refs: Vec<&RgbImage> = val.iter().collect();
    let scored = score_images(setup, adapters, &refs, 8)?;
    let mut normal_scores = Vec::new();
    let mut distances = squared_distances(train_pooled, &prototype)?;
    for s in &scored {
        normal_scores.extend_from_slice(&s.scores);
        distances.extend(squared_distances(&s.pooled, &prototype)?);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ VAL_SALT);
    let synthetic: Vec<RgbImage> = (0..ANOMALIES_PER_VAL_IMAGE)
        .flat_map(|_| {
            val.iter()
                .map(|img| setup.synth.apply(img, &mut rng).image)
                .collect::<Vec<_>>()
        })
        .collect();
    let refs: Vec<&RgbImage> = synthetic.iter().collect();
    let anomaly_scores: Vec<f32> = score_images(setup, adapters, &refs, 8)?
        .into_iter()
        .flat_map(|s| s.scores)
        .collect();
    let threshold = youden_threshold(&normal_scores, &anomaly_scores);
    let radius = distances.iter().copied().fold(0f32, f32::max) * RADIUS_MARGIN;
    Ok(Calibration {
        prototype: proto,
        routing_radius: radius,
        threshold,
        normal: stats(&normal_scores),
        val_normal_scores: normal_scores,
        val_anomaly_scores: anomaly_scores,
    })
}

fn squared_distances(pooled: &Tensor, prototype: &Tensor) -> Result<Vec<f32>> {
    Ok(pooled
        .broadcast_sub(prototype)?
        .sqr()?
        .sum(1)?
        .to_vec1::<f32>()?)
}

/// The threshold maximising TPR - FPR (Youden's J) between normal and anomalous scores
/// (anomalous when `score > threshold`), placed midway between neighbouring scores. When no
/// threshold separates them at all, the largest normal score.
pub fn youden_threshold(normal: &[f32], anomalous: &[f32]) -> f32 {
    let mut all: Vec<f32> = normal.iter().chain(anomalous).copied().collect();
    all.sort_by(f32::total_cmp);
    all.dedup();
    let max_normal = normal.iter().copied().fold(f32::MIN, f32::max);
    let mut best = (0.0f64, max_normal);
    for (i, &c) in all.iter().enumerate() {
        let tpr =
            anomalous.iter().filter(|&&s| s > c).count() as f64 / anomalous.len().max(1) as f64;
        let fpr = normal.iter().filter(|&&s| s > c).count() as f64 / normal.len().max(1) as f64;
        let j = tpr - fpr;
        if j > best.0 {
            let next = all.get(i + 1).copied().unwrap_or(c);
            best = (j, 0.5 * (c + next));
        }
    }
    best.1
}

/// Summary statistics of normal scores.
pub fn stats(scores: &[f32]) -> ScoreStats {
    let n = scores.len();
    if n == 0 {
        return ScoreStats {
            count: 0,
            mean: 0.0,
            std: 0.0,
            p50: 0.0,
            p99: 0.0,
            max: 0.0,
        };
    }
    let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / n as f64;
    let var = scores
        .iter()
        .map(|&s| (f64::from(s) - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    let mut sorted = scores.to_vec();
    sorted.sort_by(f32::total_cmp);
    let q = |p: f64| sorted[((p * (n - 1) as f64).round() as usize).min(n - 1)];
    ScoreStats {
        count: n,
        mean: mean as f32,
        std: var.sqrt() as f32,
        p50: q(0.5),
        p99: q(0.99),
        max: sorted[n - 1],
    }
}

/// Replaces both convolutions' weights with per-output-channel symmetric INT8 levels.
pub fn quantize_adapter(adapter: &mut Adapter) -> Result<()> {
    quantize_conv(&mut adapter.conv1)?;
    quantize_conv(&mut adapter.conv2)
}

fn quantize_conv(conv: &mut Conv2d) -> Result<()> {
    let shape = conv.weight.dims().to_vec();
    let values = conv.weight.flatten_all()?.to_vec1::<f32>()?;
    let per = values.len() / shape[0];
    let amaxes: Vec<f32> = values
        .chunks(per)
        .map(|c| c.iter().fold(0f32, |m, v| m.max(v.abs())))
        .collect();
    let params = PerChannelParams::symmetric_int8(&amaxes).map_err(quant_err)?;
    let q = fake_quantize_per_channel(&values, &shape, &params).map_err(quant_err)?;
    conv.weight = Tensor::from_vec(q, shape.as_slice(), conv.weight.device())?;
    conv.int8_scales = Some(params.scales());
    Ok(())
}

fn quant_err(e: adapts_calibration::Error) -> crate::Error {
    crate::Error::Quantization(e.to_string())
}
