//! `adapts-builder report`: routing accuracy and image AUROC of a runtime results file.
//!
//! Lines are read as [`ResultLine`]s, the type `adapts-runtime run` writes. Frame ids must
//! read `<product>/<kind>/<file>` (kind `good` or a defect type): the layout of an MVTec test
//! folder per product, which is how `make demo` lays out its mixed test set.
//!
//! Routing accuracy counts the good parts of trained products: a defect may move an image
//! away from its product, and a defective part rejected as an unknown product is a FAIL
//! like an anomaly (the report counts those apart). For products the bundle does not have,
//! the accuracy is the fraction rejected as unknown.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::eval::metrics::auroc;
use adapts_runtime::pipeline::{ReasonCode, Verdict};
use adapts_runtime::results::ResultLine;
use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
pub struct Args {
    /// results.jsonl written by `adapts-runtime run`.
    #[arg(long)]
    results: PathBuf,
    /// Print a JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default, serde::Serialize)]
struct ProductReport {
    images: usize,
    anomalous: usize,
    /// Good parts routed to this product (trained products), or images rejected as unknown
    /// (others).
    routing_accuracy: f64,
    unknown_rejections: usize,
    /// Defective parts rejected as an unknown product (trained products).
    defects_unknown: usize,
    /// Image AUROC of score / threshold (None when a class is missing).
    image_auroc: Option<f64>,
    /// Frames whose verdict matched the ground truth (trained products only).
    verdict_accuracy: Option<f64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.results)
        .with_context(|| format!("reading {}", args.results.display()))?;
    struct Row {
        product: String,
        anomalous: bool,
        routed: Option<String>,
        unknown: bool,
        ratio: f32,
        fail: bool,
    }
    let mut rows = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r = ResultLine::parse(line).with_context(|| {
            format!(
                "{}: line {}: not a result line",
                args.results.display(),
                i + 1
            )
        })?;
        let parts: Vec<&str> = r.image.split('/').collect();
        if parts.len() < 3 {
            anyhow::bail!(
                "{}: line {}: frame id `{}` is not <product>/<kind>/<file>",
                args.results.display(),
                i + 1,
                r.image
            );
        }
        rows.push(Row {
            product: parts[0].to_string(),
            anomalous: parts[1] != "good",
            unknown: r.reason == Some(ReasonCode::UnknownProduct),
            ratio: r.ratio.unwrap_or(f32::INFINITY),
            fail: r.verdict == Verdict::Fail,
            routed: r.product,
        });
    }
    let trained: std::collections::HashSet<String> =
        rows.iter().filter_map(|r| r.routed.clone()).collect();
    let mut report: BTreeMap<String, ProductReport> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        groups.entry(r.product.clone()).or_default().push(r);
    }
    let (mut routed_ok, mut routed_total) = (0usize, 0usize);
    for (product, group) in &groups {
        let known = trained.contains(product);
        let judged: Vec<&&Row> = group.iter().filter(|r| !known || !r.anomalous).collect();
        let correct = judged
            .iter()
            .filter(|r| {
                if known {
                    r.routed.as_deref() == Some(product.as_str())
                } else {
                    r.unknown
                }
            })
            .count();
        if known {
            routed_ok += correct;
            routed_total += judged.len();
        }
        let scores: Vec<f32> = group.iter().map(|r| r.ratio).collect();
        let labels: Vec<bool> = group.iter().map(|r| r.anomalous).collect();
        report.insert(
            product.clone(),
            ProductReport {
                images: group.len(),
                anomalous: labels.iter().filter(|&&l| l).count(),
                routing_accuracy: correct as f64 / judged.len().max(1) as f64,
                unknown_rejections: group.iter().filter(|r| r.unknown).count(),
                defects_unknown: if known {
                    group.iter().filter(|r| r.unknown && r.anomalous).count()
                } else {
                    0
                },
                image_auroc: if known { auroc(&scores, &labels) } else { None },
                verdict_accuracy: known.then(|| {
                    group.iter().filter(|r| r.fail == r.anomalous).count() as f64
                        / group.len() as f64
                }),
            },
        );
    }
    let overall = if routed_total > 0 {
        routed_ok as f64 / routed_total as f64
    } else {
        0.0
    };
    if args.json {
        let out = serde_json::json!({ "routing_accuracy": overall, "products": report });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{:<16} {:>6} {:>6} {:>9} {:>8} {:>11} {:>9}",
            "product", "images", "defect", "routing", "unknown", "image AUROC", "verdicts"
        );
        for (name, r) in &report {
            println!(
                "{:<16} {:>6} {:>6} {:>8.1}% {:>8} {:>11} {:>9}",
                name,
                r.images,
                r.anomalous,
                100.0 * r.routing_accuracy,
                r.unknown_rejections,
                r.image_auroc.map_or("-".into(), |a| format!("{a:.4}")),
                r.verdict_accuracy
                    .map_or("-".into(), |a| format!("{:.1}%", 100.0 * a))
            );
        }
        println!(
            "routing accuracy over the good parts of trained products: {:.2}% \
             ({routed_ok}/{routed_total})",
            100.0 * overall
        );
        let defects_unknown: usize = report.values().map(|r| r.defects_unknown).sum();
        if defects_unknown > 0 {
            println!(
                "defective parts of trained products rejected as unknown (FAIL): {defects_unknown}"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
