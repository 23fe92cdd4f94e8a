//! Training one product (product): adapters on normal images with synthetic anomalies, then
//! its routing prototype, routing radius and score threshold from held-out normal images.
//!
//! Loss = STFPM on clean images + segmentation (focal gamma 4 + L1) on augmented images;
//! SGD with a cosine learning-rate schedule. Test images are never
//! seen here: the threshold comes from a validation split of the normal training images and
//! synthetic anomalies made from them.

pub mod anomalous_locations;
pub mod calibrate;
pub mod frozen;
pub mod job;
pub mod local;
pub mod loss;
pub mod plan;
pub mod score;
pub mod student;
pub mod teacher;

use std::path::PathBuf;
use std::time::Instant;

use adapts_runtime::preprocess::{load_rgb, Preprocess};
use candle_core::{Device, Tensor};
use candle_nn::{Optimizer, SGD};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::data::anomaly::AnomalySynth;
use crate::model::adapter::Adapter;
use crate::model::graph::interpolation_matrix;
use crate::model::Trunk;
use crate::{Error, Result};
use plan::Plan;
use student::{FrozenEngine, Student};
use teacher::{Teacher, TeacherBatch};

/// Optimisation settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per optimisation step (at least 1).
    pub batch_size: usize,
    /// Seeds the validation split, adapter initialisation, batch order and synthetic anomalies.
    pub seed: u64,
    /// Initial learning rate of the cosine schedule.
    pub lr: f64,
    /// Learning rate the cosine schedule decays to.
    pub lr_min: f64,
    /// Fraction of normal images held out for thresholds (at least 2 images).
    pub val_fraction: f64,
    /// How gradients pass through frozen stages between adapters.
    pub frozen_engine: FrozenEngine,
    /// Show a progress bar.
    pub progress: bool,
    /// How the score threshold is set.
    pub threshold: calibrate::ThresholdRule,
    /// Local scoring's own settings.
    pub local: local::LocalConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 8,
            seed: 0,
            lr: 0.1,
            lr_min: 0.001,
            val_fraction: 0.15,
            frozen_engine: FrozenEngine::InputGradOnly,
            progress: true,
            threshold: calibrate::ThresholdRule::default(),
            local: local::LocalConfig::default(),
        }
    }
}

/// A product's deployable model, INT8-quantised when the plan's precision is INT8.
pub enum TrainedModel {
    /// The paper's recipe: one adapter per adapted stage, shallow to deep.
    Adapters(Vec<Adapter>),
    /// Local scoring: the product's map.
    Map(Box<crate::model::local::ProductMap>),
}

/// What training one product produces.
pub struct TrainedProduct {
    /// Product name.
    pub name: String,
    /// The deployable model.
    pub model: TrainedModel,
    /// Routing prototype, radius and threshold.
    pub calibration: calibrate::Calibration,
    /// Normal images trained on.
    pub train_images: usize,
    /// Normal images held out for calibration.
    pub val_images: usize,
    /// Wall time for the product (teacher cache, training and calibration), seconds.
    pub train_seconds: f64,
    /// Training images per second (each step also trains on a synthetic-anomaly copy of every
    /// image), excluding the one-off teacher cache pass.
    pub images_per_second: f64,
    /// Loss of the last step: `(STFPM, segmentation)` (paper) or `(normal, noisy)` (local).
    pub final_loss: (f32, f32),
}

/// Loads images as `size x size` RGB (the network input, full frame), in parallel.
pub fn load_images(paths: &[PathBuf], pre: &Preprocess) -> Result<Vec<RgbImage>> {
    paths
        .par_iter()
        .map(|p| Ok(pre.resize(&load_rgb(p)?)))
        .collect()
}

/// Normalised `[N, 3, S, S]` tensor from `S x S` images.
pub fn to_input(images: &[&RgbImage], pre: &Preprocess) -> Result<Tensor> {
    let s = pre.crop as usize;
    let data: Vec<f32> = images
        .par_iter()
        .flat_map(|img| pre.normalize(img))
        .collect();
    Ok(Tensor::from_vec(
        data,
        (images.len(), 3, s, s),
        &Device::Cpu,
    )?)
}

/// A training progress bar of `steps` steps labelled `name`, hidden unless `show`.
pub(crate) fn progress_bar(show: bool, steps: usize, name: &str) -> ProgressBar {
    let bar = if show {
        ProgressBar::new(steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} {bar:25} {pos}/{len} {msg} [{elapsed}<{eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(name.to_string());
    bar
}

/// Splits normal images into train and validation deterministically.
pub fn split(
    paths: &[PathBuf],
    val_fraction: f64,
    seed: u64,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    if paths.len() < 5 {
        return Err(Error::Dataset(format!(
            "{} normal images: at least 5 are needed (training plus a validation split)",
            paths.len()
        )));
    }
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ SPLIT_SALT));
    let n_val = ((paths.len() as f64 * val_fraction).round() as usize).clamp(2, paths.len() - 3);
    let mut val: Vec<PathBuf> = order[..n_val].iter().map(|&i| paths[i].clone()).collect();
    let mut train: Vec<PathBuf> = order[n_val..].iter().map(|&i| paths[i].clone()).collect();
    val.sort();
    train.sort();
    Ok((train, val))
}

/// Mixed into the seed so the split does not share a random stream with training.
const SPLIT_SALT: u64 = 0x5eed_5911;

/// Mask `[S*S]` resized to `h x w` with the same bilinear matrices, binarised at 0.5.
fn mask_target(masks: &[Vec<f32>], size: usize, h: usize, w: usize) -> Result<Tensor> {
    let n = masks.len();
    let flat: Vec<f32> = masks.iter().flatten().copied().collect();
    let m = Tensor::from_vec(flat, (n, 1, size, size), &Device::Cpu)?;
    let rows = Tensor::from_vec(interpolation_matrix(h, size), (h, size), &Device::Cpu)?;
    let cols = Tensor::from_vec(interpolation_matrix(w, size), (w, size), &Device::Cpu)?;
    let r = rows.broadcast_matmul(&m)?.broadcast_matmul(&cols.t()?)?;
    Ok(r.ge(0.5f32)?.to_dtype(candle_core::DType::F32)?)
}

/// Everything `train_product` needs besides the images.
pub struct ProductSetup<'a> {
    /// Frozen trunk, cut after the plan's deepest stage.
    pub trunk: &'a Trunk,
    /// Which stages get adapters, and their kind and precision.
    pub plan: &'a Plan,
    /// Resize and normalisation of the network input.
    pub preprocess: Preprocess,
    /// Synthetic-anomaly generator for the segmentation loss and the threshold.
    pub synth: &'a AnomalySynth,
    /// The trunk's stage names, indexed like `plan.adapted`; they name the adapter layers.
    pub stage_names: Vec<&'static str>,
}

/// Trains one product on `train` and calibrates it on `val` (both normal images).
pub fn train_product(
    name: &str,
    setup: &ProductSetup,
    teacher: &mut Teacher,
    train: &[RgbImage],
    val: &[RgbImage],
    config: &TrainConfig,
) -> Result<TrainedProduct> {
    let started = Instant::now();
    let plan = setup.plan;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let bs = config.batch_size.max(1);

    // Teacher features of clean images never change: compute them once.
    let mut cache: Vec<TeacherBatch> = Vec::new();
    for chunk in train.chunks(bs) {
        let refs: Vec<&RgbImage> = chunk.iter().collect();
        cache.push(teacher.run(&to_input(&refs, &setup.preprocess)?)?);
    }
    let channels: Vec<usize> = plan
        .adapted
        .iter()
        .map(|&k| cache[0].stages[k - plan.first()].dim(1))
        .collect::<candle_core::Result<_>>()?;
    let mut student = Student::new(plan, &channels, &mut rng)?;
    let mut opt = SGD::new(student.vars(), config.lr)?;

    let steps_per_epoch = train.len().div_ceil(bs);
    let total_steps = (config.epochs * steps_per_epoch).max(1);
    let bar = progress_bar(config.progress, total_steps, name);
    let train_start = Instant::now();
    let mut step = 0usize;
    let mut processed = 0usize;
    let mut last = (0f32, 0f32);
    for epoch in 0..config.epochs {
        // Batches keep the cache's grouping; their order changes every epoch.
        let mut order: Vec<usize> = (0..cache.len()).collect();
        order.shuffle(&mut rng);
        for &b in &order {
            let lr = config.lr_min
                + 0.5
                    * (config.lr - config.lr_min)
                    * (1.0 + (std::f64::consts::PI * step as f64 / total_steps as f64).cos());
            opt.set_learning_rate(lr);
            let images = &train[b * bs..(b * bs + bs).min(train.len())];
            last = train_step(
                setup,
                &mut student,
                &mut opt,
                teacher,
                &cache[b],
                images,
                &mut rng,
                config.frozen_engine,
            )?;
            step += 1;
            processed += images.len();
            let ips = processed as f64 / train_start.elapsed().as_secs_f64();
            bar.set_message(format!(
                "epoch {}/{} stfpm {:.4} seg {:.4} {:.1} img/s",
                epoch + 1,
                config.epochs,
                last.0,
                last.1,
                ips
            ));
            bar.inc(1);
        }
    }
    let train_secs = train_start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let mut adapters = student.deployable(
        &plan
            .adapted
            .iter()
            .map(|&k| setup.stage_names[k])
            .collect::<Vec<_>>(),
    )?;
    if plan.precision == adapts_runtime::bundle::manifest::Precision::Int8 {
        for a in &mut adapters {
            calibrate::quantize_adapter(a)?;
        }
    }
    let pooled: Vec<Tensor> = cache.iter().map(|c| c.pooled.clone()).collect();
    let pooled = Tensor::cat(&pooled, 0)?;
    let calibration = calibrate::calibrate(
        setup,
        &adapters,
        &pooled,
        val,
        config.seed,
        config.threshold,
    )?;
    Ok(TrainedProduct {
        name: name.to_string(),
        model: TrainedModel::Adapters(adapters),
        calibration,
        train_images: train.len(),
        val_images: val.len(),
        train_seconds: started.elapsed().as_secs_f64(),
        images_per_second: if train_secs > 0.0 {
            processed as f64 / train_secs
        } else {
            0.0
        },
        final_loss: last,
    })
}

/// Trains one product under local scoring on `train` and calibrates it on `val` (both
/// normal images): features once through the bundle's graphs, the map on them, INT8 weights
/// when the plan asks for them, then the per-location statistics and the calibration on what
/// will be deployed.
pub fn train_product_local(
    name: &str,
    setup: &ProductSetup,
    extractor: &mut local::FeatureExtractor,
    train: &[RgbImage],
    val: &[RgbImage],
    config: &TrainConfig,
) -> Result<TrainedProduct> {
    let started = Instant::now();
    let refs: Vec<&RgbImage> = train.iter().collect();
    let (features, pooled) = extractor.run_images(&refs, setup, config.batch_size)?;
    let train_start = Instant::now();
    let count = config.local.synthetic_for(&setup.plan.name, train.len());
    let anomalous =
        anomalous_locations::anomalous_rows(setup.synth, train, count, config.seed, |batch| {
            Ok(extractor.run(&to_input(batch, &setup.preprocess)?)?.0)
        })?;
    let trained = local::train_map(&features, &anomalous, &config.local, config, name)?;
    let train_secs = train_start.elapsed().as_secs_f64();
    let mut map = trained.map;
    if setup.plan.precision == adapts_runtime::bundle::manifest::Precision::Int8 {
        calibrate::quantize_map(&mut map)?;
    }
    local::set_location_statistics(
        &mut map,
        &features,
        config.local.location_prior,
        config.local.per_location,
    )?;
    let calibration = calibrate::calibrate_local(
        setup,
        extractor,
        &map,
        &pooled,
        val,
        config.seed,
        config.threshold,
        config.local.smooth_sigma,
    )?;
    Ok(TrainedProduct {
        name: name.to_string(),
        model: TrainedModel::Map(Box::new(map)),
        calibration,
        train_images: train.len(),
        val_images: val.len(),
        train_seconds: started.elapsed().as_secs_f64(),
        images_per_second: if train_secs > 0.0 {
            (train.len() * config.epochs) as f64 / train_secs
        } else {
            0.0
        },
        final_loss: trained.final_loss,
    })
}

/// One optimisation step on a batch: STFPM on the clean images (teacher features given),
/// segmentation loss on freshly drawn synthetic anomalies of the same images. Returns the
/// two loss values.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    setup: &ProductSetup,
    student: &mut Student,
    opt: &mut SGD,
    teacher: &mut Teacher,
    clean: &TeacherBatch,
    images: &[RgbImage],
    rng: &mut ChaCha8Rng,
    engine: FrozenEngine,
) -> Result<(f32, f32)> {
    let plan = setup.plan;
    let size = setup.preprocess.crop as usize;
    let synthetic: Vec<_> = images
        .iter()
        .map(|img| setup.synth.apply(img, rng))
        .collect();
    let aug_refs: Vec<&RgbImage> = synthetic.iter().map(|s| &s.image).collect();
    let aug = teacher.run(&to_input(&aug_refs, &setup.preprocess)?)?;
    let n = images.len();
    let t_all: Vec<Tensor> = clean
        .stages
        .iter()
        .zip(&aug.stages)
        .map(|(c, a)| Tensor::cat(&[c, a], 0))
        .collect::<candle_core::Result<_>>()?;
    let s_all = student.forward(setup.trunk, plan, &t_all[0], engine)?;
    let (mut tc, mut sc, mut ta, mut sa) = (vec![], vec![], vec![], vec![]);
    for (&k, s) in plan.adapted.iter().zip(&s_all) {
        let t = &t_all[k - plan.first()];
        tc.push(t.narrow(0, 0, n)?);
        sc.push(s.narrow(0, 0, n)?);
        ta.push(t.narrow(0, n, n)?);
        sa.push(s.narrow(0, n, n)?);
    }
    let stfpm = loss::stfpm(&tc, &sc)?;
    let p = student.segment(&ta, &sa)?;
    let (_, _, h0, w0) = p.dims4()?;
    let masks: Vec<Vec<f32>> = synthetic.into_iter().map(|s| s.mask).collect();
    let target = mask_target(&masks, size, h0, w0)?;
    let seg = loss::focal_l1(&p, &target, 4.0)?;
    let total = (&stfpm + &seg)?;
    opt.backward_step(&total)?;
    Ok((stfpm.to_scalar::<f32>()?, seg.to_scalar::<f32>()?))
}

/// Scores images in batches through the deployable pipeline (candle).
pub fn score_images(
    setup: &ProductSetup,
    adapters: &[Adapter],
    images: &[&RgbImage],
    batch: usize,
) -> Result<Vec<score::Scored>> {
    images
        .chunks(batch.max(1))
        .map(|chunk| {
            let x = to_input(chunk, &setup.preprocess)?;
            score::score_batch(setup.trunk, setup.plan, adapters, &x)
        })
        .collect()
}
