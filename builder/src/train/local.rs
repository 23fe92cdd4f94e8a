//! Training one product under local scoring (see [`crate::model::local`]).
//!
//! 1. The teacher (ONNX Runtime on the bundle's own trunk, stage and features graphs) gives the
//!    local features of every training image once; each location is one sample.
//! 2. Samples are standardised per channel and whitened (covariance with shrinkage), the
//!    transform later folded into the map's first convolution.
//! 3. The map is trained to give `d <= -margin` on normal samples and `d >= +margin` on the
//!    same samples plus Gaussian noise (a truncated L1 loss, Adam): synthetic anomalies in
//!    feature space, whatever the product looks like. Under preset S, the locations that
//!    image-space synthetic anomalies cover are anomalous samples too
//!    ([`super::anomalous_locations`]).
//! 4. The per-location normalisation comes from the training images' maps, shrunk towards
//!    the map-wide statistics where few images back a location.
//!
//! The threshold and the routing statistics are then set on held-out normal images (see
//! [`super::calibrate`]).

use adapts_runtime::bundle::manifest::{RoutingModel, FEATURES, POOLED};
use adapts_runtime::{OrtSession, SessionConfig};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::teacher::{to_candle, to_runtime, Teacher};
use super::{to_input, ProductSetup};
use crate::model::adapter::orthogonal;
use crate::model::graph::Eval;
use crate::model::local::{conv1x1, ProductMap};
use crate::{Error, Result};

/// Settings of local training (epochs, seed and progress come from the
/// [`TrainConfig`](super::TrainConfig)).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalConfig {
    /// Adam learning rate.
    pub lr: f64,
    /// Standard deviation of the synthetic feature noise, in whitened units.
    pub noise: f32,
    /// Target margin of the truncated L1 loss (`d <= -margin` normal, `>= +margin` noisy).
    pub margin: f32,
    /// Normal samples per optimisation step (as many noisy ones are added).
    pub batch: usize,
    /// At most this many training samples (locations) are kept, drawn evenly at random.
    pub max_samples: usize,
    /// Covariance shrinkage towards its mean eigenvalue, as a fraction of it.
    pub shrinkage: f64,
    /// Weight, in images, of the map-wide statistics in each location's normalisation; 0 is
    /// plain per-location statistics.
    pub location_prior: f64,
    /// Normalise the map per location (off: one map-wide mean and spread).
    pub per_location: bool,
    /// Standard deviation, in input pixels, of the head's Gaussian smoothing (0: none).
    pub smooth_sigma: f32,
    /// Optimisation steps, rounded up to whole epochs and at most [`LOCAL_MAX_EPOCHS`];
    /// `None` (the default here): the
    /// [`TrainConfig`](super::TrainConfig)'s epochs. A step budget keeps training time
    /// about the same for every product, whatever its number of images and the preset's
    /// feature resolution; the command line trains [`LOCAL_STEPS`] unless given `--epochs`.
    pub steps: Option<usize>,
    /// Image-space synthetic anomalies drawn from the training images in turn, whose covered
    /// locations train the map as anomalous too (0: feature noise alone; see
    /// [`super::anomalous_locations`]). `None`: the preset's default,
    /// [`LocalConfig::synthetic_for`].
    pub synthetic_anomalies: Option<usize>,
    /// Weight of the synthetic-anomaly term in the loss.
    pub synthetic_weight: f32,
    /// Width of the map's hidden layer; `None`: as many as the feature channels.
    pub hidden: Option<usize>,
}

/// Default covariance shrinkage of the whitening, as a fraction of the mean eigenvalue. Nearly
/// full whitening scored best on Magnetic Tile Defects (preset S, image AUROC 0.908 at 1.0,
/// 0.929 at 0.1, 0.941 at 0.01 and 0.944 at 0.001, AUPRO best at 0.01; BENCHMARKS.md,
/// "Whitening").
pub const SHRINKAGE: f64 = 0.01;

/// Default optimisation steps of a product map (the command line's, unless `--epochs`). The
/// maps keep sharpening long after their loss flattens: on Magnetic Tile Defects, preset S
/// (127 k locations, 31 steps per epoch), image AUROC was 0.887 after 310 steps (10 epochs),
/// 0.927 after 930, 0.940 after 1,860 and 0.937 after 3,000, for 25, 84, 133 and 194 s of
/// training; M (124 steps per epoch) gained nothing past its 10 epochs (BENCHMARKS.md,
/// "Training length").
pub const LOCAL_STEPS: usize = 2_000;

/// At most this many epochs under a step budget: a product with few images reaches its
/// steps only by seeing each location hundreds of times, which overfits and takes long (the
/// demo products, 3 steps per epoch, lost 0.4 image AUROC and took 90 s instead of 8).
pub const LOCAL_MAX_EPOCHS: usize = 60;

/// Synthetic anomalies drawn for a product under preset S unless configured: this many per
/// training image, at most [`SYNTHETIC_MAX`]. On Magnetic Tile Defects (648 training images,
/// four seeds), 4,000 of them raised S's pixel AUROC by 0.022, AUPRO by 0.020 and image
/// AUROC by 0.006 on average; 16,200 did no better. Under M they cost 0.012-0.018 image
/// AUROC for a similar pixel gain, so M and L train on feature noise alone (BENCHMARKS.md,
/// "Synthetic anomalies").
pub const SYNTHETIC_PER_IMAGE_S: usize = 25;

/// At most this many synthetic anomalies per product by default.
pub const SYNTHETIC_MAX: usize = 4_000;

/// Default weight of the synthetic-anomaly term, against 1 for each of the noise terms.
pub const SYNTHETIC_WEIGHT: f32 = 3.0;

impl LocalConfig {
    /// Synthetic anomalies to draw for a product of `images` training images in a bundle of
    /// preset `preset` (the manifest's name: `S`, `M`, `L` or `custom`): the configured
    /// number, else for S [`SYNTHETIC_PER_IMAGE_S`] per image up to [`SYNTHETIC_MAX`], and
    /// none for the others.
    pub fn synthetic_for(&self, preset: &str, images: usize) -> usize {
        self.synthetic_anomalies.unwrap_or(if preset == "S" {
            (SYNTHETIC_PER_IMAGE_S * images).min(SYNTHETIC_MAX)
        } else {
            0
        })
    }
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            noise: 0.75,
            margin: 0.5,
            batch: 4096,
            max_samples: 600_000,
            shrinkage: SHRINKAGE,
            location_prior: 10.0,
            per_location: true,
            smooth_sigma: 4.0,
            steps: None,
            synthetic_anomalies: None,
            synthetic_weight: SYNTHETIC_WEIGHT,
            hidden: None,
        }
    }
}

/// The teacher path plus the shared features graph: images to `(features, pooled)`.
pub struct FeatureExtractor<'a> {
    teacher: Teacher<'a>,
    features: OrtSession,
    /// Indices into the teacher's stages of the tapped ones, with their input names.
    taps: Vec<(usize, String)>,
    /// Route by the teacher's deepest `pooled` output instead of the features graph's.
    route_by_stage: bool,
}

impl<'a> FeatureExtractor<'a> {
    /// Over a teacher whose stages start at the first tap; `taps` index its stages. With
    /// `route_by_stage` the routing vectors are the teacher's own (its deepest stage's
    /// `pooled`), else the features graph's.
    pub fn new(
        teacher: Teacher<'a>,
        features_graph: &std::path::Path,
        taps: Vec<usize>,
        route_by_stage: bool,
    ) -> Result<Self> {
        let features = OrtSession::load(features_graph, &SessionConfig::default())?;
        let taps = taps
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, adapts_runtime::bundle::manifest::head_inputs(i).0))
            .collect();
        Ok(Self {
            teacher,
            features,
            taps,
            route_by_stage,
        })
    }

    /// Local features `[N, C, h, w]` and routing vectors `[N, D]` of normalised images.
    pub fn run(&mut self, images: &Tensor) -> Result<(Tensor, Tensor)> {
        let batch = self.teacher.run(images)?;
        let inputs: Vec<(String, adapts_runtime::Tensor)> = self
            .taps
            .iter()
            .map(|(k, name)| Ok((name.clone(), to_runtime(&batch.stages[*k])?)))
            .collect::<Result<_>>()?;
        let refs: Vec<(&str, &adapts_runtime::Tensor)> =
            inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let out = self.features.run(&refs)?;
        let get = |name: &str| {
            out.iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t)
                .ok_or_else(|| Error::Onnx(format!("features graph has no output `{name}`")))
        };
        let pooled = if self.route_by_stage {
            batch.pooled
        } else {
            to_candle(get(POOLED)?)?
        };
        Ok((to_candle(get(FEATURES)?)?, pooled))
    }

    /// [`run`](Self::run) over images in batches of `batch`.
    pub fn run_images(
        &mut self,
        images: &[&RgbImage],
        setup: &ProductSetup,
        batch: usize,
    ) -> Result<(Tensor, Tensor)> {
        let mut features = Vec::new();
        let mut pooled = Vec::new();
        for chunk in images.chunks(batch.max(1)) {
            let (f, p) = self.run(&to_input(chunk, &setup.preprocess)?)?;
            features.push(f);
            pooled.push(p);
        }
        Ok((Tensor::cat(&features, 0)?, Tensor::cat(&pooled, 0)?))
    }
}

/// What local training produces before calibration.
pub struct LocalTrained {
    /// The deployable map (standardisation and whitening folded in).
    pub map: ProductMap,
    /// Final loss, normal half and noisy half.
    pub final_loss: (f32, f32),
    /// Training samples used.
    pub samples: usize,
    /// Epochs trained (the step budget's, when it set them).
    pub epochs: usize,
}

/// Per-channel standardisation followed by whitening: `x_hat = W (x - mean)`.
struct Whitening {
    mean: Vec<f64>,
    /// `[C, C]` row-major.
    w: Vec<f64>,
}

/// The trainable map, on whitened samples.
struct Params {
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
    head: Var,
    bias: Var,
}

impl Params {
    fn new(channels: usize, hidden: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        let dev = Device::Cpu;
        let w1 = orthogonal(hidden, channels, rng);
        let w2: Vec<f32> = orthogonal(channels, hidden, rng)
            .into_iter()
            .map(|v| 0.1 * v)
            .collect();
        Ok(Self {
            w1: Var::from_tensor(&Tensor::from_vec(w1, (hidden, channels), &dev)?)?,
            b1: Var::zeros(hidden, DType::F32, &dev)?,
            w2: Var::from_tensor(&Tensor::from_vec(w2, (channels, hidden), &dev)?)?,
            b2: Var::zeros(channels, DType::F32, &dev)?,
            head: Var::from_tensor(&Tensor::full(1.0 / channels as f32, channels, &dev)?)?,
            bias: Var::zeros(1, DType::F32, &dev)?,
        })
    }

    fn vars(&self) -> Vec<Var> {
        [
            &self.w1, &self.b1, &self.w2, &self.b2, &self.head, &self.bias,
        ]
        .into_iter()
        .cloned()
        .collect()
    }

    /// `d` for samples `[B, C]`: `w . (W2 relu(W1 x + b1) + b2)^2 + b`, `[B]`.
    fn disagreement(&self, x: &Tensor) -> Result<Tensor> {
        let z = x.matmul(&self.w1.t()?)?.broadcast_add(&self.b1)?;
        let e = z.relu()?.matmul(&self.w2.t()?)?.broadcast_add(&self.b2)?;
        Ok(e.sqr()?
            .matmul(&self.head.unsqueeze(1)?)?
            .squeeze(1)?
            .broadcast_add(&self.bias)?)
    }
}

/// Trains a product's map on the local features of its training images `[N, C, h, w]`, and
/// on `anomalous` (feature rows of `C` values, concatenated; may be empty) as anomalies.
pub fn train_map(
    features: &Tensor,
    anomalous: &[f32],
    config: &LocalConfig,
    train: &super::TrainConfig,
    name: &str,
) -> Result<LocalTrained> {
    let (n, c, h, w) = features.dims4()?;
    let mut rng = ChaCha8Rng::seed_from_u64(train.seed);
    let samples = sample_locations(features, config.max_samples, &mut rng)?;
    let whitening = whitening(&samples, c, config.shrinkage)?;
    let x = whiten(&samples, &whitening, c)?;
    let count = samples.len() / c;
    log::debug!("{name}: {count} local samples of {c} channels from {n} images ({h}x{w})");

    let anomalous = match anomalous.len() / c {
        0 => None,
        _ => Some(whiten(anomalous, &whitening, c)?),
    };
    if let Some(a) = &anomalous {
        log::info!(
            "{name}: {} anomalous locations from synthetic anomalies",
            a.dim(0)?
        );
    }
    let params = Params::new(c, config.hidden.unwrap_or(c).max(1), &mut rng)?;
    let mut opt = AdamW::new(
        params.vars(),
        ParamsAdamW {
            lr: config.lr,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )?;
    let batch = config.batch.max(1);
    let per_epoch = count.div_ceil(batch);
    let epochs = config.steps.map_or(train.epochs, |s| {
        s.div_ceil(per_epoch).clamp(1, LOCAL_MAX_EPOCHS)
    });
    let steps = epochs * per_epoch;
    log::info!(
        "{name}: {epochs} epochs of {per_epoch} steps ({batch} samples and as many noisy ones)"
    );
    let bar = super::progress_bar(train.progress, steps, name);
    let mut last = (0f32, 0f32);
    let margin = f64::from(config.margin);
    for _ in 0..epochs {
        let mut order: Vec<u32> = (0..count as u32).collect();
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
        for chunk in order.chunks(batch) {
            let idx = Tensor::from_vec(chunk.to_vec(), chunk.len(), &Device::Cpu)?;
            let normal = x.index_select(&idx, 0)?;
            let noise = gaussian(&mut rng, chunk.len() * c, config.noise);
            let noisy = (&normal + Tensor::from_vec(noise, (chunk.len(), c), &Device::Cpu)?)?;
            let d = params.disagreement(&Tensor::cat(&[&normal, &noisy], 0)?)?;
            let dn = d.narrow(0, 0, chunk.len())?;
            let da = d.narrow(0, chunk.len(), chunk.len())?;
            let ln = (dn + margin)?.relu()?.mean_all()?;
            let la = (da.neg()? + margin)?.relu()?.mean_all()?;
            let mut loss = (&ln + &la)?;
            if let Some(a) = &anomalous {
                let m = a.dim(0)?;
                let pick: Vec<u32> = (0..chunk.len())
                    .map(|_| rng.random_range(0..m as u32))
                    .collect();
                let idx = Tensor::from_vec(pick, chunk.len(), &Device::Cpu)?;
                let ds = params.disagreement(&a.index_select(&idx, 0)?)?;
                let ls = (ds.neg()? + margin)?.relu()?.mean_all()?;
                loss = (loss + (ls * f64::from(config.synthetic_weight))?)?;
            }
            opt.backward_step(&loss)?;
            last = (ln.to_scalar()?, la.to_scalar()?);
            bar.set_message(format!("normal {:.4} noisy {:.4}", last.0, last.1));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let map = deployable(&params, &whitening, c, (h, w))?;
    Ok(LocalTrained {
        map,
        final_loss: last,
        samples: count,
        epochs,
    })
}

/// Every location of every image as a row `[C]`, or `max` of them drawn without replacement.
fn sample_locations(features: &Tensor, max: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
    let (n, c, h, w) = features.dims4()?;
    let rows = features
        .permute((0, 2, 3, 1))?
        .contiguous()?
        .reshape((n * h * w, c))?;
    let total = n * h * w;
    if total <= max {
        return Ok(rows.flatten_all()?.to_vec1()?);
    }
    let mut idx: Vec<u32> = (0..total as u32).collect();
    rand::seq::SliceRandom::partial_shuffle(idx.as_mut_slice(), rng, max);
    let mut chosen = idx[..max].to_vec();
    chosen.sort_unstable();
    let idx = Tensor::from_vec(chosen, max, &Device::Cpu)?;
    Ok(rows.index_select(&idx, 0)?.flatten_all()?.to_vec1()?)
}

/// Mean, then `W = L^-1 D^-1` with `D` the per-channel spreads and `L L^T` the Cholesky
/// factor of the standardised covariance plus `shrinkage` times its mean eigenvalue.
fn whitening(samples: &[f32], c: usize, shrinkage: f64) -> Result<Whitening> {
    let n = samples.len() / c;
    if n < 2 {
        return Err(Error::Dataset(format!(
            "{n} feature samples: at least 2 are needed"
        )));
    }
    let mut mean = vec![0f64; c];
    for row in samples.chunks_exact(c) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    // Covariance from a strided subset: 50k rows pin it down for any C we use.
    let stride = (n / 50_000).max(1);
    let mut cov = vec![0f64; c * c];
    let mut used = 0usize;
    let mut centred = vec![0f64; c];
    for row in samples.chunks_exact(c).step_by(stride) {
        for (k, (&v, m)) in row.iter().zip(&mean).enumerate() {
            centred[k] = f64::from(v) - m;
        }
        for i in 0..c {
            let ci = centred[i];
            for j in 0..=i {
                cov[i * c + j] += ci * centred[j];
            }
        }
        used += 1;
    }
    for i in 0..c {
        for j in 0..=i {
            let v = cov[i * c + j] / (used.max(2) - 1) as f64;
            cov[i * c + j] = v;
            cov[j * c + i] = v;
        }
    }
    // Standardise, shrink, factor.
    let sd: Vec<f64> = (0..c).map(|i| cov[i * c + i].sqrt().max(1e-12)).collect();
    let mut corr = vec![0f64; c * c];
    for i in 0..c {
        for j in 0..c {
            corr[i * c + j] = cov[i * c + j] / (sd[i] * sd[j]);
        }
    }
    // The trace of a correlation matrix is C: its mean eigenvalue is 1.
    for i in 0..c {
        corr[i * c + i] += shrinkage;
    }
    let l = cholesky(&corr, c)?;
    let l_inv = lower_inverse(&l, c);
    let mut w = vec![0f64; c * c];
    for i in 0..c {
        for j in 0..c {
            w[i * c + j] = l_inv[i * c + j] / sd[j];
        }
    }
    Ok(Whitening { mean, w })
}

/// Lower Cholesky factor of a symmetric positive definite `[c, c]` matrix.
fn cholesky(a: &[f64], c: usize) -> Result<Vec<f64>> {
    let mut l = vec![0f64; c * c];
    for i in 0..c {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * c + k] * l[j * c + k]).sum();
            if i == j {
                let d = a[i * c + i] - s;
                if d <= 0.0 {
                    return Err(Error::Dataset(
                        "feature covariance is not positive definite".into(),
                    ));
                }
                l[i * c + i] = d.sqrt();
            } else {
                l[i * c + j] = (a[i * c + j] - s) / l[j * c + j];
            }
        }
    }
    Ok(l)
}

/// Inverse of a lower triangular `[c, c]` matrix (forward substitution per column).
fn lower_inverse(l: &[f64], c: usize) -> Vec<f64> {
    let mut inv = vec![0f64; c * c];
    for col in 0..c {
        for i in col..c {
            let s: f64 = (col..i).map(|k| l[i * c + k] * inv[k * c + col]).sum();
            let rhs = if i == col { 1.0 } else { 0.0 };
            inv[i * c + col] = (rhs - s) / l[i * c + i];
        }
    }
    inv
}

/// `W (x - mean)` for every row, as a `[N, C]` tensor.
fn whiten(samples: &[f32], wh: &Whitening, c: usize) -> Result<Tensor> {
    let n = samples.len() / c;
    let x = Tensor::from_vec(samples.to_vec(), (n, c), &Device::Cpu)?;
    let mean = Tensor::from_vec(
        wh.mean.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        c,
        &Device::Cpu,
    )?;
    let w = Tensor::from_vec(
        wh.w.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        (c, c),
        &Device::Cpu,
    )?;
    Ok(x.broadcast_sub(&mean)?.matmul(&w.t()?)?)
}

/// `n` draws of `N(0, sigma^2)` (Box-Muller).
fn gaussian(rng: &mut ChaCha8Rng, n: usize, sigma: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt() * sigma;
        let t = std::f32::consts::TAU * u2;
        out.push(r * t.cos());
        out.push(r * t.sin());
    }
    out.truncate(n);
    out
}

/// The deployable map: `W1' = W1 W`, `b1' = b1 - W1 W mean`; per-location statistics start
/// neutral (scale 1, shift 0) until [`set_location_statistics`].
fn deployable(p: &Params, wh: &Whitening, c: usize, (h, w): (usize, usize)) -> Result<ProductMap> {
    let dev = Device::Cpu;
    let wmat = Tensor::from_vec(
        wh.w.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        (c, c),
        &dev,
    )?;
    let mean = Tensor::from_vec(
        wh.mean.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        (c, 1),
        &dev,
    )?;
    let w1 = p.w1.as_tensor().detach().matmul(&wmat)?;
    let b1 = (p.b1.as_tensor().detach() - w1.matmul(&mean)?.squeeze(1)?)?;
    let hidden = w1.dim(0)?;
    Ok(ProductMap {
        conv1: conv1x1("map.conv1", w1.reshape((hidden, c, 1, 1))?, Some(b1)),
        conv2: conv1x1(
            "map.conv2",
            p.w2.as_tensor().detach().reshape((c, hidden, 1, 1))?,
            Some(p.b2.as_tensor().detach()),
        ),
        head: conv1x1(
            "map.head",
            p.head.as_tensor().detach().reshape((1, c, 1, 1))?,
            Some(p.bias.as_tensor().detach()),
        ),
        pixel_scale: Tensor::ones((1, 1, h, w), DType::F32, &dev)?,
        pixel_shift: Tensor::zeros((1, 1, h, w), DType::F32, &dev)?,
    })
}

/// Sets the per-location normalisation from the disagreement maps of normal images
/// `[N, C, h, w]` features: per location, mean and variance shrunk towards the map-wide ones
/// with the weight of `prior` images (or map-wide only, when `per_location` is off).
pub fn set_location_statistics(
    map: &mut ProductMap,
    features: &Tensor,
    prior: f64,
    per_location: bool,
) -> Result<()> {
    let mut d = Vec::new();
    for chunk in 0..features.dim(0)?.div_ceil(16) {
        let start = chunk * 16;
        let len = 16.min(features.dim(0)? - start);
        d.push(map.disagreement(&mut Eval, &features.narrow(0, start, len)?)?);
    }
    let d = Tensor::cat(&d, 0)?.squeeze(1)?; // [N, h, w]
    let (_, h, w) = d.dims3()?;
    let values: Vec<f32> = d.flatten_all()?.to_vec1()?;
    let (scale, shift) = location_statistics(&values, h * w, prior, per_location);
    map.pixel_scale = Tensor::from_vec(scale, (1, 1, h, w), &Device::Cpu)?;
    map.pixel_shift = Tensor::from_vec(shift, (1, 1, h, w), &Device::Cpu)?;
    Ok(())
}

/// The per-location normalisation `(scale, shift)` (`1 / sd` and `-mean / sd` per location)
/// of disagreement maps `values` (`N` maps of `locations` values, image-major): per location,
/// mean and variance shrunk towards the map-wide ones with the weight of `prior` images, or
/// map-wide only without `per_location`.
pub fn location_statistics(
    values: &[f32],
    locations: usize,
    prior: f64,
    per_location: bool,
) -> (Vec<f32>, Vec<f32>) {
    let n = values.len() / locations.max(1);
    let global_mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
    let global_var = values
        .iter()
        .map(|&v| (f64::from(v) - global_mean).powi(2))
        .sum::<f64>()
        / values.len() as f64;
    let (mut scale, mut shift) = (Vec::with_capacity(locations), Vec::with_capacity(locations));
    for loc in 0..locations {
        let (mean, var) = if per_location {
            let xs = (0..n).map(|i| f64::from(values[i * locations + loc]));
            let m = xs.clone().sum::<f64>() / n as f64;
            let v = xs.map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            let k = prior;
            (
                (n as f64 * m + k * global_mean) / (n as f64 + k),
                (n as f64 * v + k * global_var) / (n as f64 + k),
            )
        } else {
            (global_mean, global_var)
        };
        let sd = var.sqrt().max(1e-6 * global_var.sqrt().max(1e-12));
        scale.push((1.0 / sd) as f32);
        shift.push((-mean / sd) as f32);
    }
    (scale, shift)
}

/// Image scores and small maps of features `[N, C, h, w]` through `map` and the head.
pub fn score_features(
    map: &ProductMap,
    features: &Tensor,
    size: usize,
    sigma: f32,
) -> Result<Vec<f32>> {
    let (_, _, h, w) = features.dims4()?;
    let mut scores = Vec::with_capacity(features.dim(0)?);
    for chunk in 0..features.dim(0)?.div_ceil(16) {
        let start = chunk * 16;
        let len = 16.min(features.dim(0)? - start);
        let m = map.forward(&mut Eval, &features.narrow(0, start, len)?)?;
        let (_, s) = crate::model::local::head(&mut Eval, &m, (h, w), size, sigma)?;
        scores.extend(s.to_vec1::<f32>()?);
    }
    Ok(scores)
}

/// Directions kept by a product's routing model.
pub const ROUTING_DIRECTIONS: usize = 16;
/// Floor of the residual routing variance, as a fraction of the mean variance.
pub const ROUTING_RESIDUAL_FLOOR: f64 = 0.05;

/// The prototype (mean) and probabilistic-PCA model of routing vectors `[N, D]`: the
/// [`ROUTING_DIRECTIONS`] directions of most variance (at most `N - 1`), their variances, and
/// the mean variance of the rest as the residual, floored at [`ROUTING_RESIDUAL_FLOOR`] of
/// the mean variance. Every variance is at least the residual.
pub fn routing_model(pooled: &Tensor) -> Result<(Vec<f32>, RoutingModel)> {
    let rows: Vec<Vec<f32>> = pooled.to_vec2()?;
    let n = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    if n < 2 || d == 0 {
        return Err(Error::Dataset(format!(
            "{n} routing vectors: at least 2 are needed"
        )));
    }
    let mut mean = vec![0f64; d];
    for r in &rows {
        for (m, &v) in mean.iter_mut().zip(r) {
            *m += f64::from(v) / n as f64;
        }
    }
    let mut cov = vec![0f64; d * d];
    for r in &rows {
        let y: Vec<f64> = r
            .iter()
            .zip(&mean)
            .map(|(&v, m)| f64::from(v) - m)
            .collect();
        for i in 0..d {
            for j in 0..=i {
                cov[i * d + j] += y[i] * y[j] / (n - 1) as f64;
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            cov[j * d + i] = cov[i * d + j];
        }
    }
    let total: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    let (values, vectors) = symmetric_eigen(cov, d);
    let k = ROUTING_DIRECTIONS.min(n - 1).min(d - 1);
    let kept: f64 = values[..k].iter().sum();
    let floor = ROUTING_RESIDUAL_FLOOR * total / d as f64;
    let residual = ((total - kept) / (d - k) as f64).max(floor).max(1e-12);
    let mut basis = Vec::with_capacity(k * d);
    for col in 0..k {
        basis.extend((0..d).map(|row| vectors[row * d + col] as f32));
    }
    let model = RoutingModel::Ppca {
        basis,
        variances: values[..k]
            .iter()
            .map(|&v| v.max(residual) as f32)
            .collect(),
        residual: residual as f32,
    };
    Ok((mean.iter().map(|&m| m as f32).collect(), model))
}

/// Eigenvalues (descending) and eigenvectors (columns of a row-major `[d, d]` matrix) of a
/// symmetric matrix, by cyclic Jacobi rotations.
fn symmetric_eigen(mut a: Vec<f64>, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j] * a[i * d + j])
            .sum();
        let scale: f64 = (0..d)
            .map(|i| a[i * d + i] * a[i * d + i])
            .sum::<f64>()
            .max(1e-300);
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| a[j * d + j].total_cmp(&a[i * d + i]));
    let values = order.iter().map(|&i| a[i * d + i]).collect();
    let mut vectors = vec![0f64; d * d];
    for (new, &old) in order.iter().enumerate() {
        for row in 0..d {
            vectors[row * d + new] = v[row * d + old];
        }
    }
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitening_gives_identity_covariance() {
        // Correlated 3-D samples: x2 = x0 + small noise, x1 independent, scales differ.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 20_000;
        let g = gaussian(&mut rng, 3 * n, 1.0);
        let mut s = Vec::with_capacity(3 * n);
        for i in 0..n {
            let (a, b, e) = (g[3 * i], g[3 * i + 1], g[3 * i + 2]);
            s.extend([5.0 + 3.0 * a, -2.0 + 0.5 * b, 3.0 * a + 0.3 * e]);
        }
        let wh = whitening(&s, 3, 0.0).unwrap();
        let x: Vec<f32> = whiten(&s, &wh, 3)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let c: f64 = (0..n)
                    .map(|k| f64::from(x[3 * k + i]) * f64::from(x[3 * k + j]))
                    .sum::<f64>()
                    / n as f64;
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((c - want).abs() < 0.02, "cov[{i}][{j}] = {c}");
            }
        }
    }

    #[test]
    fn cholesky_and_its_inverse_reproduce_the_identity() {
        let a = [4.0, 2.0, 0.4, 2.0, 3.0, 0.5, 0.4, 0.5, 2.0];
        let l = cholesky(&a, 3).unwrap();
        let inv = lower_inverse(&l, 3);
        for i in 0..3 {
            for j in 0..3 {
                let llt: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                assert!((llt - a[i * 3 + j]).abs() < 1e-12);
                let id: f64 = (0..3).map(|k| inv[i * 3 + k] * l[k * 3 + j]).sum();
                assert!((id - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_err());
    }

    /// `n` images of 6-channel 4x4 features near a 2-D plane, and the generator after them.
    fn toy_features(n: usize) -> (Tensor, ChaCha8Rng) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (c, h, w) = (6, 4, 4);
        let g = gaussian(&mut rng, 2 * n * h * w, 1.0);
        let noise = gaussian(&mut rng, c * n * h * w, 0.05);
        let mut data = vec![0f32; n * c * h * w];
        for img in 0..n {
            for loc in 0..h * w {
                let (a, b) = (g[2 * (img * h * w + loc)], g[2 * (img * h * w + loc) + 1]);
                let v = [a, b, a + b, a - b, 2.0 * a, 0.5 * b];
                for ch in 0..c {
                    data[((img * c + ch) * h * w) + loc] =
                        v[ch] + noise[(img * h * w + loc) * c + ch];
                }
            }
        }
        (
            Tensor::from_vec(data, (n, c, h, w), &Device::Cpu).unwrap(),
            rng,
        )
    }

    #[test]
    fn a_step_budget_trains_whole_epochs_up_to_the_cap() {
        // 10 images x 16 locations, batches of 32: 5 steps per epoch.
        let (features, _) = toy_features(10);
        let train = super::super::TrainConfig {
            epochs: 8,
            progress: false,
            ..Default::default()
        };
        let epochs = |steps: Option<usize>| {
            let config = LocalConfig {
                batch: 32,
                steps,
                ..LocalConfig::default()
            };
            train_map(&features, &[], &config, &train, "toy")
                .unwrap()
                .epochs
        };
        assert_eq!(epochs(None), 8, "no budget: the configured epochs");
        assert_eq!(epochs(Some(12)), 3, "12 steps round up to 3 epochs of 5");
        assert_eq!(epochs(Some(1)), 1);
        assert_eq!(epochs(Some(100_000)), LOCAL_MAX_EPOCHS);
    }

    #[test]
    fn training_separates_normal_features_from_perturbed_ones() {
        // A map as wide as the features and one wider separate almost every perturbed
        // location; a narrower one (4 hidden channels for 6) less well, far above chance (5 %).
        for (hidden, least) in [(None, 0.9), (Some(12), 0.9), (Some(4), 0.6)] {
            let above = fraction_above_normal(hidden);
            assert!(
                above > least,
                "hidden {hidden:?}: {above} of perturbed locations above the normal 95th percentile"
            );
        }
    }

    /// The fraction of perturbed locations scoring above the normal 95th percentile, for a
    /// map of `hidden` width.
    fn fraction_above_normal(hidden: Option<usize>) -> f32 {
        // Normal features lie near a 2-D plane inside 6 channels; anomalies leave it.
        let (n, c, h, w) = (40, 6, 4, 4);
        let (features, mut rng) = toy_features(n);
        let config = LocalConfig {
            batch: 128,
            hidden,
            ..LocalConfig::default()
        };
        let train = super::super::TrainConfig {
            epochs: 8,
            progress: false,
            ..Default::default()
        };
        let trained = train_map(&features, &[], &config, &train, "toy").unwrap();
        let width = hidden.unwrap_or(c);
        assert_eq!(trained.map.conv1.weight.dims(), [width, c, 1, 1]);
        assert_eq!(trained.map.conv2.weight.dims(), [c, width, 1, 1]);
        let d = |x: &Tensor| -> Vec<f32> {
            trained
                .map
                .disagreement(&mut Eval, x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let normal = d(&features);
        let off = gaussian(&mut rng, n * c * h * w, 1.0);
        let off = Tensor::from_vec(off, (n, c, h, w), &Device::Cpu).unwrap();
        let anomalous = d(&(&features + &off).unwrap());
        // Almost every perturbed location scores above almost every normal one.
        let mut sorted = normal.clone();
        sorted.sort_by(f32::total_cmp);
        let p95 = sorted[sorted.len() * 95 / 100];
        assert_eq!(trained.samples, n * h * w);
        anomalous.iter().filter(|&&v| v > p95).count() as f32 / anomalous.len() as f32
    }

    #[test]
    fn synthetic_anomaly_rows_teach_a_shift_the_noise_alone_misses() {
        // A small shift of one channel off the normal plane (three of its spreads): inside the
        // feature noise's shell, so noise alone barely flags it; as anomalous rows it is learnt.
        let (n, c, h, w) = (40, 6, 4, 4);
        let (features, _) = toy_features(n);
        let shift = Tensor::from_vec(
            (0..c).map(|k| if k == 0 { 0.15f32 } else { 0.0 }).collect(),
            (1, c, 1, 1),
            &Device::Cpu,
        )
        .unwrap();
        let shifted = features.broadcast_add(&shift).unwrap();
        let rows: Vec<f32> = shifted
            .permute((0, 2, 3, 1))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let config = LocalConfig {
            batch: 128,
            synthetic_weight: 3.0,
            ..LocalConfig::default()
        };
        let train = super::super::TrainConfig {
            epochs: 40,
            progress: false,
            ..Default::default()
        };
        let flagged = |anomalous: &[f32]| -> f32 {
            let map = train_map(&features, anomalous, &config, &train, "toy")
                .unwrap()
                .map;
            let d = |x: &Tensor| -> Vec<f32> {
                let m = map.disagreement(&mut Eval, x).unwrap();
                m.flatten_all().unwrap().to_vec1().unwrap()
            };
            let mut normal = d(&features);
            normal.sort_by(f32::total_cmp);
            let p95 = normal[normal.len() * 95 / 100];
            let above = d(&shifted).iter().filter(|&&v| v > p95).count();
            above as f32 / (n * h * w) as f32
        };
        let (noise_only, with_rows) = (flagged(&[]), flagged(&rows));
        assert!(
            with_rows > noise_only + 0.15,
            "shifted locations above the normal 95th percentile: {noise_only} with noise alone, \
             {with_rows} with the anomalous rows"
        );
    }

    #[test]
    fn jacobi_eigenpairs_reconstruct_the_matrix() {
        let a = vec![4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 1.0];
        let (values, vectors) = symmetric_eigen(a.clone(), 3);
        assert!(values[0] >= values[1] && values[1] >= values[2]);
        // Trace and determinant are preserved, and A v = lambda v for every pair.
        assert!((values.iter().sum::<f64>() - 8.0).abs() < 1e-10);
        for k in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|j| a[i * 3 + j] * vectors[j * 3 + k]).sum();
                assert!((av - values[k] * vectors[i * 3 + k]).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn the_routing_model_finds_the_spread_direction() {
        // Vectors spread along (1, 1, 0) / sqrt 2 with variance ~8, little elsewhere.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let g = gaussian(&mut rng, 4 * 500, 1.0);
        let rows: Vec<f32> = (0..500)
            .flat_map(|i| {
                let t = 2.0 * g[4 * i];
                [
                    1.0 + t + 0.1 * g[4 * i + 1],
                    2.0 + t + 0.1 * g[4 * i + 2],
                    0.1 * g[4 * i + 3],
                ]
            })
            .collect();
        let pooled = Tensor::from_vec(rows, (500, 3), &Device::Cpu).unwrap();
        let (mean, model) = routing_model(&pooled).unwrap();
        assert!((mean[0] - 1.0).abs() < 0.3 && (mean[1] - 2.0).abs() < 0.3);
        let RoutingModel::Ppca {
            basis,
            variances,
            residual,
        } = model
        else {
            panic!("a PPCA model")
        };
        assert_eq!(variances.len(), 2);
        let dir = [basis[0], basis[1], basis[2]];
        let half = std::f32::consts::FRAC_1_SQRT_2;
        assert!((dir[0].abs() - half).abs() < 0.02 && (dir[1].abs() - half).abs() < 0.02);
        assert!((variances[0] - 8.0).abs() < 1.5, "{variances:?}");
        assert!(residual > 0.0 && residual < 0.3, "{residual}");
    }
}
