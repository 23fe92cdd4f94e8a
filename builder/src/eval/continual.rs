//! The continual setting: products arrive one at a time; after each step every product seen
//! so far is evaluated. Rows of the result matrix are steps, columns products; the final
//! average is the last row's mean and a product's forgetting is its best earlier result minus
//! its final one (averaged over every product but the last, the usual definition).
//!
//! Two sources of steps: a training run that evaluates after each step (`adapts-builder
//! paper`), which also checks that no earlier product's weights changed ([`WeightLedger`]),
//! and [`replay`], which evaluates a finished bundle's first `k` products for every `k`:
//! exact, because appending adds products at the end and never rewrites an earlier one.
//! Routing at step `k` chooses among the first `k` prototypes only, so a later product can
//! still take images from an earlier one: that is the forgetting AdapTS can have, and it shows
//! in the routing and image columns, never in the weights.

use std::fmt::Write as _;

use adapts_runtime::bundle::{sha256_hex, Bundle};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::report::pct;

/// `0.9123` as `91.2`, `-` when absent.
pub fn fmt_pct(v: Option<f64>) -> String {
    pct(v)
}
use super::{EvalConfig, EvalReport, Evaluation, MeanMetrics, ProductMetrics, Setting};
use crate::export::onnx;
use crate::{Error, PathContext, Result};

/// One metric over steps x products (`None` above the diagonal: not seen yet).
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// Metric name as printed (`I-ROC`, `P-ROC`, `AUPRO` or `routing`).
    pub metric: String,
    /// `rows[step][product]`, products in the order added; `None` where the product was not seen
    /// yet or the metric is undefined.
    pub rows: Vec<Vec<Option<f64>>>,
    /// Mean of the last row.
    pub final_average: Option<f64>,
    /// Mean over products but the last of (best before the last step - final).
    pub forgetting: Option<f64>,
}

impl Matrix {
    fn build(
        metric: &str,
        products: &[String],
        steps: &[EvalReport],
        f: fn(&ProductMetrics) -> Option<f64>,
    ) -> Self {
        let rows: Vec<Vec<Option<f64>>> = steps
            .iter()
            .map(|step| {
                products
                    .iter()
                    .map(|t| step.products.iter().find(|p| &p.product == t).and_then(f))
                    .collect()
            })
            .collect();
        let last = rows.last().cloned().unwrap_or_default();
        let present: Vec<f64> = last.iter().flatten().copied().collect();
        let final_average =
            (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64);
        let mut drops = Vec::new();
        for j in 0..products.len().saturating_sub(1) {
            let best = rows[..rows.len() - 1]
                .iter()
                .filter_map(|r| r[j])
                .fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.max(v))));
            if let (Some(best), Some(fin)) = (best, last[j]) {
                drops.push(best - fin);
            }
        }
        let forgetting =
            (!drops.is_empty()).then(|| drops.iter().sum::<f64>() / drops.len() as f64);
        Self {
            metric: metric.to_string(),
            rows,
            final_average,
            forgetting,
        }
    }
}

/// Digest of everything a product's judgement depends on: its adapter weights (every
/// initializer's name and bytes, decoded from its graphs), prototype, routing radius and
/// threshold.
pub fn product_digests(bundle: &Bundle) -> Result<Vec<(String, String)>> {
    let m = bundle.manifest();
    let mut out = Vec::with_capacity(m.products.len());
    for (i, product) in m.products.iter().enumerate() {
        let mut h = Sha256::new();
        for path in bundle.adapter_graphs(i).unwrap_or_default() {
            let bytes = std::fs::read(&path).with_path(&path)?;
            let model = onnx::decode(&bytes).with_path(&path)?;
            for t in model.graph.iter().flat_map(|g| &g.initializer) {
                h.update(t.name.as_bytes());
                h.update(&t.raw_data);
            }
        }
        for v in &product.prototype {
            h.update(v.to_le_bytes());
        }
        h.update(product.routing_radius.to_le_bytes());
        h.update(product.threshold.to_le_bytes());
        out.push((product.name.clone(), sha256_hex(&h.finalize())));
    }
    Ok(out)
}

/// Digest of the graphs every product shares (trunk, later stages, head): each file's sha256
/// as recorded in the manifest, which [`Bundle::open`] verified against the bytes.
pub fn shared_digest(bundle: &Bundle) -> String {
    let m = bundle.manifest();
    let mut shared: Vec<&str> = vec![m.trunk_graph.as_str(), m.head_graph.as_str()];
    shared.extend(m.later_stages.iter().map(|s| s.graph.as_str()));
    let mut h = Sha256::new();
    for rel in shared {
        h.update(rel.as_bytes());
        if let Some(f) = m.files.iter().find(|f| f.path == rel) {
            h.update(f.sha256.as_bytes());
        }
    }
    sha256_hex(&h.finalize())
}

/// Each product's digest when it was added, checked after every later step, with the shared
/// graphs' digest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WeightLedger {
    /// Digest of the shared graphs at the first step.
    pub shared: Option<String>,
    /// (product, digest when added).
    pub added: Vec<(String, String)>,
    /// Comparisons of an earlier product's digest after a later step.
    pub checks: usize,
}

impl WeightLedger {
    /// Records the new products of `bundle` and checks every earlier one; an error naming the
    /// product and the step when an earlier product's weights changed.
    pub fn step(&mut self, bundle: &Bundle) -> Result<()> {
        let step = bundle.manifest().products.len();
        let shared = shared_digest(bundle);
        match &self.shared {
            Some(before) if *before != shared => {
                return Err(Error::Forgetting(format!(
                    "the shared graphs (trunk, later stages, head) changed at step {step}"
                )))
            }
            _ => self.shared = Some(shared),
        }
        let digests = product_digests(bundle)?;
        if let Some((gone, _)) = self
            .added
            .iter()
            .find(|(name, _)| !digests.iter().any(|(n, _)| n == name))
        {
            return Err(Error::Forgetting(format!(
                "product `{gone}` is gone from the bundle at step {step}"
            )));
        }
        for (name, digest) in digests {
            match self.added.iter().find(|(n, _)| *n == name) {
                Some((_, before)) if *before != digest => {
                    return Err(Error::Forgetting(format!(
                        "the weights of `{name}` changed at step {step} ({before} -> {digest})"
                    )))
                }
                Some(_) => self.checks += 1,
                None => self.added.push((name, digest)),
            }
        }
        Ok(())
    }
}

/// The continual result.
#[derive(Debug, Clone, Serialize)]
pub struct ContinualReport {
    /// Products in the order they were added.
    pub products: Vec<String>,
    /// Image AUROC (I-ROC) after each step.
    pub image_auroc: Matrix,
    /// Pixel AUROC (P-ROC) after each step.
    pub pixel_auroc: Matrix,
    /// AUPRO after each step.
    pub aupro: Matrix,
    /// Fraction of each product's images routed to it after each step.
    pub routing_accuracy: Matrix,
    /// Mean metrics after the last step.
    pub final_mean: MeanMetrics,
    /// Weight checks of a training run; `None` for a replay.
    pub weights: Option<WeightLedger>,
    /// Step `k` evaluated products `1..=k`.
    pub steps: Vec<EvalReport>,
}

impl ContinualReport {
    /// From the reports of each step (step `k` covering the first `k` of `products`).
    pub fn from_steps(
        products: Vec<String>,
        steps: Vec<EvalReport>,
        weights: Option<WeightLedger>,
    ) -> Result<Self> {
        let last = steps
            .last()
            .ok_or_else(|| Error::Selection("continual evaluation without steps".into()))?;
        Ok(Self {
            image_auroc: Matrix::build("I-ROC", &products, &steps, |p| p.image_auroc),
            pixel_auroc: Matrix::build("P-ROC", &products, &steps, |p| p.pixel_auroc),
            aupro: Matrix::build("AUPRO", &products, &steps, |p| p.aupro),
            routing_accuracy: Matrix::build("routing", &products, &steps, |p| p.routing_accuracy),
            final_mean: last.mean.clone(),
            products,
            weights,
            steps,
        })
    }

    /// The matrices as text (percent), then final average and forgetting per metric and the
    /// weight check.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for m in [
            &self.image_auroc,
            &self.pixel_auroc,
            &self.aupro,
            &self.routing_accuracy,
        ] {
            let _ = write!(out, "{:<10}", m.metric);
            for t in &self.products {
                let _ = write!(out, " {:>10}", truncate(t, 10));
            }
            out.push('\n');
            for (k, row) in m.rows.iter().enumerate() {
                let _ = write!(out, "{:<10}", format!("step {}", k + 1));
                for v in row {
                    let _ = write!(
                        out,
                        " {:>10}",
                        if v.is_some() { pct(*v) } else { String::new() }
                    );
                }
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "final average {}, forgetting {}\n",
                pct(m.final_average),
                pct(m.forgetting)
            );
        }
        match &self.weights {
            Some(w) => {
                let _ = writeln!(
                    out,
                    "weights: {} products added, {} later-step checks: every earlier product's adapters, \
                     prototype, radius and threshold unchanged; shared graphs unchanged",
                    w.added.len(),
                    w.checks
                );
            }
            None => out.push_str(
                "weights: replayed from the final bundle (earlier products' files are the ones \
                 their step wrote; the manifest's sha256 of each was verified on open)\n",
            ),
        }
        out
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Replays a finished bundle: step `k` keeps its first `k` products and evaluates them (a
/// bundle product the dataset lacks is routed to but has no column of its own),
/// routing on; heatmap overlays come from the last step. `tick` is called once per judged
/// image.
pub fn replay(config: &EvalConfig, tick: &dyn Fn()) -> Result<ContinualReport> {
    let bundle = Bundle::open(&config.bundle)?;
    let all: Vec<String> = bundle
        .manifest()
        .products
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let products = replay_products(&bundle, config)?;
    if products.is_empty() {
        return Err(Error::Selection(format!(
            "no product is both in bundle {} and in {} ({:?} layout)",
            config.bundle.display(),
            config.data.display(),
            config.layout
        )));
    }
    let mut steps = Vec::new();
    let last = all.iter().rposition(|t| products.contains(t));
    for (k, name) in all.iter().enumerate() {
        if !products.contains(name) {
            continue;
        }
        let seen: Vec<String> = all[..=k]
            .iter()
            .filter(|t| products.contains(t))
            .cloned()
            .collect();
        let step = EvalConfig {
            categories: seen,
            product_limit: Some(k + 1),
            routing: Setting::Continual.routing(),
            setting: Setting::Continual,
            // Overlays once, from the full bundle.
            heatmaps: config.heatmaps.clone().filter(|_| Some(k) == last),
            ..config.clone()
        };
        steps.push(Evaluation::prepare(&step)?.run(tick)?);
    }
    ContinualReport::from_steps(products, steps, None)
}

/// Images judged by [`replay`] (for a progress bar), counted from the manifest and the test
/// lists without loading any graph: the `j`-th of `n` replayed products is judged `n - j`
/// times (0-based `j`).
pub fn replay_image_count(config: &EvalConfig) -> Result<usize> {
    let bundle = Bundle::open(&config.bundle)?;
    let products = replay_products(&bundle, config)?;
    let n = products.len();
    let mut total = 0;
    for (j, name) in products.iter().enumerate() {
        let product = crate::data::load_product(&config.data, config.layout, name)?;
        total += (n - j) * product.test.len();
    }
    Ok(total)
}

/// The bundle's products, in the order they were added, that the dataset has (and that
/// `--categories` names, when given).
fn replay_products(bundle: &Bundle, config: &EvalConfig) -> Result<Vec<String>> {
    let in_data = crate::data::products(&config.data, config.layout)?;
    Ok(bundle
        .manifest()
        .products
        .iter()
        .map(|t| t.name.clone())
        .filter(|t| in_data.contains(t))
        .filter(|t| config.categories.is_empty() || config.categories.contains(t))
        .collect())
}
