//! `adapts-builder info`: a bundle's trunk, products and memory footprint (what each
//! product adds, in FP32 and INT8 terms, against the shared trunk), and with `--board`
//! whether its graphs fit that board's memory budget in either precision.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use adapts_boards::Board;
use adapts_builder::export::cost::{BundleCost, Footprint};
use adapts_runtime::bundle::{int8_twin, Bundle, GraphPrecision, Manifest};
use clap::Parser;

#[derive(Debug, Parser)]
pub struct Args {
    /// Bundle directory.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also check the bundle's graph files against this board's `memory_budget_mb`, in FP32
    /// and with the INT8 twins: a built-in profile name (e.g. `jetson-orin-nano-8gb`) or a
    /// profile file (a path, or a name ending in `.toml`). Reported, never an error: the
    /// runtime refuses a bundle over the budget when it loads it with `--board`.
    #[arg(long, value_name = "NAME|FILE")]
    board: Option<String>,
}

/// Whether the graphs a pipeline loads in one precision fit a board's memory budget.
#[derive(Debug, serde::Serialize)]
struct PrecisionFit {
    /// The runtime's `--precision` this row stands for.
    precision: GraphPrecision,
    graph_bytes: u64,
    graph_mib: f64,
    fits: bool,
    /// The runtime's refusal, when the graphs do not fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// The bundle against a board profile's memory budget.
#[derive(Debug, serde::Serialize)]
struct BoardFit {
    board: String,
    memory_budget_mib: u64,
    /// Every graph in FP32 (`--precision fp32`).
    fp32: PrecisionFit,
    /// The INT8 twin of every graph that has one (`--precision auto`); equal to `fp32` when
    /// the bundle is not calibrated.
    int8: PrecisionFit,
    /// Whether the bundle has any INT8 twins (`adapts-builder calibrate`).
    has_int8_twins: bool,
}

impl BoardFit {
    /// Checks with the runtime's own rule ([`Manifest::check_memory_budget`]), so that what
    /// `info` reports is what `adapts-runtime run --board` and a station decide.
    fn of(m: &Manifest, dir: &Path, board: &Board) -> Self {
        let row = |precision| {
            let graph_bytes = m.graph_bytes(precision);
            let reason = m
                .check_memory_budget(dir, precision, &board.name, board.memory_budget_mb)
                .err()
                .map(|e| e.to_string());
            PrecisionFit {
                precision,
                graph_bytes,
                graph_mib: graph_bytes as f64 / (1u64 << 20) as f64,
                fits: reason.is_none(),
                reason,
            }
        };
        Self {
            board: board.name.clone(),
            memory_budget_mib: board.memory_budget_mb,
            fp32: row(GraphPrecision::Fp32),
            int8: row(GraphPrecision::Auto),
            has_int8_twins: !m.int8_graphs().is_empty(),
        }
    }
}

#[derive(Debug, serde::Serialize)]
struct Int8Row {
    graph: String,
    fp32_bytes: u64,
    int8_bytes: u64,
}

#[derive(Debug, serde::Serialize)]
struct ProductRow {
    name: String,
    precision: String,
    footprint: Footprint,
    threshold: f32,
    routing_radius: f32,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The profile first: a misspelt board fails before the bundle is read.
    let board = args
        .board
        .as_deref()
        .map(|spec| Board::load(spec).map_err(|e| anyhow::anyhow!("--board {spec}: {e}")))
        .transpose()?;
    let bundle = Bundle::open(&args.bundle)?;
    let m = bundle.manifest();
    let fit = board.as_ref().map(|b| BoardFit::of(m, bundle.dir(), b));
    let cost = BundleCost::of(&bundle)?;
    let shared = cost.shared();
    let products: Vec<ProductRow> = m
        .products
        .iter()
        .zip(&cost.products)
        .map(|(t, (_, footprint))| ProductRow {
            name: t.name.clone(),
            precision: format!("{:?}", t.precision).to_lowercase(),
            footprint: *footprint,
            threshold: t.threshold,
            routing_radius: t.routing_radius,
        })
        .collect();
    let summary = cost.summary();
    let total = bundle.total_bytes();
    let int8: Vec<Int8Row> = m
        .int8_graphs()
        .into_iter()
        .map(|g| Int8Row {
            graph: g.to_string(),
            fp32_bytes: m.file_bytes(g),
            int8_bytes: m.file_bytes(&int8_twin(g)),
        })
        .collect();
    let (fp32_graphs, int8_graphs) = (
        m.graph_bytes(GraphPrecision::Fp32),
        m.graph_bytes(GraphPrecision::Auto),
    );
    if args.json {
        let v = serde_json::json!({
            "bundle": args.bundle,
            "trunk": m.trunk,
            "preset": m.preset,
            "adapted": m.adapted,
            "shared": shared,
            "products": products,
            "cost": summary,
            "total_file_bytes": total,
            "int8_graphs": int8,
            "graph_bytes_fp32": fp32_graphs,
            "graph_bytes_int8": int8_graphs,
            "board": fit,
            "sequence": m.sequence,
            "signature": bundle.signature().to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mb = |b: u64| b as f64 / 1e6;
    let kb = |b: u64| b as f64 / 1e3;
    let (scoring, at) = match &m.scoring {
        adapts_runtime::bundle::manifest::Scoring::Local(_) => ("local scoring", "features from"),
        _ => ("distance scoring", "adapters at"),
    };
    println!(
        "bundle {}: trunk {} ({} px, weights {}), preset {}, {scoring}, {at} {}",
        args.bundle.display(),
        m.trunk.id,
        m.trunk.input_size,
        &m.trunk.weights_sha256[..m.trunk.weights_sha256.len().min(12)],
        m.preset,
        m.adapted
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  sequence {}, {}", m.sequence, bundle.signature());
    println!(
        "shared (trunk, later stages, features, head): {:.2} M parameters, {:.2} MB",
        shared.parameters as f64 / 1e6,
        mb(shared.stored_bytes)
    );
    println!(
        "{:<16} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "product", "precision", "params", "FP32 KB", "stored KB", "file KB", "threshold"
    );
    for t in &products {
        println!(
            "{:<16} {:>9} {:>10} {:>10.1} {:>10.1} {:>10.1} {:>10.5}",
            t.name,
            t.precision,
            t.footprint.parameters,
            kb(t.footprint.fp32_bytes),
            kb(t.footprint.stored_bytes),
            kb(t.footprint.file_bytes),
            t.threshold
        );
    }
    let gflops = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    println!(
        "GFLOPs per image: inference {}, training {}",
        gflops(summary.inference_gflops),
        gflops(summary.training_gflops)
    );
    if !int8.is_empty() {
        println!("INT8 twins (adapts-builder calibrate):");
        println!(
            "{:<34} {:>10} {:>10} {:>7}",
            "graph", "FP32 KB", "INT8 KB", "ratio"
        );
        for r in &int8 {
            println!(
                "{:<34} {:>10.1} {:>10.1} {:>6.2}x",
                r.graph,
                kb(r.fp32_bytes),
                kb(r.int8_bytes),
                r.int8_bytes as f64 / r.fp32_bytes.max(1) as f64
            );
        }
        println!(
            "graphs loaded: {:.2} MB in FP32, {:.2} MB with the INT8 twins (--precision auto)",
            mb(fp32_graphs),
            mb(int8_graphs)
        );
    }
    println!(
        "total on disk: {:.2} MB in {} files",
        mb(total),
        m.files.len()
    );
    if let Some(fit) = &fit {
        print_fit(fit);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_fit(fit: &BoardFit) {
    let verdict = |p: &PrecisionFit| if p.fits { "fits" } else { "does NOT fit" };
    println!(
        "board {}: memory budget {} MiB (graph files only; loaded, they take about 3x)",
        fit.board, fit.memory_budget_mib
    );
    println!(
        "  FP32 (--precision fp32): {:.1} MiB, {}",
        fit.fp32.graph_mib,
        verdict(&fit.fp32)
    );
    if fit.has_int8_twins {
        println!(
            "  INT8 twins (--precision auto): {:.1} MiB, {}",
            fit.int8.graph_mib,
            verdict(&fit.int8)
        );
    } else {
        println!(
            "  INT8: no twins yet (`adapts-builder calibrate`); --precision auto loads the \
             FP32 graphs, {}",
            verdict(&fit.int8)
        );
    }
    if let Some(reason) = fit.int8.reason.as_ref().or(fit.fp32.reason.as_ref()) {
        println!("  {reason}");
    }
}
