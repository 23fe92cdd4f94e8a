//! A training job: products from a dataset in, a new or extended bundle out.

use std::path::{Path, PathBuf};

use adapts_runtime::bundle::manifest::{Scoring, FEATURES, TRUNK_GRAPH};
use adapts_runtime::bundle::BundleWriter;
use adapts_runtime::preprocess::{Normalization, Preprocess};
use adapts_runtime::trust::SecretKey;

use crate::data::anomaly::{AnomalySynth, TextureSource};
use crate::data::{self, Layout};
use crate::export::bundle::{self, Shared};
use crate::model::weights::{random_trunk, Checkpoint};
use crate::model::{Arch, Cut};
use crate::train::calibrate::ExpectedRates;
use crate::train::local::FeatureExtractor;
use crate::train::plan::{Plan, Recipe};
use crate::train::teacher::Teacher;
use crate::train::{
    load_images, split, train_product, train_product_local, ProductSetup, TrainConfig,
};
use crate::{Error, Result};

/// Where trunk weights come from.
#[derive(Debug, Clone)]
pub enum WeightsSource {
    /// A checkpoint file (`.pth` or `.safetensors`).
    File(PathBuf),
    /// Seeded random weights (no pretrained file at hand: benchmarks, tests).
    Random(u64),
}

/// Everything a training run needs.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// Dataset root.
    pub data: PathBuf,
    /// Dataset layout.
    pub layout: Layout,
    /// Products to train; empty = every product in the dataset.
    pub categories: Vec<String>,
    /// Trunk id recorded in the bundle (e.g. `effnet-lite0`).
    pub trunk_id: String,
    /// Trunk architecture.
    pub arch: Arch,
    /// Where the trunk weights come from.
    pub weights: WeightsSource,
    /// Input normalisation, recorded in the bundle.
    pub normalization: Normalization,
    /// Adapter placement.
    pub plan: Plan,
    /// Bundle directory to write or extend.
    pub out: PathBuf,
    /// Add the products to the existing bundle in `out` (same trunk, weights, input size and
    /// adapted stages) instead of writing a new one.
    pub append: bool,
    /// Directory of anomaly texture images; `None` = procedural textures.
    pub textures: Option<PathBuf>,
    /// Square network input side, pixels (a positive multiple of 32).
    pub image_size: u32,
    /// Optimisation settings; each product's seed is offset by its index in the bundle.
    pub config: TrainConfig,
    /// Signs the bundle's manifest; without it the bundle is unsigned (and a signed bundle
    /// being extended loses its signature, which the log says).
    pub sign_key: Option<SecretKey>,
}

/// Per-product outcome of a job.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainSummary {
    /// Product name.
    pub name: String,
    /// Normal images trained on.
    pub train_images: usize,
    /// Normal images held out for calibration.
    pub val_images: usize,
    /// Score threshold written to the bundle.
    pub threshold: f32,
    /// Routing radius (squared distance) written to the bundle.
    pub routing_radius: f32,
    /// Bytes of the product's adapter graph files.
    pub adapter_bytes: u64,
    /// Wall time for the product (teacher cache, training and calibration), seconds.
    pub train_seconds: f64,
    /// Training images per second, each with its synthetic-anomaly copy.
    pub images_per_second: f64,
    /// First loss of the last step: STFPM (paper) or the normal half (local).
    pub final_stfpm: f32,
    /// Second loss of the last step: segmentation (paper) or the noisy half (local).
    pub final_seg: f32,
    /// Largest score of a normal validation image.
    pub val_normal_max: f32,
    /// Median score of the synthetic validation anomalies (0 when there are none).
    pub val_anomaly_median: f32,
    /// What the threshold is expected to reject and pass.
    pub rates: ExpectedRates,
}

/// Trains every product of the job and commits the bundle.
pub fn run(job: &TrainJob) -> Result<Vec<TrainSummary>> {
    if job.image_size == 0 || !job.image_size.is_multiple_of(32) {
        return Err(Error::Config(format!(
            "image size {}: must be a positive multiple of 32",
            job.image_size
        )));
    }
    let plan = &job.plan;
    let cut = Cut::Stage(plan.deepest());
    let (trunk, sha) = match &job.weights {
        WeightsSource::Random(seed) => (
            random_trunk(job.arch, cut, *seed)?,
            format!("random:{seed}"),
        ),
        WeightsSource::File(path) => {
            let ckpt = Checkpoint::load(path)?;
            let sha = ckpt.sha256.clone();
            (ckpt.build_trunk(job.arch, cut)?, sha)
        }
    };
    let info = bundle::trunk_info(&job.trunk_id, &sha, job.image_size, job.normalization);
    let mut writer = if job.append {
        BundleWriter::append(&job.out)?
    } else {
        BundleWriter::create(&job.out)?
    };
    if let Some(key) = &job.sign_key {
        writer.sign_with(key.clone());
    }
    let (shared, mut products): (Shared, Vec<_>) = match writer.base() {
        Some(base) => {
            let shared = bundle::shared_of(base);
            let adapted: Vec<&str> = shared.adapted.iter().map(|s| s.name.as_str()).collect();
            let wanted: Vec<&str> = plan
                .adapted
                .iter()
                .map(|&k| job.arch.stage_names()[k])
                .collect();
            let local = matches!(shared.scoring, Scoring::Local(_));
            if local != (plan.recipe == Recipe::Local) {
                return Err(Error::Config(format!(
                    "the bundle was trained with --recipe {}; append with the same recipe",
                    if local { "local" } else { "paper" }
                ))
                .with_path(&job.out));
            }
            if shared.trunk != info || adapted != wanted {
                return Err(Error::Config(format!(
                    "appending needs the bundle's trunk, weights, input size and adapted stages \
                     (bundle: {} {} {} px {:?}; requested: {} {} {} px {:?})",
                    shared.trunk.id,
                    shared.trunk.weights_sha256,
                    shared.trunk.input_size,
                    adapted,
                    info.id,
                    info.weights_sha256,
                    info.input_size,
                    wanted
                ))
                .with_path(&job.out));
            }
            if local {
                let requested = plan
                    .routing_stage
                    .map_or(FEATURES, |k| job.arch.stage_names()[k]);
                if requested != shared.routing_stage {
                    return Err(Error::Config(format!(
                        "the bundle routes by `{}`, this run by `{requested}`: append with the \
                         bundle's --routing-stage{}",
                        shared.routing_stage,
                        if shared.routing_stage == FEATURES {
                            " (none)".to_string()
                        } else {
                            format!(" {}", shared.routing_stage)
                        }
                    ))
                    .with_path(&job.out));
                }
            }
            (shared, base.products.clone())
        }
        None => {
            let shared = match plan.recipe {
                Recipe::Paper => bundle::write_shared(&mut writer, &trunk, plan, info)?,
                Recipe::Local => bundle::write_shared_local(
                    &mut writer,
                    &trunk,
                    plan,
                    info,
                    job.config.local.smooth_sigma,
                )?,
            };
            (shared, Vec::new())
        }
    };

    let categories = if job.categories.is_empty() {
        data::products(&job.data, job.layout)?
    } else {
        job.categories.clone()
    };
    for name in &categories {
        if products.iter().any(|t| t.name == *name) {
            return Err(
                Error::Selection(format!("product `{name}` is already in the bundle"))
                    .with_path(&job.out),
            );
        }
    }
    let synth = AnomalySynth::new(
        TextureSource::from_dir(job.textures.as_deref()),
        job.image_size,
    )?;
    let pre = Preprocess::full_frame(job.image_size, job.normalization);
    let setup = ProductSetup {
        trunk: &trunk,
        plan,
        preprocess: pre,
        synth: &synth,
        stage_names: job.arch.stage_names().to_vec(),
    };
    let dir = writer.dir().to_path_buf();
    let later: Vec<PathBuf> = shared
        .later_stages
        .iter()
        .map(|s| dir.join(&s.graph))
        .collect();
    let teacher = Teacher::ort(&dir.join(TRUNK_GRAPH), &later, &shared.adapted[0].name)?;
    let mut engine = match &shared.scoring {
        Scoring::Distance => Engine::Paper(teacher),
        Scoring::Local(local) => Engine::Local(Box::new(FeatureExtractor::new(
            teacher,
            &dir.join(&local.features_graph),
            plan.adapted.iter().map(|&k| k - plan.first()).collect(),
            shared.routing_stage != FEATURES,
        )?)),
    };

    let mut summaries = Vec::new();
    for (i, name) in categories.iter().enumerate() {
        let product = data::load_product(&job.data, job.layout, name)?;
        let (train_paths, val_paths) =
            split(&product.train, job.config.val_fraction, job.config.seed)?;
        log::info!(
            "[{}/{}] {name}: {} training, {} validation images",
            i + 1,
            categories.len(),
            train_paths.len(),
            val_paths.len()
        );
        let train = load_images(&train_paths, &pre)?;
        let val = load_images(&val_paths, &pre)?;
        let config = TrainConfig {
            seed: job.config.seed.wrapping_add(products.len() as u64),
            ..job.config.clone()
        };
        let trained = match &mut engine {
            Engine::Paper(teacher) => train_product(name, &setup, teacher, &train, &val, &config)?,
            Engine::Local(extractor) => {
                train_product_local(name, &setup, extractor, &train, &val, &config)?
            }
        };
        let entry = bundle::write_product(&mut writer, &shared, plan, &trained)?;
        let c = &trained.calibration;
        let mut anomalous = c.val_anomaly_scores.clone();
        anomalous.sort_by(f32::total_cmp);
        summaries.push(TrainSummary {
            name: name.clone(),
            train_images: trained.train_images,
            val_images: trained.val_images,
            threshold: c.threshold,
            routing_radius: c.routing_radius,
            adapter_bytes: entry.bytes,
            train_seconds: trained.train_seconds,
            images_per_second: trained.images_per_second,
            final_stfpm: trained.final_loss.0,
            final_seg: trained.final_loss.1,
            val_normal_max: c.normal.max,
            val_anomaly_median: anomalous.get(anomalous.len() / 2).copied().unwrap_or(0.0),
            rates: c.rates,
        });
        products.push(entry);
    }
    writer.finish(bundle::manifest(&shared, products))?;
    Ok(summaries)
}

/// What computes the teacher side of training: the trunk graphs alone (paper) or with the
/// features graph (local).
enum Engine<'a> {
    Paper(Teacher<'a>),
    Local(Box<FeatureExtractor<'a>>),
}

/// Convenience for callers holding a path.
pub fn weights_from_arg(arg: &str, seed: u64) -> WeightsSource {
    if arg == "random" {
        WeightsSource::Random(seed)
    } else {
        WeightsSource::File(Path::new(arg).to_path_buf())
    }
}
