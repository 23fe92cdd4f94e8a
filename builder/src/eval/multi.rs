//! One bundle judged by the device pipeline on a labelled test set: the multi-class setting
//! (routing on), and the engine of the single-class and continual settings.
//!
//! Per image: infer (routed, or with the true product named), record the score, add the map
//! and the mask to the product's pixel totals, and write an overlay when one is asked for.

use std::path::Path;
use std::time::Instant;

use adapts_runtime::bundle::Bundle;
use adapts_runtime::heatmap;
use adapts_runtime::pipeline::{Pipeline, Reason};
use adapts_runtime::preprocess::load_rgb;

use super::metrics::PixelScores;
use super::report::{peak_rss_mb, EvalReport, GraphsRun, ImageRecord, MeanMetrics, ProductMetrics};
use super::{overlay, select, EvalConfig, Routing};
use crate::data::mask::load_mask;
use crate::data::{ProductData, TestImage};
use crate::export::cost::{BundleCost, CostSummary};
use crate::{Error, Result};

/// A bundle loaded and a test set listed and checked, ready to run.
#[derive(Debug)]
pub struct Evaluation {
    config: EvalConfig,
    pipeline: Pipeline,
    products: Vec<ProductData>,
    input_size: u32,
    cost: CostSummary,
    graphs: GraphsRun,
}

impl Evaluation {
    /// Opens the bundle, lists the products to evaluate ([`select::products`]) and checks
    /// their test sets, before any inference runs.
    pub fn prepare(config: &EvalConfig) -> Result<Self> {
        let bundle = Bundle::open(&config.bundle)?;
        let mut pipeline = Pipeline::from_bundle_at(&bundle, &config.session, config.precision)?;
        let mut cost = BundleCost::of(&bundle)?;
        if let Some(n) = config.product_limit {
            pipeline.truncate_products(n)?;
            cost.products.truncate(n);
        }
        let in_bundle: Vec<String> = pipeline
            .manifest()
            .products
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let products = select::products(config, &in_bundle)?;
        let input_size = pipeline.manifest().trunk.input_size;
        Ok(Self {
            config: config.clone(),
            pipeline,
            products,
            input_size,
            cost: cost.summary(),
            graphs: GraphsRun::of(bundle.manifest(), config.precision),
        })
    }

    /// Products to evaluate, in bundle order (or `--categories` order).
    pub fn products(&self) -> &[ProductData] {
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
                let record = self
                    .judge(product, test, s, &mut pixels, chosen.contains(&i))
                    .map_err(|e| e.with_path(&test.path))?;
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
            graphs: self.graphs,
            seconds: start.elapsed().as_secs_f64(),
            peak_rss_mb: peak_rss_mb(),
            images: records,
        })
    }

    /// One image: infer (routed or named), record its score, add its map and mask to `pixels`,
    /// and write its overlay when `overlay` is set. Errors are about this image; the caller
    /// adds its path.
    fn judge(
        &mut self,
        product: &ProductData,
        test: &TestImage,
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
                return Err(Error::Dataset(
                    "defect image without a ground-truth mask".into(),
                ))
            }
        };
        let named = match self.config.routing {
            Routing::On => None,
            Routing::Off => Some(name),
        };
        let first = self.pipeline.infer(&image, named);
        frame_error(&first.reason)?;
        let routed = first.product.clone();
        let unknown = first.reason == Some(Reason::UnknownProduct);
        let ratio = if unknown { f32::INFINITY } else { first.ratio };
        let (map, map_rerun) = if routed.as_deref() == Some(name) {
            (first.map, false)
        } else {
            // Routed elsewhere or unknown: the true product's map, so that pixel metrics
            // measure detection and not routing.
            let again = self.pipeline.infer(&image, Some(name));
            frame_error(&again.reason)?;
            (again.map, true)
        };
        let map =
            map.ok_or_else(|| Error::Pipeline("the pipeline returned no anomaly map".into()))?;
        if map.data.len() != s * s {
            return Err(Error::Pipeline(format!(
                "anomaly map of shape {:?}, expected [{s}, {s}]",
                map.shape
            )));
        }
        match &mask {
            Some(mask) => pixels.add_image(&map.data, mask, s, s)?,
            None => pixels.add_normal(&map.data),
        }
        let image_name = relative_name(&test.path, &self.config.data);
        if overlay {
            if let Some(h) = &self.config.heatmaps {
                let manifest = self.pipeline.manifest();
                let threshold = manifest
                    .product_index(name)
                    .map_or(f32::NAN, |i| manifest.products[i].threshold);
                let path = h.dir.join(name).join(heatmap::file_name(&image_name));
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

/// An image's path relative to the dataset root, `/`-separated as written.
pub(super) fn relative_name(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A frame the pipeline could not judge is an evaluation error.
fn frame_error(reason: &Option<Reason>) -> Result<()> {
    match reason {
        Some(Reason::Error(message)) => Err(Error::Pipeline(format!(
            "the pipeline could not judge the image: {message}"
        ))),
        _ => Ok(()),
    }
}
