//! `adapts-builder info`: a bundle's trunk, products and memory footprint (what each
//! product adds, in FP32 and INT8 terms, against the shared trunk).

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::export::cost::{BundleCost, Footprint};
use adapts_runtime::bundle::{int8_twin, Bundle, GraphPrecision};
use clap::Parser;

#[derive(Debug, Parser)]
pub struct Args {
    /// Bundle directory.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
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
    let bundle = Bundle::open(&args.bundle)?;
    let m = bundle.manifest();
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
    Ok(ExitCode::SUCCESS)
}
