//! Per-product decisions from normal data only: the routing prototype and radius, the INT8
//! weights, and the score threshold set on held-out normal images and synthetic anomalies.

use adapts_calibration::{fake_quantize_per_channel, PerChannelMinMaxObserver};
use adapts_runtime::bundle::manifest::{RoutingModel, ScoreStats};
use candle_core::Tensor;
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::anomaly::AnomalySynth;
use crate::model::adapter::Adapter;
use crate::model::local::ProductMap;
use crate::model::nn::Conv2d;
use crate::train::local::{routing_model, score_features, FeatureExtractor};
use crate::train::{score_images, ProductSetup};
use crate::Result;

/// Routing radius = largest squared distance of a normal (train or validation) image to
/// its prototype, times this margin.
pub const RADIUS_MARGIN: f32 = 2.0;
/// Under local scoring, the routing radius is the largest routing distance (per dimension,
/// see [`RoutingModel::Ppca`]) of a normal training or validation image times this margin.
pub const LOCAL_RADIUS_MARGIN: f32 = 1.5;
/// Synthetic anomalies drawn per validation image.
pub const ANOMALIES_PER_VAL_IMAGE: usize = 2;
/// Mixed into the seed of the validation anomalies.
pub const VAL_SALT: u64 = 0xca11_b4a7;

/// How a product's score threshold is set from its validation scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdRule {
    /// A target false-reject rate on normal parts: `(1 + margin)` times the `1 - rate`
    /// quantile of the validation normal scores (interpolated). With fewer than `1 / rate`
    /// validation images that quantile lies beyond the sample, and the larger of the largest
    /// score and `mean + z std` stands in for it (`z` the standard normal quantile of
    /// `1 - rate`, 2.33 for 1 %).
    FalseReject {
        /// Target fraction of good parts rejected.
        rate: f64,
        /// Relative headroom above the rule's value.
        margin: f32,
    },
    /// The score maximising TPR - FPR (Youden's J) between validation normals and synthetic
    /// anomalies.
    Youden,
}

impl Default for ThresholdRule {
    fn default() -> Self {
        ThresholdRule::FalseReject {
            rate: 0.01,
            margin: 0.05,
        }
    }
}

impl std::str::FromStr for ThresholdRule {
    type Err = String;

    /// `youden`, `frr:RATE` or `frr:RATE:MARGIN` (`frr:0.01` = `frr:0.01:0.05`).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        if s == "youden" {
            return Ok(ThresholdRule::Youden);
        }
        let parts: Vec<&str> = s.split(':').collect();
        let bad = || format!("`{s}`: expected youden, frr:RATE or frr:RATE:MARGIN");
        match parts.as_slice() {
            ["frr", rate, rest @ ..] if rest.len() <= 1 => {
                let rate: f64 = rate.parse().map_err(|_| bad())?;
                let margin: f32 = match rest {
                    [m] => m.parse().map_err(|_| bad())?,
                    _ => 0.05,
                };
                if !(rate > 0.0 && rate < 0.5 && (0.0..=10.0).contains(&margin)) {
                    return Err(format!(
                        "`{s}`: the rate must be in (0, 0.5) and the margin in [0, 10]"
                    ));
                }
                Ok(ThresholdRule::FalseReject { rate, margin })
            }
            _ => Err(bad()),
        }
    }
}

impl ThresholdRule {
    /// The threshold for validation `normal` and synthetic `anomalous` scores.
    pub fn threshold(self, normal: &[f32], anomalous: &[f32]) -> f32 {
        match self {
            ThresholdRule::Youden => youden_threshold(normal, anomalous),
            ThresholdRule::FalseReject { rate, margin } => {
                let n = normal.len();
                let value = if n as f64 * rate >= 1.0 {
                    let mut sorted: Vec<f64> = normal.iter().map(|&v| f64::from(v)).collect();
                    sorted.sort_by(f64::total_cmp);
                    let pos = (1.0 - rate) * (n - 1) as f64;
                    let (lo, frac) = (pos.floor() as usize, pos.fract());
                    sorted[lo] + frac * (sorted[(lo + 1).min(n - 1)] - sorted[lo])
                } else {
                    let s = stats(normal);
                    let tail = f64::from(s.mean) + normal_quantile(1.0 - rate) * f64::from(s.std);
                    f64::from(s.max).max(tail)
                };
                (value * (1.0 + f64::from(margin))) as f32
            }
        }
    }
}

/// What a threshold is expected to do on the line, from the validation data.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ExpectedRates {
    /// Good parts rejected among the validation normals (score above the threshold).
    pub false_reject_validation: f64,
    /// One-sided 95 % upper confidence bound on the false-reject rate of good parts, from the
    /// validation exceedances (Clopper-Pearson): with 114 validation images and none above
    /// the threshold, the line may still reject up to 2.6 %.
    pub false_reject_upper: f64,
    /// Synthetic anomalies passed (score at or below the threshold).
    pub escape_synthetic: f64,
}

impl ExpectedRates {
    /// The rates of `threshold` on validation `normal` and synthetic `anomalous` scores.
    pub fn of(threshold: f32, normal: &[f32], anomalous: &[f32]) -> Self {
        let above = normal.iter().filter(|&&x| x > threshold).count();
        let passed = anomalous.iter().filter(|&&x| x <= threshold).count();
        let frac = |k: usize, n: usize| k as f64 / n.max(1) as f64;
        Self {
            false_reject_validation: frac(above, normal.len()),
            false_reject_upper: binomial_upper_bound(above, normal.len(), 0.05),
            escape_synthetic: frac(passed, anomalous.len()),
        }
    }
}

/// The Clopper-Pearson one-sided upper confidence bound on a rate after `k` events in `n`
/// trials: the `p` at which `k` or fewer events have probability `alpha`. 1 with no trials.
pub fn binomial_upper_bound(k: usize, n: usize, alpha: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    // P(X <= k) falls monotonically in p; bisect to 1e-12.
    let (mut lo, mut hi) = (k as f64 / n as f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if binomial_cdf(k, n, mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// P(X <= k) for X ~ Binomial(n, p), summed in log space so large `n` does not underflow.
fn binomial_cdf(k: usize, n: usize, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    // ln C(n, i), built up term by term.
    let mut ln_choose = 0.0f64;
    let mut total = 0.0f64;
    for i in 0..=k.min(n) {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        total += (ln_choose + i as f64 * lp + (n - i) as f64 * lq).exp();
    }
    total.min(1.0)
}

/// Standard normal CDF, from the complementary error function of Numerical Recipes'
/// `erfcc` (fractional error below 1.2e-7, tails included).
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_infinite() {
        return if z > 0.0 { 1.0 } else { 0.0 };
    }
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// Standard normal quantile, by bisection on [`normal_cdf`] (to 1e-9).
pub fn normal_quantile(p: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0f64, 10.0f64);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// A product's routing and decision parameters, set from normal images only.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// Mean pooled teacher vector of the training images (length `routing_dim`).
    pub prototype: Vec<f32>,
    /// How the routing distance is measured.
    pub routing: RoutingModel,
    /// Largest squared distance of a normal image's pooled vector to `prototype`, times
    /// [`RADIUS_MARGIN`].
    pub routing_radius: f32,
    /// Image score above which an image is anomalous.
    pub threshold: f32,
    /// What the threshold is expected to reject and to pass.
    pub rates: ExpectedRates,
    /// Statistics of the normal validation scores.
    pub normal: ScoreStats,
    /// Image scores of the normal validation images.
    pub val_normal_scores: Vec<f32>,
    /// Image scores of the synthetic anomalies made from the validation images.
    pub val_anomaly_scores: Vec<f32>,
}

impl Calibration {
    /// The routing `(prototype, model, radius)` with the threshold `rule` sets on the
    /// validation scores, and what follows from them (expected rates, normal statistics).
    pub fn new(
        (prototype, routing, routing_radius): (Vec<f32>, RoutingModel, f32),
        rule: ThresholdRule,
        normal_scores: Vec<f32>,
        anomaly_scores: Vec<f32>,
    ) -> Self {
        let threshold = rule.threshold(&normal_scores, &anomaly_scores);
        Self {
            prototype,
            routing,
            routing_radius,
            threshold,
            rates: ExpectedRates::of(threshold, &normal_scores, &anomaly_scores),
            normal: stats(&normal_scores),
            val_normal_scores: normal_scores,
            val_anomaly_scores: anomaly_scores,
        }
    }
}

/// Prototype, radius and threshold for a product trained with the paper's recipe.
pub fn calibrate(
    setup: &ProductSetup,
    adapters: &[Adapter],
    train_pooled: &Tensor,
    val: &[RgbImage],
    seed: u64,
    rule: ThresholdRule,
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
    let synthetic = synthetic_anomalies(setup.synth, val, seed);
    let refs: Vec<&RgbImage> = synthetic.iter().collect();
    let anomaly_scores: Vec<f32> = score_images(setup, adapters, &refs, 8)?
        .into_iter()
        .flat_map(|s| s.scores)
        .collect();
    let radius = distances.iter().copied().fold(0f32, f32::max) * RADIUS_MARGIN;
    Ok(Calibration::new(
        (proto, RoutingModel::Euclidean, radius),
        rule,
        normal_scores,
        anomaly_scores,
    ))
}

/// The synthetic anomalies the threshold is checked against: `ANOMALIES_PER_VAL_IMAGE` per
/// validation image, drawn from a seed of their own.
pub fn synthetic_anomalies(synth: &AnomalySynth, val: &[RgbImage], seed: u64) -> Vec<RgbImage> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ VAL_SALT);
    (0..ANOMALIES_PER_VAL_IMAGE)
        .flat_map(|_| {
            val.iter()
                .map(|img| synth.apply(img, &mut rng).image)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Prototype, routing scale, radius and threshold for a product under local scoring: the map
/// scores the validation normals and synthetic anomalies made from them; the routing vectors
/// of the training images give the prototype and the per-dimension spread.
#[allow(clippy::too_many_arguments)]
pub fn calibrate_local(
    setup: &ProductSetup,
    extractor: &mut FeatureExtractor,
    map: &ProductMap,
    train_pooled: &Tensor,
    val: &[RgbImage],
    seed: u64,
    rule: ThresholdRule,
    sigma: f32,
) -> Result<Calibration> {
    let size = setup.preprocess.crop as usize;
    let refs: Vec<&RgbImage> = val.iter().collect();
    let (val_features, val_pooled) = extractor.run_images(&refs, setup, 8)?;
    let normal_scores = score_features(map, &val_features, size, sigma)?;
    let synthetic = synthetic_anomalies(setup.synth, val, seed);
    let refs: Vec<&RgbImage> = synthetic.iter().collect();
    let (anomaly_features, _) = extractor.run_images(&refs, setup, 8)?;
    let anomaly_scores = score_features(map, &anomaly_features, size, sigma)?;

    Ok(Calibration::new(
        local_routing(train_pooled, &val_pooled)?,
        rule,
        normal_scores,
        anomaly_scores,
    ))
}

/// Local scoring's routing: the probabilistic PCA of the training images' routing vectors
/// (`[N, D]`) and a radius of [`LOCAL_RADIUS_MARGIN`] times the largest distance of a
/// training or validation vector. Returns `(prototype, model, radius)`.
pub fn local_routing(
    train_pooled: &Tensor,
    val_pooled: &Tensor,
) -> Result<(Vec<f32>, RoutingModel, f32)> {
    let (prototype, routing) = routing_model(train_pooled)?;
    let router = adapts_runtime::route::Router::from_models(vec![(
        prototype.clone(),
        routing.clone(),
        f32::INFINITY,
    )])?;
    let mut distances = Vec::new();
    for pooled in [train_pooled, val_pooled] {
        for row in pooled.to_vec2::<f32>()? {
            distances.push(router.distance(0, &row)?);
        }
    }
    let radius = distances.iter().copied().fold(0f32, f32::max) * LOCAL_RADIUS_MARGIN;
    Ok((prototype, routing, radius))
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

/// Replaces a local map's two `C x C` convolutions' weights with per-output-channel
/// symmetric INT8 levels (the `C -> 1` head and the per-location statistics stay FP32).
pub fn quantize_map(map: &mut ProductMap) -> Result<()> {
    quantize_conv(&mut map.conv1)?;
    quantize_conv(&mut map.conv2)
}

fn quantize_conv(conv: &mut Conv2d) -> Result<()> {
    let shape = conv.weight.dims().to_vec();
    let values = conv.weight.flatten_all()?.to_vec1::<f32>()?;
    let mut observer = PerChannelMinMaxObserver::new();
    observer.observe(&values, &shape).map_err(quant_err)?;
    let params = observer.symmetric_int8().map_err(quant_err)?;
    let q = fake_quantize_per_channel(&values, &shape, &params).map_err(quant_err)?;
    conv.weight = Tensor::from_vec(q, shape.as_slice(), conv.weight.device())?;
    conv.int8_scales = Some(params.scales());
    Ok(())
}

fn quant_err(e: adapts_calibration::Error) -> crate::Error {
    crate::Error::Quantization(e.to_string())
}
