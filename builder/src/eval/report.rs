//! What an evaluation reports: per-product and mean metrics, the paper-style table, the
//! per-image CSV, and the memory and cost columns.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::data::Layout;
use crate::eval::metrics::{auroc, average_precision, f1_max, PixelMetrics, PixelScores};
use crate::export::cost::CostSummary;

use super::{Routing, Setting};

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
    /// The image score of the metrics: `score / threshold`, `+inf` when unknown.
    pub ratio: f32,
    /// Pipeline latency of the run, ms.
    pub latency_ms: f64,
    /// Whether the map came from a second run with the true product named.
    pub map_rerun: bool,
}

/// Metrics of one product. Image metrics use the ratio; `None` where a class is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductMetrics {
    /// Product name.
    pub product: String,
    /// Test images evaluated.
    pub images: usize,
    /// Defective test images among them.
    pub defects: usize,
    /// I-ROC: image AUROC.
    pub image_auroc: Option<f64>,
    /// I-AP: image average precision.
    pub image_ap: Option<f64>,
    /// I-F1max: best image F1 over all thresholds.
    pub image_f1: Option<f64>,
    /// P-ROC: pixel AUROC over every pixel of the product's test maps.
    pub pixel_auroc: Option<f64>,
    /// P-AP: pixel average precision.
    pub pixel_ap: Option<f64>,
    /// P-F1max: best pixel F1 over all thresholds.
    pub pixel_f1: Option<f64>,
    /// AUPRO up to the report's FPR limit, normalised by it.
    pub aupro: Option<f64>,
    /// Fraction routed to the true product; `None` with routing off.
    pub routing_accuracy: Option<f64>,
    /// Good images the station would not pass at the bundle's threshold (score above it, or
    /// rejected as an unknown product); `None` without good images.
    pub false_reject_rate: Option<f64>,
    /// Defective images the station would pass (routed and scored at or below the
    /// threshold); `None` without defects.
    pub escape_rate: Option<f64>,
    /// Images rejected as an unknown product.
    pub unknown: usize,
    /// Images routed to another product.
    pub misrouted: usize,
    /// Mean pipeline latency, ms per image.
    pub latency_ms: f64,
    /// Pixels in the pixel metrics (images x S x S).
    pub pixels: usize,
    /// Defective pixels among `pixels`.
    pub defect_pixels: usize,
    /// Connected ground-truth defect regions (what AUPRO averages over).
    pub regions: usize,
}

impl ProductMetrics {
    /// Metrics from a product's image rows and its pixels (sorted in place).
    pub fn compute(
        name: &str,
        rows: &[ImageRecord],
        pixels: &mut PixelScores,
        routing: Routing,
        max_fpr: f64,
    ) -> Self {
        let ratios: Vec<f32> = rows.iter().map(|r| r.ratio).collect();
        let labels: Vec<bool> = rows.iter().map(|r| r.label).collect();
        let n = rows.len().max(1) as f64;
        let correct = rows
            .iter()
            .filter(|r| r.routed.as_deref() == Some(name))
            .count();
        let counts = (
            pixels.positives() + pixels.negatives(),
            pixels.positives(),
            pixels.regions(),
        );
        let PixelMetrics {
            auroc: pixel_auroc,
            average_precision: pixel_ap,
            f1_max: pixel_f1,
            aupro,
        } = pixels.metrics(max_fpr);
        Self {
            product: name.to_string(),
            images: rows.len(),
            defects: labels.iter().filter(|&&l| l).count(),
            image_auroc: auroc(&ratios, &labels),
            image_ap: average_precision(&ratios, &labels),
            image_f1: f1_max(&ratios, &labels).map(|f| f.0),
            pixel_auroc,
            pixel_ap,
            pixel_f1,
            aupro,
            routing_accuracy: (routing == Routing::On).then(|| correct as f64 / n),
            false_reject_rate: fraction(rows.iter().filter(|r| !r.label).map(|r| r.ratio > 1.0)),
            escape_rate: fraction(rows.iter().filter(|r| r.label).map(|r| r.ratio <= 1.0)),
            unknown: rows.iter().filter(|r| r.routed.is_none()).count(),
            misrouted: rows
                .iter()
                .filter(|r| r.routed.as_deref().is_some_and(|p| p != name))
                .count(),
            latency_ms: rows.iter().map(|r| r.latency_ms).sum::<f64>() / n,
            pixels: counts.0,
            defect_pixels: counts.1,
            regions: counts.2,
        }
    }
}

/// The share of `true` among `flags`; `None` when there are none.
fn fraction(flags: impl Iterator<Item = bool>) -> Option<f64> {
    let (hits, n) = flags.fold((0usize, 0usize), |(h, n), f| (h + usize::from(f), n + 1));
    (n > 0).then(|| hits as f64 / n as f64)
}

/// The unweighted mean over products of each metric (counts are totals).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeanMetrics {
    /// Test images over all products.
    pub images: usize,
    /// Defective test images over all products.
    pub defects: usize,
    /// Mean I-ROC.
    pub image_auroc: Option<f64>,
    /// Mean I-AP.
    pub image_ap: Option<f64>,
    /// Mean I-F1max.
    pub image_f1: Option<f64>,
    /// Mean P-ROC.
    pub pixel_auroc: Option<f64>,
    /// Mean P-AP.
    pub pixel_ap: Option<f64>,
    /// Mean P-F1max.
    pub pixel_f1: Option<f64>,
    /// Mean AUPRO.
    pub aupro: Option<f64>,
    /// Mean routing accuracy; `None` with routing off.
    pub routing_accuracy: Option<f64>,
    /// Mean false-reject rate at the bundle's thresholds.
    pub false_reject_rate: Option<f64>,
    /// Mean escape rate at the bundle's thresholds.
    pub escape_rate: Option<f64>,
    /// Mean of the products' mean latencies, ms per image (0 with no products).
    pub latency_ms: f64,
}

fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

impl MeanMetrics {
    /// Means over `products`, skipping products where a metric is `None`; `None` when no product
    /// has it.
    pub fn of(products: &[ProductMetrics]) -> Self {
        let mean = |f: fn(&ProductMetrics) -> Option<f64>| mean_of(products.iter().map(f));
        Self {
            images: products.iter().map(|p| p.images).sum(),
            defects: products.iter().map(|p| p.defects).sum(),
            image_auroc: mean(|p| p.image_auroc),
            image_ap: mean(|p| p.image_ap),
            image_f1: mean(|p| p.image_f1),
            pixel_auroc: mean(|p| p.pixel_auroc),
            pixel_ap: mean(|p| p.pixel_ap),
            pixel_f1: mean(|p| p.pixel_f1),
            aupro: mean(|p| p.aupro),
            routing_accuracy: mean(|p| p.routing_accuracy),
            false_reject_rate: mean(|p| p.false_reject_rate),
            escape_rate: mean(|p| p.escape_rate),
            latency_ms: mean(|p| Some(p.latency_ms)).unwrap_or(0.0),
        }
    }
}

/// Which graph files an evaluation ran.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GraphsRun {
    /// `--precision`.
    pub precision: adapts_runtime::bundle::GraphPrecision,
    /// Graphs in the bundle.
    pub graphs: usize,
    /// Of those, run as their INT8 twin.
    pub int8: usize,
    /// Bytes of the graph files loaded.
    pub bytes: u64,
}

impl GraphsRun {
    /// What `precision` loads from the bundle of manifest `m`.
    pub fn of(
        m: &adapts_runtime::bundle::Manifest,
        precision: adapts_runtime::bundle::GraphPrecision,
    ) -> Self {
        let graphs = m.graphs();
        Self {
            precision,
            graphs: graphs.len(),
            int8: graphs
                .iter()
                .filter(|g| m.graph_file(g, precision) != **g)
                .count(),
            bytes: m.graph_bytes(precision),
        }
    }
}

/// Everything one evaluation measured.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Bundle directories (one, or one per product in the single-class setting).
    pub bundles: Vec<PathBuf>,
    /// Dataset root.
    pub data: PathBuf,
    /// Dataset layout.
    pub layout: Layout,
    /// Setting the evaluation was run in.
    pub setting: Setting,
    /// Whether the pipeline routed each image or was told its product.
    pub routing: Routing,
    /// Bundle input size S (maps and masks are S x S).
    pub input_size: u32,
    /// FPR limit of AUPRO.
    pub max_fpr: f64,
    /// Metrics of each evaluated product.
    pub products: Vec<ProductMetrics>,
    /// Mean over `products`.
    pub mean: MeanMetrics,
    /// Memory and GFLOPs of the evaluated model(s).
    pub cost: CostSummary,
    /// The graphs that ran: the precision asked for, how many ran as INT8 twins, and the
    /// bytes of the graph files loaded.
    pub graphs: GraphsRun,
    /// Wall time of the evaluation loop (decoding, inference, metrics), seconds.
    pub seconds: f64,
    /// Peak resident memory of this process so far (Linux `VmHWM`), MB.
    pub peak_rss_mb: Option<f64>,
    /// Per-image rows (written by [`EvalReport::scores_csv`], not part of the JSON summary).
    #[serde(skip)]
    pub images: Vec<ImageRecord>,
}

pub use adapts_runtime::process::peak_rss_mb;

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `0.9123` as `91.2`, `-` when absent: the paper's percent columns.
pub fn pct(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{:.1}", 100.0 * v))
}

fn gflops(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.2}"))
}

impl EvalReport {
    /// Joins reports of separate bundles (the single-class setting): products side by side,
    /// costs added as separate models, times added.
    pub fn merge(reports: Vec<EvalReport>) -> Option<EvalReport> {
        let mut it = reports.into_iter();
        let mut out = it.next()?;
        for r in it {
            out.bundles.extend(r.bundles);
            out.products.extend(r.products);
            out.images.extend(r.images);
            out.cost = out.cost + r.cost;
            out.seconds += r.seconds;
            out.peak_rss_mb = r.peak_rss_mb.or(out.peak_rss_mb);
        }
        out.mean = MeanMetrics::of(&out.products);
        Some(out)
    }

    /// Per-image CSV: `image,product,kind,label,routed,score,threshold,ratio`, one row per
    /// test image. `label` is 1 for defective; `routed` is empty for an unknown product; the
    /// floats print in full precision (`inf`, `NaN` where not computed), so anyone can
    /// recompute the image metrics from `ratio` and `label`.
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

    /// The paper-style table (percent): one row per product plus the mean, then the memory
    /// and cost line. `FRR%` and `esc%` are the verdicts at the bundle's thresholds: good
    /// parts failed and defects passed.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let header = [
            "I-ROC", "I-AP", "I-F1", "P-ROC", "P-AP", "P-F1", "AUPRO", "route%", "FRR%", "esc%",
            "ms/img",
        ];
        let _ = write!(out, "{:<16} {:>6} {:>7}", "product", "images", "defects");
        for h in header {
            let _ = write!(out, " {h:>6}");
        }
        out.push('\n');
        let row = |out: &mut String,
                   name: &str,
                   images: usize,
                   defects: usize,
                   v: [Option<f64>; 10],
                   ms: f64| {
            let _ = write!(out, "{name:<16} {images:>6} {defects:>7}");
            for x in v {
                let _ = write!(out, " {:>6}", pct(x));
            }
            let _ = writeln!(out, " {ms:>6.2}");
        };
        for p in &self.products {
            row(
                &mut out,
                &p.product,
                p.images,
                p.defects,
                [
                    p.image_auroc,
                    p.image_ap,
                    p.image_f1,
                    p.pixel_auroc,
                    p.pixel_ap,
                    p.pixel_f1,
                    p.aupro,
                    p.routing_accuracy,
                    p.false_reject_rate,
                    p.escape_rate,
                ],
                p.latency_ms,
            );
        }
        let m = &self.mean;
        row(
            &mut out,
            "mean",
            m.images,
            m.defects,
            [
                m.image_auroc,
                m.image_ap,
                m.image_f1,
                m.pixel_auroc,
                m.pixel_ap,
                m.pixel_f1,
                m.aupro,
                m.routing_accuracy,
                m.false_reject_rate,
                m.escape_rate,
            ],
            m.latency_ms,
        );
        let c = &self.cost;
        let _ = writeln!(
            out,
            "memory: total {:.2} MB FP32 / {:.2} MB INT8, additional per product {:.4} MB FP32 / \
             {:.4} MB INT8 ({} products, {:.2} MB as stored); GFLOPs per image: inference {}, \
             training {}",
            c.total_fp32_mb,
            c.total_int8_mb,
            c.additional_fp32_mb,
            c.additional_int8_mb,
            c.products,
            c.stored_mb,
            gflops(c.inference_gflops),
            gflops(c.training_gflops)
        );
        let g = &self.graphs;
        let _ = writeln!(
            out,
            "graphs run (--precision {}): {} of {} as INT8 twins, {:.2} MB loaded; mean latency \
             {:.2} ms per image",
            g.precision,
            g.int8,
            g.graphs,
            g.bytes as f64 / 1e6,
            self.mean.latency_ms
        );
        out
    }
}
