//! Evaluation of a bundle on a labelled test set: what `adapts-builder eval` measures.
//!
//! Every test image of every evaluated product goes through the same
//! [`Pipeline`](adapts_runtime::pipeline::Pipeline) the station runs, so the numbers are the
//! device's numbers (ONNX Runtime on the CPU here). Per product:
//!
//! - **I-ROC**: image AUROC of `ratio = score / threshold` (1.0 is every product's decision
//!   boundary, so ratios are comparable across products). With routing on, an image routed to
//!   another product keeps that product's ratio (the station would have judged it so), and an
//!   image rejected as an unknown product scores `+inf` (the station fails it).
//! - **P-ROC**: pixel AUROC over every pixel of every test image of the product, exact
//!   ([`PixelScores`], 4 bytes a pixel). Ground truth: the mask resized to the bundle's input
//!   size with nearest neighbour and binarised at > 127; good images have an all-zero mask; a
//!   defect image without a mask is an error. Maps always come from the true product's
//!   adapters: when routing sent an image elsewhere (or rejected it as unknown) the image is
//!   run a second time with the true product named, so P-ROC measures detection, not routing.
//! - **routing**: the fraction of images routed to their true product (routing on only; with
//!   routing off every image is judged as its true product and the column is empty).
//! - **ms/img**: mean end-to-end pipeline latency of the (first) run of each image, excluding
//!   image decoding.
//!
//! The mean row is the unweighted mean over products of each column (counts are totals).
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

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use adapts_runtime::pipeline::{Pipeline, Reason};
use adapts_runtime::preprocess::load_rgb;
use adapts_runtime::SessionConfig;
use image::imageops::FilterType;
use serde::Serialize;

use crate::dataset::{self, Layout, Product};
use crate::metrics::{auroc, PixelScores};
use crate::{Error, Result};

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
    /// ONNX Runtime session options.
    pub session: SessionConfig,
}

impl EvalConfig {
    /// Every shared product, routing on, default sessions.
    pub fn new(bundle: PathBuf, data: PathBuf, layout: Layout) -> Self {
        Self {
            bundle,
            data,
            layout,
            categories: Vec::new(),
            routing: Routing::On,
            session: SessionConfig::default(),
        }
    }
}

/// One test image's outcome: a row of `--dump-scores`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRecord {
    /// Path relative to the dataset root (absolute when outside it).
    pub image: String,
    /// True product.
    pub product: String,
    /// `good` or the defect type.
    pub kind: String,
    /// Ground truth: true = defective.
    pub label: bool,
    /// Product the pipeline judged the image as; `None` = rejected as unknown product.
    pub routed: Option<String>,
    /// Raw score under the routed product (NaN when unknown).
    pub score: f32,
    /// The routed product's threshold (NaN when unknown).
    pub threshold: f32,
    /// The image score used for I-ROC: `score / threshold`, `+inf` when unknown.
    pub ratio: f32,
    /// Pipeline latency of the run, ms.
    pub latency_ms: f64,
    /// Whether the map came from a second run with the true product named.
    pub map_rerun: bool,
}

/// Metrics of one product.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductMetrics {
    pub product: String,
    pub images: usize,
    pub defects: usize,
    /// Image AUROC of the ratio; `None` when good or defect images are missing.
    pub image_auroc: Option<f64>,
    /// Pixel AUROC; `None` when no pixel is defective (or none normal).
    pub pixel_auroc: Option<f64>,
    /// Fraction routed to the true product; `None` with routing off.
    pub routing_accuracy: Option<f64>,
    /// Images rejected as an unknown product.
    pub unknown: usize,
    /// Images routed to another product.
    pub misrouted: usize,
    /// Mean pipeline latency, ms per image.
    pub latency_ms: f64,
    /// Pixels in the pixel metric (images x S x S) and how many are defective.
    pub pixels: usize,
    pub defect_pixels: usize,
}

/// The unweighted mean over products (counts are totals).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeanMetrics {
    pub images: usize,
    pub defects: usize,
    pub image_auroc: Option<f64>,
    pub pixel_auroc: Option<f64>,
    pub routing_accuracy: Option<f64>,
    pub latency_ms: f64,
}

/// Everything `eval` measured.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub bundle: PathBuf,
    pub data: PathBuf,
    pub layout: Layout,
    pub routing: Routing,
    /// Bundle input size S (maps and masks are S x S).
    pub input_size: u32,
    pub products: Vec<ProductMetrics>,
    pub mean: MeanMetrics,
    /// Wall time of the evaluation loop (decoding, inference, metrics), seconds.
    pub seconds: f64,
    /// Per-image rows (written by [`EvalReport::scores_csv`], not part of the JSON summary).
    #[serde(skip)]
    pub images: Vec<ImageRecord>,
}

/// A bundle loaded and a test set listed and checked, ready to run.
#[derive(Debug)]
pub struct Evaluation {
    config: EvalConfig,
    pipeline: Pipeline,
    products: Vec<Product>,
    input_size: u32,
}

impl Evaluation {
    /// Opens the bundle, lists the products to evaluate (bundle products the dataset also has,
    /// or `config.categories`, each of which must be in both) and checks that every defect
    /// image has a mask, before any inference runs.
    pub fn prepare(config: &EvalConfig) -> Result<Self> {
        let pipeline = Pipeline::open(&config.bundle, &config.session)?;
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
            for test in &product.test {
                let record = self.judge(product, test, s, &mut pixels)?;
                records.push(record);
                tick();
            }
            let rows = &records[first..];
            metrics.push(product_metrics(
                &product.name,
                rows,
                &mut pixels,
                self.config.routing,
            ));
        }
        let mean = mean_row(&metrics);
        Ok(EvalReport {
            bundle: self.config.bundle,
            data: self.config.data,
            layout: self.config.layout,
            routing: self.config.routing,
            input_size: self.input_size,
            products: metrics,
            mean,
            seconds: start.elapsed().as_secs_f64(),
            images: records,
        })
    }

    /// One image: infer (routed or named), record its score, add its map and mask to `pixels`.
    fn judge(
        &mut self,
        product: &Product,
        test: &dataset::TestImage,
        s: usize,
        pixels: &mut PixelScores,
    ) -> Result<ImageRecord> {
        let name = product.name.as_str();
        let image = load_rgb(&test.path)?;
        let mask = match (&test.mask, test.is_anomalous()) {
            (_, false) => None,
            (Some(path), true) => Some(load_mask(path, self.input_size)?),
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
            // Routed elsewhere or unknown: the true product's map, so that P-ROC measures
            // detection and not routing.
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
            Some(mask) => pixels.extend(&map.data, mask),
            None => map.data.iter().for_each(|&v| pixels.push(v, false)),
        }
        let image_name = test
            .path
            .strip_prefix(&self.config.data)
            .unwrap_or(&test.path)
            .display()
            .to_string();
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
/// value > 127 = defect (soft masks such as MTD's are binarised at the middle).
pub fn load_mask(path: &Path, size: u32) -> Result<Vec<bool>> {
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
    Ok(resized.as_raw().iter().map(|&v| v > 127).collect())
}

fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

fn product_metrics(
    name: &str,
    rows: &[ImageRecord],
    pixels: &mut PixelScores,
    routing: Routing,
) -> ProductMetrics {
    let ratios: Vec<f32> = rows.iter().map(|r| r.ratio).collect();
    let labels: Vec<bool> = rows.iter().map(|r| r.label).collect();
    let n = rows.len().max(1) as f64;
    let correct = rows
        .iter()
        .filter(|r| r.routed.as_deref() == Some(name))
        .count();
    ProductMetrics {
        product: name.to_string(),
        images: rows.len(),
        defects: labels.iter().filter(|&&l| l).count(),
        image_auroc: auroc(&ratios, &labels),
        pixel_auroc: pixels.auroc(),
        routing_accuracy: (routing == Routing::On).then(|| correct as f64 / n),
        unknown: rows.iter().filter(|r| r.routed.is_none()).count(),
        misrouted: rows
            .iter()
            .filter(|r| r.routed.as_deref().is_some_and(|p| p != name))
            .count(),
        latency_ms: rows.iter().map(|r| r.latency_ms).sum::<f64>() / n,
        pixels: pixels.positives() + pixels.negatives(),
        defect_pixels: pixels.positives(),
    }
}

fn mean_row(products: &[ProductMetrics]) -> MeanMetrics {
    MeanMetrics {
        images: products.iter().map(|p| p.images).sum(),
        defects: products.iter().map(|p| p.defects).sum(),
        image_auroc: mean_of(products.iter().map(|p| p.image_auroc)),
        pixel_auroc: mean_of(products.iter().map(|p| p.pixel_auroc)),
        routing_accuracy: mean_of(products.iter().map(|p| p.routing_accuracy)),
        latency_ms: mean_of(products.iter().map(|p| Some(p.latency_ms))).unwrap_or(0.0),
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl EvalReport {
    /// Per-image CSV: `image,product,kind,label,routed,score,threshold,ratio`, one row per
    /// test image. `label` is 1 for defective; `routed` is empty for an unknown product; the
    /// floats print in full precision (`inf`, `NaN` where not computed), so anyone can
    /// recompute I-ROC from `ratio` and `label`.
    pub fn scores_csv(&self) -> String {
        let mut out = String::from("image,product,kind,label,routed,score,threshold,ratio\n");
        for r in &self.images {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{}",
                csv_field(&r.image),
                csv_field(&r.product),
                csv_field(&r.kind),
                u8::from(r.label),
                csv_field(r.routed.as_deref().unwrap_or("")),
                r.score,
                r.threshold,
                r.ratio
            );
        }
        out
    }

    /// The table `eval` prints: one row per product plus the mean.
    pub fn table(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
        let auc = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<16} {:>6} {:>7} {:>7} {:>7} {:>8} {:>8}",
            "product", "images", "defects", "I-ROC", "P-ROC", "routing", "ms/img"
        );
        for p in &self.products {
            let _ = writeln!(
                out,
                "{:<16} {:>6} {:>7} {:>7} {:>7} {:>8} {:>8.2}",
                p.product,
                p.images,
                p.defects,
                auc(p.image_auroc),
                auc(p.pixel_auroc),
                pct(p.routing_accuracy),
                p.latency_ms
            );
        }
        let m = &self.mean;
        let _ = writeln!(
            out,
            "{:<16} {:>6} {:>7} {:>7} {:>7} {:>8} {:>8.2}",
            "mean",
            m.images,
            m.defects,
            auc(m.image_auroc),
            auc(m.pixel_auroc),
            pct(m.routing_accuracy),
            m.latency_ms
        );
        out
    }
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
        BundleWriter, Manifest, Precision, ScoreStats, StageInfo, Task, TrunkInfo,
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
        let mut writer = BundleWriter::create(dir).unwrap();
        writer.add_file("trunk.onnx", &fixture("trunk")).unwrap();
        writer.add_file("head.onnx", &fixture("head")).unwrap();
        for name in ["grey", "red"] {
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
                tasks: vec![task("grey", GREY), task("red", RED)],
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
        assert!(report.table().contains("75.0%"));
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
        let m = load_mask(&path, 2).unwrap();
        assert_eq!(m, vec![true, false, true, false]);
        let m = load_mask(&path, 4).unwrap();
        assert_eq!(m.iter().filter(|&&d| d).count(), 8);
        assert!(m[0] && m[1] && !m[2] && !m[3]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
