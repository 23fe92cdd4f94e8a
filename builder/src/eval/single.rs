//! The single-class setting: every product judged by its own model, routing off. The bundle
//! is either one bundle (each product named to the pipeline; memory counted as one model per
//! product) or a directory of bundles, one per product.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use adapts_runtime::bundle::Bundle;

use super::{EvalConfig, EvalReport, Evaluation, Routing, Setting};
use crate::data;
use crate::{Error, PathContext, Result};

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
    let in_data: BTreeSet<String> = data::products(&config.data, config.layout)?
        .into_iter()
        .collect();
    for dir in bundle_dirs(&config.bundle)? {
        // Each bundle evaluates the products it has that the dataset (and --categories) has.
        let wanted: Vec<String> = Bundle::open(&dir)?
            .manifest()
            .products
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
                return Err(Error::Selection(format!(
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
        return Err(Error::Selection(format!(
            "product `{missing}` is in no bundle under {}",
            config.bundle.display()
        )));
    }
    EvalReport::merge(reports).ok_or_else(|| {
        Error::Selection(format!(
            "{}: neither a bundle nor a directory of bundles with a product of {} ({:?} layout)",
            config.bundle.display(),
            config.data.display(),
            config.layout
        ))
    })
}

/// Subdirectories of `dir` that hold a bundle, sorted.
pub fn bundle_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_path(dir)? {
        let path = entry.with_path(dir)?.path();
        if Bundle::is_bundle(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
