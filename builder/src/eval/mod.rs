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
//!   image of the product, exact ([`PixelScores`](metrics::PixelScores)). Ground truth:
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
//! columns come from the bundle's graphs ([`crate::export::cost`]).
//!
//! One file per job: [`select`] picks the products and checks their test sets, [`multi`]
//! judges one bundle ([`Evaluation`]), [`single`] and [`continual`] build their settings on
//! it, [`report`] holds what is measured and prints the tables, [`overlay`] draws heatmaps,
//! and [`metrics`] computes the metrics exactly.
//!
//! ```no_run
//! # fn main() -> adapts_builder::Result<()> {
//! use adapts_builder::data::Layout;
//! use adapts_builder::eval::{EvalConfig, Evaluation, Routing};
//!
//! let config = EvalConfig::new("bundle".into(), "data/mvtec".into(), Layout::Mvtec);
//! let eval = Evaluation::prepare(&EvalConfig { routing: Routing::Off, ..config })?;
//! let report = eval.run(&|| {})?;
//! print!("{}", report.table());
//! # Ok(()) }
//! ```

pub mod continual;
pub mod metrics;
pub mod multi;
pub mod overlay;
pub mod report;
pub mod select;
pub mod single;

use std::path::{Path, PathBuf};

use adapts_runtime::bundle::GraphPrecision;
use adapts_runtime::SessionConfig;
use serde::Serialize;

use crate::data::{Layout, ProductData};

pub use multi::Evaluation;
pub use report::{peak_rss_mb, EvalReport, ImageRecord, MeanMetrics, ProductMetrics};
pub use single::{bundle_dirs, single_class};

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
    /// Output directory; overlays go to `<dir>/<product>/`.
    pub dir: PathBuf,
    /// Test images drawn per product when `matching` is empty.
    pub per_product: usize,
    /// Substrings of dataset-relative paths selecting the images to draw; empty = use
    /// `per_product`.
    pub matching: Vec<String>,
}

impl HeatmapConfig {
    /// Indices of `product`'s test images to draw.
    fn chosen(&self, product: &ProductData, data: &Path) -> Vec<usize> {
        if self.matching.is_empty() {
            return overlay::spread(product.test.len(), self.per_product);
        }
        product
            .test
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                let rel = multi::relative_name(&t.path, data);
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
    pub product_limit: Option<usize>,
    /// FPR limit of AUPRO (0.3, the standard).
    pub max_fpr: f64,
    /// Heatmap overlays with the ground-truth contour.
    pub heatmaps: Option<HeatmapConfig>,
    /// ONNX Runtime session options.
    pub session: SessionConfig,
    /// Which graphs run: the INT8 twins where there are any (default), or FP32 only.
    pub precision: GraphPrecision,
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
            product_limit: None,
            max_fpr: 0.3,
            heatmaps: None,
            session: SessionConfig::default(),
            precision: GraphPrecision::Auto,
        }
    }
}

#[cfg(test)]
mod tests;
