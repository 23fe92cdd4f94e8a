//! `adapts-runtime plan`: builds on this device the TensorRT plan of every graph of a bundle
//! (trunk, later stages, features graph, head, each product's graphs), once, into the plan
//! store the runtime reads (`BUNDLE.plans` unless `--plans`). Plans already there for this
//! device are checked and kept, so after `train --append` only the new product's are built.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use adapts_runtime::bundle::{Bundle, GraphPrecision};
use adapts_runtime::pipeline::{Pipeline, Reason};
use adapts_runtime::plans::{default_store, PlanCache, PlanPrecision};
use adapts_runtime::{ort_runtime, EngineKind, SessionConfig};
use anyhow::Context;
use serde::Serialize;

/// Which plans to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanChoice {
    /// INT8 when the bundle has INT8 twins (`adapts-builder calibrate`), else FP16.
    Auto,
    /// The FP32 graphs, with FP16 kernels allowed.
    Fp16,
    /// The INT8 twins (explicit quantization), FP16 between them.
    Int8,
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Bundle directory written by adapts-builder.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Precision of the plans.
    #[arg(long, value_enum, default_value = "auto")]
    precision: PlanChoice,
    /// Board profile (a built-in name or a file): a bundle over its memory budget is refused,
    /// and `--dla` is checked against its DLA cores.
    #[arg(long, value_name = "NAME")]
    board: Option<String>,
    /// Build for DLA core N (with GPU fallback for layers the DLA cannot run); the runtime
    /// must then be given the same `--dla`.
    #[arg(long, value_name = "N")]
    dla: Option<u32>,
    /// Plan store (default: BUNDLE.plans beside the bundle folder).
    #[arg(long, value_name = "DIR")]
    plans: Option<PathBuf>,
    /// Remove this device's plans for this precision first and build every one again (after
    /// a TensorRT upgrade, or when the runtime reports a corrupt plan).
    #[arg(long)]
    rebuild_plans: bool,
    /// Also write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    trust: super::TrustArgs,
}

/// One graph's line of the summary.
#[derive(Debug, Serialize)]
struct GraphPlan {
    graph: String,
    built: bool,
    engine_bytes: u64,
}

/// What `plan` reports.
#[derive(Debug, Serialize)]
struct PlanReport {
    store: PathBuf,
    key: String,
    precision: PlanPrecision,
    seconds: f64,
    graphs: Vec<GraphPlan>,
}

/// Builds the plans and prints a summary.
pub fn handle(args: &PlanArgs) -> anyhow::Result<()> {
    let bundle = adapts_runtime::bundle::Bundle::open_with(&args.bundle, &args.trust.policy()?)?;
    let m = bundle.manifest();
    let precision = match args.precision {
        PlanChoice::Fp16 => PlanPrecision::Fp16,
        PlanChoice::Int8 => PlanPrecision::Int8,
        PlanChoice::Auto => PlanPrecision::for_graphs(GraphPrecision::Auto, m),
    };
    let graph_precision = precision.graph_precision();
    m.check_precision(graph_precision)?;
    if let Some(name) = &args.board {
        check_board(name, args.dla, &bundle, graph_precision)?;
    }
    let config = SessionConfig::default().on_engine(EngineKind::TensorRt)?;
    let key = adapts_runtime::gpu::device_key(precision, args.dla)?;
    let store = args
        .plans
        .clone()
        .unwrap_or_else(|| default_store(bundle.dir()));
    let cache = PlanCache::for_build(&store, key, args.rebuild_plans)?
        .with_known_hashes(adapts_runtime::gpu::known_hashes(bundle.dir(), m));
    let before: HashSet<String> = cache
        .read_index()?
        .plans
        .into_iter()
        .map(|p| p.graph_sha256)
        .collect();
    eprintln!(
        "building TensorRT plans for {key} into {} (minutes per graph on a Jetson)",
        cache.key_dir().display()
    );
    let start = Instant::now();
    let config = SessionConfig {
        plans: Some(cache.clone()),
        ..config
    };
    let mut pipeline = Pipeline::from_bundle_at(&bundle, &config, graph_precision)?;
    // The provider builds an engine on a graph's first run: one frame through every product.
    let size = m.trunk.input_size;
    let frame = image::RgbImage::from_pixel(size, size, image::Rgb([128, 128, 128]));
    for product in &m.products {
        let result = pipeline.infer(&frame, Some(&product.name));
        if let Some(Reason::Error(message)) = &result.reason {
            anyhow::bail!(
                "building the plans of product `{}`: {message}",
                product.name
            );
        }
    }
    let graphs: Vec<(String, PathBuf)> = m
        .graphs()
        .into_iter()
        .map(|rel| {
            let file = m.graph_file(rel, graph_precision);
            let path = bundle.dir().join(&file);
            (file, path)
        })
        .collect();
    let entries = cache.record(&graphs, ort_runtime()?.version())?;
    let report = PlanReport {
        store: cache.key_dir(),
        key: key.to_string(),
        precision,
        seconds: start.elapsed().as_secs_f64(),
        graphs: entries
            .iter()
            .map(|e| GraphPlan {
                graph: e.graph.clone(),
                built: !before.contains(&e.graph_sha256),
                engine_bytes: e.files.iter().map(|f| f.bytes).sum(),
            })
            .collect(),
    };
    for g in &report.graphs {
        eprintln!(
            "  {:<40} {:>9.2} MB  {}",
            g.graph,
            g.engine_bytes as f64 / 1e6,
            if g.built { "built" } else { "kept" }
        );
    }
    eprintln!(
        "{} plans ({} built) in {:.1} s: {}",
        report.graphs.len(),
        report.graphs.iter().filter(|g| g.built).count(),
        report.seconds,
        report.store.display()
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        adapts_runtime::fsutil::write_atomic_readable(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The board's memory budget against the graphs that will run, and `--dla` against its DLA
/// cores.
fn check_board(
    name: &str,
    dla: Option<u32>,
    bundle: &Bundle,
    precision: GraphPrecision,
) -> anyhow::Result<()> {
    let board =
        adapts_boards::Board::load(name).map_err(|e| anyhow::anyhow!("--board {name}: {e}"))?;
    if let Some(core) = dla {
        anyhow::ensure!(
            core < board.dla_cores,
            "--dla {core}: board `{}` has {} DLA cores{}",
            board.name,
            board.dla_cores,
            if board.dla_cores == 0 {
                " (build for the GPU: leave out --dla)"
            } else {
                ""
            }
        );
    }
    bundle.manifest().check_memory_budget(
        bundle.dir(),
        precision,
        &board.name,
        board.memory_budget_mb,
    )?;
    Ok(())
}
