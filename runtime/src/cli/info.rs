//! `adapts-runtime info`: what a bundle holds (trunk, preset, products, footprint), after
//! verifying every file's checksum. What a line engineer checks before deploying a bundle.

use std::io::Write;
use std::path::{Path, PathBuf};

use adapts_runtime::bundle::{
    Bundle, LaterStage, Precision, ScoreStats, Scoring, StageInfo, TrunkInfo,
};
use adapts_runtime::preprocess::Normalization;
use adapts_runtime::trust::TrustPolicy;
use anyhow::Context;
use serde::Serialize;

/// Arguments of `info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Bundle directory.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    trust: super::TrustArgs,
}

/// What `info` reports.
#[derive(Debug, Serialize)]
struct InfoReport<'a> {
    bundle: &'a Path,
    tool_version: &'a str,
    sequence: u64,
    /// `unsigned`, `signed by KEY (not checked)` or `signed by KEY (verified)`.
    signature: String,
    trunk: &'a TrunkInfo,
    preset: &'a str,
    adapted: &'a [StageInfo],
    later_stages: &'a [LaterStage],
    routing_stage: &'a str,
    routing_dim: usize,
    scoring: &'a Scoring,
    products: Vec<ProductReport<'a>>,
    files: usize,
    total_bytes: u64,
    /// Graphs with an INT8 twin (run by default, `--precision auto`).
    int8_graphs: Vec<&'a str>,
}

/// One product in the report.
#[derive(Debug, Serialize)]
struct ProductReport<'a> {
    name: &'a str,
    precision: Precision,
    bytes: u64,
    threshold: f32,
    routing_radius: f32,
    normal_stats: &'a ScoreStats,
}

/// Opens (and so verifies) the bundle and prints the report on stdout.
pub fn handle(args: &InfoArgs) -> anyhow::Result<()> {
    let bundle = Bundle::open_with(
        &args.bundle,
        &TrustPolicy::from_key_files(&args.trust.trust_keys)?,
    )?;
    let m = bundle.manifest();
    let report = InfoReport {
        bundle: bundle.dir(),
        tool_version: &m.tool_version,
        sequence: m.sequence,
        signature: bundle.signature().to_string(),
        trunk: &m.trunk,
        preset: &m.preset,
        adapted: &m.adapted,
        later_stages: &m.later_stages,
        routing_stage: &m.routing_stage,
        routing_dim: m.routing_dim,
        scoring: &m.scoring,
        products: m
            .products
            .iter()
            .map(|t| ProductReport {
                name: &t.name,
                precision: t.precision,
                bytes: t.bytes,
                threshold: t.threshold,
                routing_radius: t.routing_radius,
                normal_stats: &t.normal_stats,
            })
            .collect(),
        files: m.files.len(),
        total_bytes: bundle.total_bytes(),
        int8_graphs: m.int8_graphs(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &report).context("cannot write the report")?;
        writeln!(out)?;
    } else {
        write_text(&mut out, &report)?;
    }
    out.flush()?;
    Ok(())
}

fn write_text(out: &mut impl Write, r: &InfoReport<'_>) -> std::io::Result<()> {
    writeln!(
        out,
        "bundle {} (all {} files verified)",
        r.bundle.display(),
        r.files
    )?;
    writeln!(out, "  written by  {}", r.tool_version)?;
    writeln!(out, "  sequence    {}, {}", r.sequence, r.signature)?;
    let sha = r
        .trunk
        .weights_sha256
        .get(..12)
        .unwrap_or(&r.trunk.weights_sha256);
    writeln!(
        out,
        "  trunk       {} (weights sha256 {sha}...), input {}x{}, normalization {}",
        r.trunk.id,
        r.trunk.input_size,
        r.trunk.input_size,
        match r.trunk.normalization {
            Normalization::Imagenet => "imagenet",
            Normalization::Tf => "tf",
        }
    )?;
    let stages = r
        .adapted
        .iter()
        .map(|s| format!("{} [{}x{}x{}]", s.name, s.channels, s.height, s.width))
        .collect::<Vec<_>>()
        .join(", ");
    match r.scoring {
        Scoring::Distance => {
            writeln!(out, "  preset      {}, adapters at {stages}", r.preset)?;
            writeln!(out, "  scoring     teacher/student distances (the paper's)")?;
        }
        Scoring::Local(l) => {
            let f = &l.features;
            writeln!(out, "  preset      {}, features from {stages}", r.preset)?;
            writeln!(
                out,
                "  scoring     local: {} features [{}x{}x{}], one map per product, smoothing {} px",
                l.features_graph, f.channels, f.height, f.width, l.smooth_sigma
            )?;
        }
    }
    writeln!(
        out,
        "  routing     pooled {} ({} dims)",
        r.routing_stage, r.routing_dim
    )?;
    writeln!(out, "  products    {}", r.products.len())?;
    let width = r
        .products
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "    {:<width$}  precision  {:>10}  {:>10}  {:>10}",
        "name", "bytes", "threshold", "radius"
    )?;
    for t in &r.products {
        let precision = match t.precision {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        };
        writeln!(
            out,
            "    {:<width$}  {precision:<9}  {:>10}  {:>10.4}  {:>10.4}",
            t.name, t.bytes, t.threshold, t.routing_radius
        )?;
    }
    if r.int8_graphs.is_empty() {
        writeln!(
            out,
            "  INT8        none (FP32 graphs; `adapts-builder calibrate` adds twins)"
        )?;
    } else {
        writeln!(
            out,
            "  INT8        twins of {} (run by default; --precision fp32 runs the FP32 graphs)",
            r.int8_graphs.join(", ")
        )?;
    }
    writeln!(
        out,
        "  total       {} bytes ({})",
        r.total_bytes,
        human_bytes(r.total_bytes)
    )?;
    Ok(())
}

/// `1536` -> `1.5 KiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
