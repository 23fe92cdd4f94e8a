//! Evaluation of a bundle on a labelled test set: what `adapts-builder eval` measures.
//!
//! Every test image of every evaluated product goes through the same
//! [`Pipeline`](adapts_runtime::pipeline::Pipeline) the station runs, so the numbers are the
//! device's numbers (ONNX Runtime on the CPU here). Per product ([`ProductMetrics`]):
//!
//! - **I-ROC, I-AP, I-F1max** of `ratio = score / threshold` (1.0 is every product's decision
//!   boundary, so ratios are comparable across products). With routing on, an image routed to
//!   another product keeps that product's ratio (the station would have judged it so), and an
//!   image rejected as an unknown product scores `+inf` (the station fails it).
//! - **P-ROC, P-AP, P-F1max, AUPRO** (to 30 % FPR, normalised) over every pixel of every test
//!   image of the product, exact ([`PixelScores`](crate::metrics::PixelScores)). Ground truth:
//!   the mask resized to the bundle's input size with nearest neighbour and binarised at the
//!   layout's cutoff; good images have an all-zero mask; a defect image without a mask is an
//!   error. Maps always come from the true product's adapters: when routing sent an image
//!   elsewhere (or rejected it as unknown) the image is run a second time with the true product
//!   named, so pixel metrics measure detection, not routing.
//! - **routing**: the fraction of images routed to their true product (routing on only).
//! - **ms/img**: mean end-to-end pipeline latency of the (first) run of each image, excluding
//!   image decoding.
//!
//! Settings ([`Setting`]): `single` judges each product by its own adapters (routing off: a
//! bundle per product, or a PLC naming the product); `multi` routes among every product of one
//! bundle; `continual` replays the bundle's history ([`continual`]). The memory and GFLOP
//! columns come from the bundle's graphs ([`crate::cost`]).
//!
//! ```no_run
//! # fn main() -> adapts_builder::Result<()> {
//! use adapts_builder::dataset::Layout;
//! use adapts_builder::eval::{EvalConfig, Evaluation, Routing};
//!
//! let config = EvalConfig::new("bundle".into(), "data/mvtec".into(), Layout::Mvtec);
//! let eval = Evaluation::prepare(&EvalConfig { routing: Routing::Off, ..config })?;
//! let report = eval.run(&|| {})?;
//! print!("{}", report.table());
//! # Ok(()) }
//! ```

pub mod continual;
mod overlay;
mod report;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use adapts_runtime::bundle::Bundle;
use adapts_runtime::pipeline::{Pipeline, Reason};
use adapts_runtime::preprocess::load_rgb;
use adapts_runtime::SessionConfig;
use image::imageops::FilterType;
use serde::Serialize;

use crate::cost::{BundleCost, CostSummary};
use crate::dataset::{self, Layout, Product};
use crate::metrics::PixelScores;
use crate::{Error, Result};

pub use report::{peak_rss_mb, EvalReport, ImageRecord, MeanMetrics, ProductMetrics};

/// Whether the pipeline routes each image or is told its true product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Routing {
    /// Route by nearest prototype, as the station does without a PLC naming the product.
    #[default]
    On,
    /// Name the true product (a PLC override): measures detection alone.
    Off,
}

/// The paper's three settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Setting {
    /// Each product judged by its own model: routing off (a bundle per product, or one
    /// bundle with the product named).
    Single,
    /// One bundle for every product, routing on.
    #[default]
    Multi,
    /// Products added one at a time: after each step every product seen so far is evaluated.
    Continual,
}

impl Setting {
    /// Routing used by the setting.
    pub fn routing(self) -> Routing {
        match self {
            Setting::Single => Routing::Off,
            Setting::Multi | Setting::Continual => Routing::On,
        }
    }
}

/// Heatmap overlays to write: `per_product` test images of each product, spread evenly over
/// its test list (so good images and every defect type appear), or, when `matching` is not
/// empty, every test image whose dataset-relative path contains one of its strings.
#[derive(Debug, Clone, Default)]
pub struct HeatmapConfig {
    pub dir: PathBuf,
    pub per_product: usize,
    pub matching: Vec<String>,
}

impl HeatmapConfig {
    /// Indices of `product`'s test images to draw.
    fn chosen(&self, product: &Product, data: &Path) -> Vec<usize> {
        if self.matching.is_empty() {
            return overlay::spread(product.test.len(), self.per_product);
        }
        product
            .test
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                let rel = t
                    .path
                    .strip_prefix(data)
                    .unwrap_or(&t.path)
                    .to_string_lossy();
                self.matching.iter().any(|m| rel.contains(m.as_str()))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Dataset root.
    pub data: PathBuf,
    /// Dataset layout.
    pub layout: Layout,
    /// Products to evaluate; empty = every bundle product the dataset also has.
    pub categories: Vec<String>,
    /// Routing on (default) or off.
    pub routing: Routing,
    /// Setting recorded in the report (routing follows [`Setting::routing`] in the CLI).
    pub setting: Setting,
    /// Keep only the bundle's first `n` products (the station after its `n`-th product).
    pub task_limit: Option<usize>,
    /// FPR limit of AUPRO (0.3, the standard).
    pub max_fpr: f64,
    /// Heatmap overlays with the ground-truth contour.
    pub heatmaps: Option<HeatmapConfig>,
    /// ONNX Runtime session options.
    pub session: SessionConfig,
}

impl EvalConfig {
    /// Every shared product, multi-class setting (routing on), default sessions.
    pub fn new(bundle: PathBuf, data: PathBuf, layout: Layout) -> Self {
        Self {
            bundle,
            data,
            layout,
            categories: Vec::new(),
            routing: Routing::On,
            setting: Setting::Multi,
            task_limit: None,
            max_fpr: 0.3,
            heatmaps: None,
            session: SessionConfig::default(),
        }
    }
}

/// A bundle loaded and a test set listed and checked, ready to run.
#[derive(Debug)]
pub struct Evaluation {
    config: EvalConfig,
    pipeline: Pipeline,
    products: Vec<Product>,
    input_size: u32,
    cost: CostSummary,
}

impl Evaluation {
    /// Opens the bundle, lists the products to evaluate (bundle products the dataset also has,
    /// or `config.categories`, each of which must be in both) and checks that every defect
    /// image has a mask, before any inference runs.
    pub fn prepare(config: &EvalConfig) -> Result<Self> {
        let bundle = Bundle::open(&config.bundle)?;
        let mut pipeline = Pipeline::from_bundle(&bundle, &config.session)?;
        let mut cost = BundleCost::of(&bundle)?;
        if let Some(n) = config.task_limit {
            pipeline.truncate_tasks(n)?;
            cost.tasks.truncate(n);
        }
        let in_bundle: Vec<String> = pipeline
            .manifest()
            .tasks
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let in_data: BTreeSet<String> = dataset::products(&config.data, config.layout)?
            .into_iter()
            .collect();
        let names: Vec<String> = if config.categories.is_empty() {
            in_bundle
                .iter()
                .filter(|n| in_data.contains(*n))
                .cloned()
                .collect()
        } else {
            for name in &config.categories {
                if !in_bundle.contains(name) {
                    return Err(Error::Invalid(format!(
                        "product `{name}` is not in bundle {} (it has: {})",
                        config.bundle.display(),
                        in_bundle.join(", ")
                    )));
                }
                if !in_data.contains(name) {
                    return Err(Error::Invalid(format!(
                        "product `{name}` is not in {} ({:?} layout)",
                        config.data.display(),
                        config.layout
                    )));
                }
            }
            config.categories.clone()
        };
        if names.is_empty() {
            return Err(Error::Invalid(format!(
                "no product is both in bundle {} ({}) and in {} ({:?} layout)",
                config.bundle.display(),
                in_bundle.join(", "),
                config.data.display(),
                config.layout
            )));
        }
        let mut products = Vec::with_capacity(names.len());
        for name in &names {
            let product = dataset::load_product(&config.data, config.layout, name)?;
            if product.test.is_empty() {
                return Err(Error::Invalid(format!(
                    "{}: product `{name}` has no test images",
                    config.data.display()
                )));
            }
            if let Some(t) = product
                .test
                .iter()
                .find(|t| t.is_anomalous() && t.mask.is_none())
            {
                return Err(Error::Invalid(format!(
                    "{}: defect image ({}) without a ground-truth mask",
                    t.path.display(),
                    t.kind
                )));
            }
            products.push(product);
        }
        let input_size = pipeline.manifest().trunk.input_size;
        Ok(Self {
            config: config.clone(),
            pipeline,
            products,
            input_size,
            cost: cost.summary(),
        })
    }

    /// Products to evaluate, in bundle order (or `--categories` order).
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// Number of test images [`Evaluation::run`] will judge (for a progress bar).
    pub fn image_count(&self) -> usize {
        self.products.iter().map(|p| p.test.len()).sum()
    }

    /// Runs every test image; `tick` is called once per image. A frame the pipeline could not
    /// judge (reason `error`) stops the evaluation with the image and the message: a broken
    /// bundle must not pass as a low score.
    pub fn run(mut self, tick: &dyn Fn()) -> Result<EvalReport> {
        let start = Instant::now();
        let s = self.input_size as usize;
        let mut metrics = Vec::with_capacity(self.products.len());
        let mut records = Vec::with_capacity(self.image_count());
        let products = std::mem::take(&mut self.products);
        for product in &products {
            let mut pixels = PixelScores::with_capacity(product.test.len() * s * s);
            let first = records.len();
            let chosen = self
                .config
                .heatmaps
                .as_ref()
                .map(|h| h.chosen(product, &self.config.data))
                .unwrap_or_default();
            for (i, test) in product.test.iter().enumerate() {
                let record = self.judge(product, test, s, &mut pixels, chosen.contains(&i))?;
                records.push(record);
                tick();
            }
            metrics.push(ProductMetrics::compute(
                &product.name,
                &records[first..],
                &mut pixels,
                self.config.routing,
                self.config.max_fpr,
            ));
        }
        let mean = MeanMetrics::of(&metrics);
        Ok(EvalReport {
            bundles: vec![self.config.bundle],
            data: self.config.data,
            layout: self.config.layout,
            setting: self.config.setting,
            routing: self.config.routing,
            input_size: self.input_size,
            max_fpr: self.config.max_fpr,
            products: metrics,
            mean,
            cost: self.cost,
            seconds: start.elapsed().as_secs_f64(),
            peak_rss_mb: peak_rss_mb(),
            images: records,
        })
    }

    /// One image: infer (routed or named), record its score, add its map and mask to `pixels`,
    /// and write its overlay when `overlay` is set.
    fn judge(
        &mut self,
        product: &Product,
        test: &dataset::TestImage,
        s: usize,
        pixels: &mut PixelScores,
        overlay: bool,
    ) -> Result<ImageRecord> {
        let name = product.name.as_str();
        let image = load_rgb(&test.path)?;
        let mask = match (&test.mask, test.is_anomalous()) {
            (_, false) => None,
            (Some(path), true) => Some(load_mask(path, self.input_size, test.mask_cutoff)?),
            (None, true) => {
                return Err(Error::Invalid(format!(
                    "{}: defect image without a ground-truth mask",
                    test.path.display()
                )))
            }
        };
        let named = match self.config.routing {
            Routing::On => None,
            Routing::Off => Some(name),
        };
        let first = self.pipeline.infer(&image, named);
        frame_error(&first.reason, &test.path)?;
        let routed = first.product.clone();
        let unknown = first.reason == Some(Reason::UnknownProduct);
        let ratio = if unknown { f32::INFINITY } else { first.ratio };
        let (map, map_rerun) = if routed.as_deref() == Some(name) {
            (first.map, false)
        } else {
            // Routed elsewhere or unknown: the true product's map, so that pixel metrics
            // measure detection and not routing.
            let again = self.pipeline.infer(&image, Some(name));
            frame_error(&again.reason, &test.path)?;
            (again.map, true)
        };
        let map = map.ok_or_else(|| {
            Error::Invalid(format!(
                "{}: the pipeline returned no anomaly map",
                test.path.display()
            ))
        })?;
        if map.data.len() != s * s {
            return Err(Error::Invalid(format!(
                "{}: anomaly map of shape {:?}, expected [{s}, {s}]",
                test.path.display(),
                map.shape
            )));
        }
        match &mask {
            Some(mask) => pixels.add_image(&map.data, mask, s, s)?,
            None => pixels.add_normal(&map.data),
        }
        let image_name = test
            .path
            .strip_prefix(&self.config.data)
            .unwrap_or(&test.path)
            .display()
            .to_string();
        if overlay {
            if let Some(h) = &self.config.heatmaps {
                let manifest = self.pipeline.manifest();
                let threshold = manifest
                    .task_index(name)
                    .map_or(f32::NAN, |i| manifest.tasks[i].threshold);
                let path = h.dir.join(name).join(overlay::file_name(&image_name));
                overlay::write(&path, &image, &map, threshold, mask.as_deref())?;
            }
        }
        Ok(ImageRecord {
            image: image_name,
            product: name.to_string(),
            kind: test.kind.clone(),
            label: test.is_anomalous(),
            routed,
            score: first.score,
            threshold: first.threshold,
            ratio,
            latency_ms: first.latency.total_ms,
            map_rerun,
        })
    }
}

/// The single-class setting: `dir` is one bundle (each product judged by its own adapters,
/// routing off; memory counted as one model per product, each with its own trunk) or a
/// directory of bundles, one per product (`dir/<product>/`), each evaluated on its own
/// products and the costs added as separate models.
pub fn single_class(config: &EvalConfig, tick: &dyn Fn()) -> Result<EvalReport> {
    let single = EvalConfig {
        routing: Routing::Off,
        setting: Setting::Single,
        ..config.clone()
    };
    if Bundle::is_bundle(&config.bundle) {
        let mut report = Evaluation::prepare(&single)?.run(tick)?;
        report.cost = report.cost.as_separate_models();
        return Ok(report);
    }
    let mut reports: Vec<EvalReport> = Vec::new();
    let in_data: BTreeSet<String> = dataset::products(&config.data, config.layout)?
        .into_iter()
        .collect();
    for dir in bundle_dirs(&config.bundle)? {
        // Each bundle evaluates the products it has that the dataset (and --categories) has.
        let wanted: Vec<String> = Bundle::open(&dir)?
            .manifest()
            .tasks
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| in_data.contains(n))
            .filter(|n| config.categories.is_empty() || config.categories.contains(n))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let per = EvalConfig {
            bundle: dir.clone(),
            categories: wanted,
            ..single.clone()
        };
        let eval = Evaluation::prepare(&per)?;
        for product in eval.products() {
            if let Some(other) = reports
                .iter()
                .find(|r| r.products.iter().any(|p| p.product == product.name))
            {
                return Err(Error::Invalid(format!(
                    "product `{}` is in two bundles: {} and {}",
                    product.name,
                    other.bundles[0].display(),
                    dir.display()
                )));
            }
        }
        reports.push(eval.run(tick)?);
    }
    if let Some(missing) = config.categories.iter().find(|c| {
        !reports
            .iter()
            .any(|r| r.products.iter().any(|p| &p.product == *c))
    }) {
        return Err(Error::Invalid(format!(
            "product `{missing}` is in no bundle under {}",
            config.bundle.display()
        )));
    }
    EvalReport::merge(reports).ok_or_else(|| {
        Error::Invalid(format!(
            "{}: neither a bundle nor a directory of bundles with a product of {} ({:?} layout)",
            config.bundle.display(),
            config.data.display(),
            config.layout
        ))
    })
}

/// Subdirectories of `dir` that hold a bundle, sorted.
pub fn bundle_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if Bundle::is_bundle(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// A frame the pipeline could not judge is an evaluation error naming the image.
fn frame_error(reason: &Option<Reason>, path: &Path) -> Result<()> {
    match reason {
        Some(Reason::Error(message)) => Err(Error::Invalid(format!(
            "{}: the pipeline could not judge the image: {message}",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// A ground-truth mask as `size x size` booleans (row-major): nearest-neighbour resize to the
/// bundle's input size (the pipeline resizes the full frame, no crop, so pixels line up), then
/// value > `cutoff` = defect (127 binarises 0/255 and soft masks such as MTD's at the middle;
/// VisA's class-index masks use 0).
pub fn load_mask(path: &Path, size: u32, cutoff: u8) -> Result<Vec<bool>> {
    let image = image::ImageReader::open(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .decode()
        .map_err(|e| Error::Image {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .to_luma8();
    let resized = if image.dimensions() == (size, size) {
        image
    } else {
        image::imageops::resize(&image, size, size, FilterType::Nearest)
    };
    Ok(resized.as_raw().iter().map(|&v| v > cutoff).collect())
}

#[cfg(test)]
mod tests {
    //! A tiny real bundle (the runtime's `tiny_*.onnx` fixture graphs, 8 px input): the
    //! trunk average-pools the normalised image 4x4 to a 2x2 map, the adapter multiplies by
    //! zero, so the map is the per-block sum of squared normalised colour: near 0 on the
    //! product's mid grey, high on a dark block.
    use super::*;
    use crate::onnx::{decode, encode};
    use adapts_runtime::bundle::{
        Bundle, BundleWriter, Manifest, Precision, ScoreStats, StageInfo, Task, TrunkInfo,
    };
    use adapts_runtime::preprocess::{Normalization, Preprocess};
    use image::{GrayImage, Luma, Rgb, RgbImage};

    const GREY: Rgb<u8> = Rgb([124, 116, 104]);
    const RED: Rgb<u8> = Rgb([250, 10, 10]);

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../runtime/tests/fixtures")
            .join(format!("tiny_{name}.onnx"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `y = x * 0`, from the shift adapter (`y = x + b`).
    fn zero_adapter() -> Vec<u8> {
        let mut model = decode(&fixture("adapter_shift")).unwrap();
        let graph = model.graph.as_mut().unwrap();
        graph.node[0].op_type = "Mul".into();
        graph.initializer[0].raw_data = vec![0u8; 12];
        encode(&model)
    }

    fn prototype(colour: Rgb<u8>) -> Vec<f32> {
        let img = RgbImage::from_pixel(8, 8, colour);
        let planar = Preprocess::full_frame(8, Normalization::Imagenet).apply(&img);
        planar
            .chunks(64)
            .map(|c| c.iter().sum::<f32>() / 64.0)
            .collect()
    }

    fn task(name: &str, colour: Rgb<u8>) -> Task {
        Task {
            name: name.into(),
            prototype: prototype(colour),
            routing_radius: 0.5,
            threshold: 1.0,
            normal_stats: ScoreStats {
                count: 4,
                mean: 0.1,
                std: 0.01,
                p50: 0.1,
                p99: 0.2,
                max: 0.2,
            },
            precision: Precision::Fp32,
            adapters: vec![format!("tasks/{name}/layer2.onnx")],
            bytes: 145,
        }
    }

    fn write_bundle(dir: &Path) {
        write_bundle_with(dir, 1.0)
    }

    /// The tiny bundle with `red`'s threshold set to `red_threshold`.
    fn write_bundle_with(dir: &Path, red_threshold: f32) {
        write_bundle_of(dir, red_threshold, &["grey", "red"])
    }

    /// The tiny bundle holding only the named products (of `grey` and `red`).
    fn write_bundle_of(dir: &Path, red_threshold: f32, names: &[&str]) {
        let mut writer = BundleWriter::create(dir).unwrap();
        writer.add_file("trunk.onnx", &fixture("trunk")).unwrap();
        writer.add_file("head.onnx", &fixture("head")).unwrap();
        for name in names {
            writer
                .add_file(&format!("tasks/{name}/layer2.onnx"), &zero_adapter())
                .unwrap();
        }
        writer
            .finish(Manifest {
                tool_version: "test".into(),
                trunk: TrunkInfo {
                    id: "tiny".into(),
                    weights_sha256: "0".repeat(64),
                    input_size: 8,
                    normalization: Normalization::Imagenet,
                },
                preset: "S".into(),
                adapted: vec![StageInfo {
                    name: "layer2".into(),
                    channels: 3,
                    height: 2,
                    width: 2,
                }],
                later_stages: vec![],
                trunk_graph: "trunk.onnx".into(),
                head_graph: "head.onnx".into(),
                routing_stage: "layer2".into(),
                routing_dim: 3,
                tasks: [
                    task("grey", GREY),
                    Task {
                        threshold: red_threshold,
                        ..task("red", RED)
                    },
                ]
                .into_iter()
                .filter(|t| names.contains(&t.name.as_str()))
                .collect(),
                files: vec![],
            })
            .unwrap();
    }

    /// Grey image with its top-left 4x4 block in `dark` (none for a good image).
    fn frame(dark: Option<u8>) -> RgbImage {
        RgbImage::from_fn(8, 8, |x, y| match dark {
            Some(v) if x < 4 && y < 4 => Rgb([v, v, v]),
            _ => GREY,
        })
    }

    /// MVTec layout: `grey` (2 good; `spot` = dark grey block, routed; `hole` = black block,
    /// far enough from the prototype to be an unknown product) and `wood` (not in the bundle).
    fn write_data(root: &Path, with_masks: bool) {
        let p = root.join("grey");
        for dir in ["train/good", "test/good", "test/spot", "test/hole"] {
            std::fs::create_dir_all(p.join(dir)).unwrap();
        }
        frame(None).save(p.join("train/good/000.png")).unwrap();
        frame(None).save(p.join("test/good/000.png")).unwrap();
        frame(None).save(p.join("test/good/001.png")).unwrap();
        frame(Some(60)).save(p.join("test/spot/000.png")).unwrap();
        frame(Some(0)).save(p.join("test/hole/000.png")).unwrap();
        if with_masks {
            // 16 px masks, soft outside (100 <= 127): nearest resize to 8, then binarise.
            let mask = GrayImage::from_fn(16, 16, |x, y| {
                Luma([if x < 8 && y < 8 { 255 } else { 100 }])
            });
            for kind in ["spot", "hole"] {
                let dir = p.join("ground_truth").join(kind);
                std::fs::create_dir_all(&dir).unwrap();
                mask.save(dir.join("000_mask.png")).unwrap();
            }
        }
        std::fs::create_dir_all(root.join("wood/train/good")).unwrap();
        frame(None)
            .save(root.join("wood/train/good/000.png"))
            .unwrap();
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("adapts-eval-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn evaluates_a_tiny_bundle_with_an_unknown_and_a_rerun_map() {
        let dir = tempdir("tiny");
        write_bundle(&dir.join("bundle"));
        write_data(&dir.join("data"), true);
        let config = EvalConfig::new(dir.join("bundle"), dir.join("data"), Layout::Mvtec);
        let eval = Evaluation::prepare(&config).unwrap();
        assert_eq!(eval.products().len(), 1, "only `grey` is in both");
        assert_eq!(eval.image_count(), 4);
        let ticks = std::sync::atomic::AtomicUsize::new(0);
        let report = eval
            .run(&|| {
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            })
            .unwrap();
        assert_eq!(ticks.into_inner(), 4);
        let p = &report.products[0];
        assert_eq!((p.images, p.defects, p.unknown, p.misrouted), (4, 2, 1, 0));
        assert_eq!(p.image_auroc, Some(1.0));
        // The unknown image's map comes from the rerun, so its dark block is still found.
        assert_eq!(p.pixel_auroc, Some(1.0));
        assert_eq!(p.routing_accuracy, Some(0.75));
        assert_eq!((p.pixels, p.defect_pixels), (4 * 64, 2 * 16));
        assert_eq!(report.mean.image_auroc, Some(1.0));
        let hole = report.images.iter().find(|r| r.kind == "hole").unwrap();
        assert_eq!(hole.routed, None);
        assert!(hole.ratio.is_infinite() && hole.map_rerun);

        let csv = report.scores_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[0],
            "image,product,kind,label,routed,score,threshold,ratio"
        );
        assert!(lines.contains(&"grey/test/hole/000.png,grey,hole,1,,NaN,NaN,inf"));
        assert!(report.table().contains("75.0"));
        // Image and pixel AP, F1max and AUPRO are perfect on this set too.
        for v in [p.image_ap, p.image_f1, p.pixel_ap, p.pixel_f1, p.aupro] {
            assert_eq!(v, Some(1.0));
        }
        assert_eq!(p.regions, 2);
        // Memory from the graphs: the fixtures carry no MAC metadata, so no GFLOPs.
        assert_eq!(report.cost.products, 2);
        assert!(report.cost.total_fp32_mb > 0.0 && report.cost.inference_gflops.is_none());
        assert!(report.peak_rss_mb.is_some_and(|m| m > 0.0));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["products"][0]["pixel_auroc"], 1.0);
        assert_eq!(json["routing"], "on");

        // Routing off: every image judged as grey, no routing column.
        let off = Evaluation::prepare(&EvalConfig {
            routing: Routing::Off,
            ..config
        })
        .unwrap()
        .run(&|| {})
        .unwrap();
        let p = &off.products[0];
        assert_eq!((p.unknown, p.routing_accuracy), (0, None));
        assert_eq!((p.image_auroc, p.pixel_auroc), (Some(1.0), Some(1.0)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn defect_image_without_mask_is_an_error_naming_it() {
        let dir = tempdir("nomask");
        write_bundle(&dir.join("bundle"));
        write_data(&dir.join("data"), false);
        let config = EvalConfig::new(dir.join("bundle"), dir.join("data"), Layout::Mvtec);
        let err = Evaluation::prepare(&config).unwrap_err().to_string();
        assert!(
            err.contains("hole/000.png") && err.contains("mask"),
            "{err}"
        );
        let err = Evaluation::prepare(&EvalConfig {
            categories: vec!["wood".into()],
            ..config
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("`wood` is not in bundle"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn masks_resize_nearest_and_binarise_above_127() {
        let dir = tempdir("mask");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.png");
        // 4x2: left half 128 (defect), right half 127 (not).
        GrayImage::from_fn(4, 2, |x, _| Luma([if x < 2 { 128 } else { 127 }]))
            .save(&path)
            .unwrap();
        let m = load_mask(&path, 2, 127).unwrap();
        assert_eq!(m, vec![true, false, true, false]);
        let m = load_mask(&path, 4, 127).unwrap();
        assert_eq!(m.iter().filter(|&&d| d).count(), 8);
        assert!(m[0] && m[1] && !m[2] && !m[3]);
        // VisA-style class-index masks: any nonzero value is a defect with cutoff 0.
        GrayImage::from_fn(4, 2, |x, _| Luma([u8::from(x < 3)]))
            .save(&path)
            .unwrap();
        assert_eq!(
            load_mask(&path, 4, 0)
                .unwrap()
                .iter()
                .filter(|&&d| d)
                .count(),
            12
        );
        assert!(load_mask(&path, 4, 127).unwrap().iter().all(|&d| !d));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `red`: a red product with one good and one dark-block test image (masked).
    fn write_red(root: &Path) {
        let p = root.join("red");
        for dir in ["train/good", "test/good", "test/spot", "ground_truth/spot"] {
            std::fs::create_dir_all(p.join(dir)).unwrap();
        }
        let red = |dark: bool| {
            RgbImage::from_fn(8, 8, |x, y| {
                if dark && x < 4 && y < 4 {
                    Rgb([60, 0, 0])
                } else {
                    RED
                }
            })
        };
        red(false).save(p.join("train/good/000.png")).unwrap();
        red(false).save(p.join("test/good/000.png")).unwrap();
        red(true).save(p.join("test/spot/000.png")).unwrap();
        GrayImage::from_fn(8, 8, |x, y| Luma([if x < 4 && y < 4 { 255 } else { 0 }]))
            .save(p.join("ground_truth/spot/000_mask.png"))
            .unwrap();
    }

    #[test]
    fn continual_replay_builds_the_step_matrix() {
        let dir = tempdir("continual");
        write_bundle(&dir.join("bundle"));
        write_data(&dir.join("data"), true);
        write_red(&dir.join("data"));
        let config = EvalConfig::new(dir.join("bundle"), dir.join("data"), Layout::Mvtec);
        assert_eq!(continual::replay_image_count(&config).unwrap(), 2 * 4 + 2);
        let report = continual::replay(&config, &|| {}).unwrap();
        assert_eq!(report.tasks, vec!["grey".to_string(), "red".to_string()]);
        assert_eq!(report.steps.len(), 2);
        // Step 1 knows grey only; step 2 both.
        assert_eq!(report.steps[0].products.len(), 1);
        assert_eq!(report.steps[0].cost.products, 1);
        assert_eq!(report.steps[1].products.len(), 2);
        let rows = &report.image_auroc.rows;
        assert!(rows[0][0].is_some() && rows[0][1].is_none());
        assert!(rows[1][0].is_some() && rows[1][1].is_some());
        // Red's prototype is far from grey images: grey's results do not move, so nothing is
        // forgotten.
        assert_eq!(rows[0][0], rows[1][0]);
        assert_eq!(report.image_auroc.forgetting, Some(0.0));
        assert_eq!(report.routing_accuracy.rows[1][0], Some(0.75));
        assert!(report.weights.is_none());
        let text = report.table();
        assert!(
            text.contains("step 2") && text.contains("forgetting 0.0"),
            "{text}"
        );

        // The single-class setting on the same bundle: routing off, one model per product.
        let single = single_class(&config, &|| {}).unwrap();
        assert_eq!(single.routing, Routing::Off);
        assert!(single.products.iter().all(|p| p.routing_accuracy.is_none()));
        let multi = Evaluation::prepare(&config).unwrap().run(&|| {}).unwrap();
        assert!(single.cost.total_fp32_mb > multi.cost.total_fp32_mb);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn weight_ledger_catches_a_changed_earlier_product() {
        let dir = tempdir("ledger");
        write_bundle(&dir.join("bundle"));
        let mut ledger = continual::WeightLedger::default();
        let open = || Bundle::open(&dir.join("bundle")).unwrap();
        ledger.step(&open()).unwrap();
        assert_eq!((ledger.added.len(), ledger.checks), (2, 0));
        ledger.step(&open()).unwrap();
        assert_eq!(ledger.checks, 2);
        // Rewrite the bundle with red's threshold changed: the ledger refuses it.
        write_bundle_with(&dir.join("bundle"), 2.0);
        let err = ledger.step(&open()).unwrap_err().to_string();
        assert!(err.contains("`red`") && err.contains("forgetting"), "{err}");
        // A product that disappears is caught too.
        let mut ledger = continual::WeightLedger::default();
        write_bundle(&dir.join("bundle"));
        ledger.step(&open()).unwrap();
        write_bundle_of(&dir.join("bundle"), 1.0, &["grey"]);
        let err = ledger.step(&open()).unwrap_err().to_string();
        assert!(err.contains("`red` is gone"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn heatmaps_carry_the_ground_truth_outline() {
        let dir = tempdir("heatmaps");
        write_bundle(&dir.join("bundle"));
        write_data(&dir.join("data"), true);
        let config = EvalConfig {
            heatmaps: Some(HeatmapConfig {
                dir: dir.join("maps"),
                per_product: 2,
                matching: Vec::new(),
            }),
            ..EvalConfig::new(dir.join("bundle"), dir.join("data"), Layout::Mvtec)
        };
        Evaluation::prepare(&config).unwrap().run(&|| {}).unwrap();
        // Two of grey's four test images, spread: the first (good) and the last (spot).
        let mut written: Vec<String> = std::fs::read_dir(dir.join("maps/grey"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        written.sort();
        assert_eq!(
            written,
            vec!["grey_test_good_000.png", "grey_test_spot_000.png"]
        );
        let spot = image::open(dir.join("maps/grey/grey_test_spot_000.png"))
            .unwrap()
            .to_rgb8();
        // The 4 x 4 defect block's outline is white; the good image has none.
        assert_eq!(spot.pixels().filter(|p| p.0 == [255, 255, 255]).count(), 12);
        // Chosen by name instead: only the hole.
        let named = EvalConfig {
            heatmaps: Some(HeatmapConfig {
                dir: dir.join("named"),
                per_product: 2,
                matching: vec!["hole/".into()],
            }),
            ..config.clone()
        };
        Evaluation::prepare(&named).unwrap().run(&|| {}).unwrap();
        let named: Vec<_> = std::fs::read_dir(dir.join("named/grey")).unwrap().collect();
        assert_eq!(named.len(), 1);
        let good = image::open(dir.join("maps/grey/grey_test_good_000.png"))
            .unwrap()
            .to_rgb8();
        assert_eq!(good.pixels().filter(|p| p.0 == [255, 255, 255]).count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn single_class_over_a_directory_of_bundles() {
        let dir = tempdir("single-dir");
        write_data(&dir.join("data"), true);
        write_red(&dir.join("data"));
        write_bundle_of(&dir.join("bundles/grey"), 1.0, &["grey"]);
        write_bundle_of(&dir.join("bundles/red"), 1.0, &["red"]);
        let config = EvalConfig::new(dir.join("bundles"), dir.join("data"), Layout::Mvtec);
        let report = single_class(&config, &|| {}).unwrap();
        let names: Vec<&str> = report.products.iter().map(|p| p.product.as_str()).collect();
        assert_eq!(names, ["grey", "red"]);
        assert_eq!(report.bundles.len(), 2);
        assert_eq!(report.setting, Setting::Single);
        // Two separate one-product models: twice the shared graphs.
        let one = Evaluation::prepare(&EvalConfig {
            bundle: dir.join("bundles/grey"),
            ..config.clone()
        })
        .unwrap()
        .run(&|| {})
        .unwrap();
        assert!((report.cost.total_fp32_mb - 2.0 * one.cost.total_fp32_mb).abs() < 1e-9);
        assert_eq!(report.images.len(), 4 + 2);
        // --categories picks per bundle; a product no bundle has is named.
        let only_red = single_class(
            &EvalConfig {
                categories: vec!["red".into()],
                ..config.clone()
            },
            &|| {},
        )
        .unwrap();
        assert_eq!(only_red.products.len(), 1);
        let err = single_class(
            &EvalConfig {
                categories: vec!["wood".into()],
                ..config.clone()
            },
            &|| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`wood` is in no bundle"), "{err}");
        // The same product in two bundles is refused, naming it.
        write_bundle_of(&dir.join("bundles/zz"), 1.0, &["grey"]);
        let err = single_class(&config, &|| {}).unwrap_err().to_string();
        assert!(err.contains("`grey` is in two bundles"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
