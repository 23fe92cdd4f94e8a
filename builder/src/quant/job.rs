//! `adapts-builder calibrate` over a bundle: observe the FP32 graphs on normal training
//! images, write each graph's INT8 twin and TensorRT calibration cache, then score the
//! validation images through the INT8 pipeline the device will run and set the thresholds
//! on those scores.
//!
//! On an INT8 trunk a product's map is fitted again on the trunk's INT8 features before it is
//! quantized, and routing is measured on them too. Only graphs without a twin are
//! calibrated: after `train --append`, a second `calibrate` writes the new product's twin
//! and leaves every earlier file byte-identical. When a shared graph (trunk, later stages)
//! gets its twin, every product is calibrated with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use adapts_runtime::bundle::manifest::RoutingModel;
use adapts_runtime::bundle::manifest::{Scoring, FEATURES_IN, IMAGE};
use adapts_runtime::bundle::{
    int8_twin, tensorrt_cache, Bundle, BundleWriter, GraphPrecision, Manifest,
};
use adapts_runtime::pipeline::Pipeline;
use adapts_runtime::preprocess::Preprocess;
use adapts_runtime::trust::SecretKey;
use adapts_runtime::OrtEngine;
use adapts_runtime::Tensor;
use image::RgbImage;
use serde::Serialize;

use crate::data::anomaly::{AnomalySynth, TextureSource};
use crate::data::{self, Layout};
use crate::export::onnx;
use crate::export::onnx::proto::ModelProto;
use crate::quant::chain::{pooled_rows, Chain, Pass};
use crate::quant::map::{map_policy, refit_map, renormalize_map};
use crate::quant::observe::Observation;
use crate::quant::{all_int8, apply, prepare, ConvPolicy, Method, Prepared, Scheme};
use crate::train::anomalous_locations::anomalous_rows;
use crate::train::calibrate::{local_routing, synthetic_anomalies, Calibration, ExpectedRates};
use crate::train::teacher::to_candle;
use crate::train::{load_images, split, TrainConfig};
use crate::{Error, Result};

/// What `calibrate` does.
#[derive(Debug, Clone)]
pub struct CalibrateJob {
    /// The bundle to calibrate in place.
    pub bundle: PathBuf,
    /// The dataset the bundle was trained on.
    pub data: PathBuf,
    /// Its layout.
    pub layout: Layout,
    /// Activation range rule.
    pub method: Method,
    /// Activation integer type.
    pub scheme: Scheme,
    /// Training images per product fed to the observers.
    pub images: usize,
    /// Also calibrate the trunk and the later stages.
    pub trunk: bool,
    /// The training settings the bundle was trained with: the seed and validation fraction
    /// give the same split, the threshold rule is applied to the INT8 scores, and a product
    /// map fitted again on an INT8 trunk's features is trained with the rest.
    pub train: TrainConfig,
    /// Texture source of the synthetic anomalies the thresholds are checked against.
    pub textures: Option<PathBuf>,
    /// TensorRT version written in the calibration caches' headers.
    pub tensorrt_version: u32,
    /// Signs the amended manifest.
    pub key: Option<SecretKey>,
}

/// One graph given an INT8 twin.
#[derive(Debug, Clone, Serialize)]
pub struct GraphSummary {
    /// The FP32 graph.
    pub graph: String,
    /// Its INT8 twin.
    pub int8_graph: String,
    /// File sizes.
    pub fp32_bytes: u64,
    /// File size of the twin.
    pub int8_bytes: u64,
    /// Tensors with a Q/DQ pair.
    pub pairs: usize,
    /// Convolutions with INT8 weights.
    pub int8_convs: usize,
    /// The TensorRT cache written, if any.
    pub tensorrt_cache: Option<String>,
}

/// One product's threshold before and after.
#[derive(Debug, Clone, Serialize)]
pub struct ProductSummary {
    /// Product name.
    pub name: String,
    /// The threshold before this run.
    pub threshold_before: f32,
    /// The threshold set on the INT8 scores.
    pub threshold: f32,
    /// Validation normals and synthetic anomalies scored.
    pub val_images: usize,
    /// Expected rates at the new threshold.
    pub rates: ExpectedRates,
}

/// What a run wrote.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrateSummary {
    /// Calibration method and activation type.
    pub method: String,
    /// `u8` or `s8`.
    pub activations: String,
    /// Graphs given twins in this run.
    pub graphs: Vec<GraphSummary>,
    /// Products re-scored.
    pub products: Vec<ProductSummary>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// A graph being calibrated.
struct Pending {
    path: String,
    prepared: Prepared,
    observation: Observation,
}

impl Pending {
    fn new(
        dir: &Path,
        path: &str,
        scheme: Scheme,
        method: Method,
        policy: ConvPolicy,
    ) -> Result<Self> {
        let bytes =
            std::fs::read(dir.join(path)).map_err(|e| Error::from(e).with_path(dir.join(path)))?;
        Self::of_model(path, &onnx::decode(&bytes)?, scheme, method, policy)
    }

    /// `model` (the graph at `path`, or what replaces it in the twin) under observation.
    fn of_model(
        path: &str,
        model: &ModelProto,
        scheme: Scheme,
        method: Method,
        policy: ConvPolicy,
    ) -> Result<Self> {
        let prepared = prepare(model, scheme, policy)?;
        let observation = Observation::new(&prepared, method)?;
        Ok(Self {
            path: path.to_string(),
            prepared,
            observation,
        })
    }

    /// The graph with its observed parameters.
    fn quantized(&self, scheme: Scheme) -> Result<ModelProto> {
        let params = self.observation.params(&self.prepared, scheme)?;
        apply(&self.prepared, &params)
    }
}
/// Runs the job.
pub fn run(job: &CalibrateJob) -> Result<CalibrateSummary> {
    let start = Instant::now();
    let bundle = Bundle::open(&job.bundle)?;
    let dir = bundle.dir().to_path_buf();
    let m = bundle.manifest().clone();
    let Scoring::Local(local) = &m.scoring else {
        return Err(Error::Config(
            "calibrate supports bundles trained with the local recipe (the default); a \
             --recipe paper bundle keeps its INT8 adapter weights with FP32 activations"
                .into(),
        ));
    };
    if job.images == 0 {
        return Err(Error::Config("--images must be at least 1".into()));
    }
    let pre = Preprocess::full_frame(m.trunk.input_size, m.trunk.normalization);

    let mut shared: Vec<Pending> = Vec::new();
    if job.trunk {
        let mut paths = vec![m.trunk_graph.clone()];
        paths.extend(m.later_stages.iter().map(|s| s.graph.clone()));
        for p in paths.iter().filter(|p| !m.has_file(&int8_twin(p))) {
            shared.push(Pending::new(&dir, p, job.scheme, job.method, &all_int8)?);
        }
    }
    let products: Vec<usize> = (0..m.products.len())
        .filter(|&i| !m.has_file(&int8_twin(&m.products[i].adapters[0])))
        .collect();
    if shared.is_empty() && products.is_empty() {
        return Err(Error::Config(format!(
            "every graph {} is already calibrated (their INT8 twins exist)",
            if job.trunk { "" } else { "of the products" }
        ))
        .with_path(&dir));
    }

    if !shared.is_empty() && products.len() < m.products.len() {
        return Err(Error::Config(
            "the products' INT8 maps were calibrated on the FP32 trunk's features and cannot \
             follow an INT8 trunk (their files never change): calibrate with --trunk from the \
             FP32 bundle, so that trunk and maps are calibrated together"
                .into(),
        )
        .with_path(&dir));
    }
    // Which products need data: those calibrated now, and all of them when a shared graph is.
    let rescore: Vec<usize> = if shared.is_empty() {
        products.clone()
    } else {
        (0..m.products.len()).collect()
    };
    let mut splits: HashMap<usize, (Vec<PathBuf>, Vec<PathBuf>)> = HashMap::new();
    for &i in &rescore {
        let name = &m.products[i].name;
        let data = data::load_product(&job.data, job.layout, name)?;
        splits.insert(
            i,
            split(&data.train, job.train.val_fraction, job.train.seed)?,
        );
    }

    // The shared graphs' observers see each product's first `images` training images.
    if !shared.is_empty() {
        let mut chain = Chain::open(&dir, &m, local, GraphPrecision::Fp32)?;
        let images_total: usize = rescore
            .iter()
            .map(|i| job.images.min(splits[i].0.len()))
            .sum();
        let progress = crate::train::progress_bar(true, images_total, "observing");
        for &i in &rescore {
            let (train, _) = &splits[&i];
            let n = job.images.min(train.len());
            for img in &load_images(&train[..n], &pre)? {
                let side = pre.crop as usize;
                let input = Tensor::new(vec![1, 3, side, side], pre.normalize(img))?;
                feed_shared(&mut shared, &m, &chain.run(&m, input)?)?;
                progress.inc(1);
            }
        }
        progress.finish_and_clear();
    }

    let mut writer = BundleWriter::amend(&dir)?;
    if let Some(key) = &job.key {
        writer.sign_with(key.clone());
    }
    let mut graphs = Vec::new();
    for pending in &shared {
        let model = pending.quantized(job.scheme)?;
        graphs.push(write_twin(&mut writer, &dir, pending, &model, job)?);
    }

    // From here on, the features are the ones the device computes: INT8 shared graphs where
    // they now exist.
    let mut staged = m.clone();
    staged.files.extend(writer.added().iter().cloned());
    let int8_trunk = staged.has_file(&int8_twin(&m.trunk_graph));
    let mut device_chain = Chain::open(&dir, &staged, local, GraphPrecision::Auto)?;
    let mut device_one = |img: &RgbImage| -> Result<Pass> {
        let side = pre.crop as usize;
        let input = Tensor::new(vec![1, 3, side, side], pre.normalize(img))?;
        device_chain.run(&staged, input)
    };
    let synth = AnomalySynth::new(
        TextureSource::from_dir(job.textures.as_deref()),
        m.trunk.input_size,
    )?;

    // Each product's INT8 map. On an INT8 trunk the map is fitted again on its features (the
    // FP32 map would read the trunk's quantization noise as defects); on the FP32 trunk it is
    // the FP32 map itself. Its per-location statistics are then measured through the INT8
    // twin, and routing follows the device's features.
    let mut routing: HashMap<usize, (Vec<f32>, RoutingModel, f32)> = HashMap::new();
    // Each product's validation images, read once: routing and the thresholds use them.
    let mut vals: HashMap<usize, Vec<RgbImage>> = HashMap::new();
    for &i in &rescore {
        let (train_paths, val_paths) = &splits[&i];
        let train_images = load_images(train_paths, &pre)?;
        let train = train_images
            .iter()
            .map(&mut device_one)
            .collect::<Result<Vec<_>>>()?;
        let val = load_images(val_paths, &pre)?;
        let p = &m.products[i];
        if products.contains(&i) {
            let path = &p.adapters[0];
            let fp32 = onnx::decode(&std::fs::read(dir.join(path))?)?;
            let model = if int8_trunk {
                log::info!("{}: fitting the map on the INT8 trunk's features", p.name);
                let count = job.train.local.synthetic_for(&m.preset, train_images.len());
                let anomalous = anomalous_rows(
                    &synth,
                    &train_images,
                    count,
                    job.train.seed.wrapping_add(i as u64),
                    |batch| {
                        let features = batch
                            .iter()
                            .map(|img| to_candle(&device_one(img)?.features))
                            .collect::<Result<Vec<_>>>()?;
                        Ok(candle_core::Tensor::cat(&features, 0)?)
                    },
                )?;
                refit_map(
                    &train,
                    &anomalous,
                    &local.features,
                    &fp32,
                    &job.train,
                    i as u64,
                )?
            } else {
                fp32
            };
            let mut pending = Pending::of_model(path, &model, job.scheme, job.method, &map_policy)?;
            for pass in train.iter().take(job.images) {
                pending.observation.feed(&[(FEATURES_IN, &pass.features)])?;
            }
            let mut twin = pending.quantized(job.scheme)?;
            renormalize_map(&mut twin, &model, &train)?;
            graphs.push(write_twin(&mut writer, &dir, &pending, &twin, job)?);
        }
        routing.insert(
            i,
            if int8_trunk {
                let val_passes = val
                    .iter()
                    .map(&mut device_one)
                    .collect::<Result<Vec<_>>>()?;
                local_routing(&pooled_rows(&train)?, &pooled_rows(&val_passes)?)?
            } else {
                (p.prototype.clone(), p.routing.clone(), p.routing_radius)
            },
        );
        vals.insert(i, val);
    }

    // Score through the pipeline the device runs and set the thresholds.
    let mut staged = m.clone();
    staged.files.extend(writer.added().iter().cloned());
    let mut pipeline = Pipeline::load(&dir, &staged, &OrtEngine::default(), GraphPrecision::Int8)?;
    // Thresholds need the scores alone.
    pipeline.set_full_maps(false);
    let mut summaries = Vec::new();
    for &i in &rescore {
        let name = m.products[i].name.clone();
        let val = &vals[&i];
        let normal = score_all(&mut pipeline, val, &name)?;
        // The training run drew product i's anomalies from seed + i.
        let anomalies = synthetic_anomalies(&synth, val, job.train.seed.wrapping_add(i as u64));
        let anomalous = score_all(&mut pipeline, &anomalies, &name)?;
        let before = m.products[i].threshold;
        let c = Calibration::new(routing[&i].clone(), job.train.threshold, normal, anomalous);
        log::info!(
            "{name}: threshold {before:.4} (FP32) -> {:.4} on the INT8 scores of {} validation \
             images",
            c.threshold,
            val.len()
        );
        let product = &mut staged.products[i];
        product.threshold = c.threshold;
        product.normal_stats = c.normal;
        product.prototype = c.prototype;
        product.routing = c.routing;
        product.routing_radius = c.routing_radius;
        summaries.push(ProductSummary {
            name,
            threshold_before: before,
            threshold: c.threshold,
            val_images: val.len(),
            rates: c.rates,
        });
    }
    drop(pipeline);
    staged.files.clone_from(&m.files);
    writer.finish(staged)?;
    Ok(CalibrateSummary {
        method: job.method.to_string(),
        activations: job.scheme.to_string(),
        graphs,
        products: summaries,
        seconds: start.elapsed().as_secs_f64(),
    })
}
/// Feeds each shared graph's observation its input of this pass.
fn feed_shared(pending: &mut [Pending], m: &Manifest, pass: &Pass) -> Result<()> {
    for p in pending {
        if p.path == m.trunk_graph {
            p.observation.feed(&[(IMAGE, &pass.trunk_in)])?;
            continue;
        }
        let k = m
            .later_stages
            .iter()
            .position(|s| s.graph == p.path)
            .ok_or_else(|| Error::Quantization(format!("{} is not a shared graph", p.path)))?;
        p.observation.feed(&[(FEATURES_IN, &pass.later_in[k])])?;
    }
    Ok(())
}
fn score_all(pipeline: &mut Pipeline, images: &[RgbImage], product: &str) -> Result<Vec<f32>> {
    images
        .iter()
        .map(|img| {
            let r = pipeline.infer(img, Some(product));
            match r.reason {
                Some(adapts_runtime::pipeline::Reason::Error(e)) => Err(Error::Pipeline(e)),
                _ => Ok(r.score),
            }
        })
        .collect()
}

fn write_twin(
    writer: &mut BundleWriter,
    dir: &Path,
    pending: &Pending,
    model: &ModelProto,
    job: &CalibrateJob,
) -> Result<GraphSummary> {
    let twin = int8_twin(&pending.path);
    let entry = writer.add_file(&twin, &onnx::encode(model))?;
    let cache = match pending
        .observation
        .tensorrt_cache(job.method, job.tensorrt_version)?
    {
        Some(cache) => {
            let path = tensorrt_cache(&pending.path);
            writer.add_file(&path, cache.to_text().as_bytes())?;
            Some(path)
        }
        None => None,
    };
    let fp32_bytes = std::fs::metadata(dir.join(&pending.path))?.len();
    Ok(GraphSummary {
        graph: pending.path.clone(),
        int8_graph: twin,
        fp32_bytes,
        int8_bytes: entry.bytes,
        pairs: pending.prepared.pair_count(),
        int8_convs: pending.prepared.conv_count(),
        tensorrt_cache: cache,
    })
}
