//! A training job: products from a dataset in, a new or extended bundle out.

use std::path::{Path, PathBuf};

use adapts_runtime::bundle::BundleWriter;
use adapts_runtime::preprocess::{Normalization, Preprocess};

use crate::anomaly::{AnomalySynth, TextureSource};
use crate::bundle_build::{self, Shared};
use crate::dataset::{self, Layout};
use crate::models::{Arch, Cut};
use crate::train::plan::Plan;
use crate::train::teacher::Teacher;
use crate::train::{load_images, split, train_task, TaskSetup, TrainConfig};
use crate::weights::{random_trunk, Checkpoint};
use crate::{Error, Result};

/// Where trunk weights come from.
#[derive(Debug, Clone)]
pub enum WeightsSource {
    File(PathBuf),
    /// Seeded random weights (no pretrained file at hand: benchmarks, tests).
    Random(u64),
}

/// Everything a training run needs.
#[derive(Debug, Clone)]
pub struct TrainJob {
    pub data: PathBuf,
    pub layout: Layout,
    /// Products to train; empty = every product in the dataset.
    pub categories: Vec<String>,
    /// Trunk id recorded in the bundle (e.g. `effnet-lite0`).
    pub trunk_id: String,
    pub arch: Arch,
    pub weights: WeightsSource,
    pub normalization: Normalization,
    pub plan: Plan,
    pub out: PathBuf,
    pub append: bool,
    pub textures: Option<PathBuf>,
    pub image_size: u32,
    pub config: TrainConfig,
}

/// Per-product outcome of a job.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskSummary {
    pub name: String,
    pub train_images: usize,
    pub val_images: usize,
    pub threshold: f32,
    pub routing_radius: f32,
    pub adapter_bytes: u64,
    pub train_seconds: f64,
    pub images_per_second: f64,
    pub final_stfpm: f32,
    pub final_seg: f32,
    pub val_normal_max: f32,
    pub val_anomaly_median: f32,
}

/// Trains every product of the job and commits the bundle.
pub fn run(job: &TrainJob) -> Result<Vec<TaskSummary>> {
    if job.image_size == 0 || !job.image_size.is_multiple_of(32) {
        return Err(Error::Invalid(format!(
            "image size {}: must be a positive multiple of 32",
            job.image_size
        )));
    }
    let plan = &job.plan;
    let cut = Cut::Stage(plan.last());
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
    let info = bundle_build::trunk_info(&job.trunk_id, &sha, job.image_size, job.normalization);
    let mut writer = if job.append {
        BundleWriter::append(&job.out)?
    } else {
        BundleWriter::create(&job.out)?
    };
    let (shared, mut tasks): (Shared, Vec<_>) = match writer.base() {
        Some(base) => {
            let shared = bundle_build::shared_of(base);
            let adapted: Vec<&str> = shared.adapted.iter().map(|s| s.name.as_str()).collect();
            let wanted: Vec<&str> = plan
                .adapted
                .iter()
                .map(|&k| job.arch.stage_names()[k])
                .collect();
            if shared.trunk != info || adapted != wanted {
                return Err(Error::Invalid(format!(
                    "{}: appending needs the bundle's trunk, weights, input size and adapted stages \
                     (bundle: {} {} {} px {:?}; requested: {} {} {} px {:?})",
                    job.out.display(),
                    shared.trunk.id,
                    shared.trunk.weights_sha256,
                    shared.trunk.input_size,
                    adapted,
                    info.id,
                    info.weights_sha256,
                    info.input_size,
                    wanted
                )));
            }
            (shared, base.tasks.clone())
        }
        None => (
            bundle_build::write_shared(&mut writer, &trunk, plan, info)?,
            Vec::new(),
        ),
    };

    let categories = if job.categories.is_empty() {
        dataset::products(&job.data, job.layout)?
    } else {
        job.categories.clone()
    };
    for name in &categories {
        if tasks.iter().any(|t| t.name == *name) {
            return Err(Error::Invalid(format!(
                "{}: product `{name}` is already in the bundle",
                job.out.display()
            )));
        }
    }
    let source = match &job.textures {
        Some(dir) => TextureSource::Directory(dir.clone()),
        None => TextureSource::Procedural,
    };
    let synth = AnomalySynth::new(source, job.image_size)?;
    let pre = Preprocess::full_frame(job.image_size, job.normalization);
    let setup = TaskSetup {
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
    let mut teacher = Teacher::ort(
        &dir.join(bundle_build::TRUNK_GRAPH),
        &later,
        &shared.adapted[0].name,
    )?;

    let mut summaries = Vec::new();
    for (i, name) in categories.iter().enumerate() {
        let product = dataset::load_product(&job.data, job.layout, name)?;
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
            seed: job.config.seed.wrapping_add(tasks.len() as u64),
            ..job.config.clone()
        };
        let trained = train_task(name, &setup, &mut teacher, &train, &val, &config)?;
        let entry = bundle_build::write_task(&mut writer, &shared, plan, &trained)?;
        let c = &trained.calibration;
        let mut anomalous = c.val_anomaly_scores.clone();
        anomalous.sort_by(f32::total_cmp);
        summaries.push(TaskSummary {
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
        });
        tasks.push(entry);
    }
    writer.finish(bundle_build::manifest(&shared, tasks))?;
    Ok(summaries)
}

/// Convenience for callers holding a path.
pub fn weights_from_arg(arg: &str, seed: u64) -> WeightsSource {
    if arg == "random" {
        WeightsSource::Random(seed)
    } else {
        WeightsSource::File(Path::new(arg).to_path_buf())
    }
}
