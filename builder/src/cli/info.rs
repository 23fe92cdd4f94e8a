//! `adapts-builder info`: a bundle's trunk, products and memory footprint (what each
//! product adds, in FP32 and INT8 terms, against the shared trunk).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use adapts_builder::onnx::{self, proto::data_type};
use adapts_runtime::bundle::Bundle;
use clap::Parser;

#[derive(Debug, Parser)]
pub struct Args {
    /// Bundle directory.
    bundle: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Parameter counts of one graph file.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct Footprint {
    file_bytes: u64,
    /// Every stored value (weights, biases, scales).
    parameters: u64,
    /// Memory with every parameter in f32.
    fp32_bytes: u64,
    /// Memory as stored (INT8 weights count one byte).
    stored_bytes: u64,
}

impl std::ops::AddAssign for Footprint {
    fn add_assign(&mut self, o: Self) {
        self.file_bytes += o.file_bytes;
        self.parameters += o.parameters;
        self.fp32_bytes += o.fp32_bytes;
        self.stored_bytes += o.stored_bytes;
    }
}

fn footprint(path: &Path) -> anyhow::Result<Footprint> {
    let bytes = std::fs::read(path)?;
    let model = onnx::decode(&bytes)?;
    let mut f = Footprint {
        file_bytes: bytes.len() as u64,
        ..Footprint::default()
    };
    for t in model.graph.iter().flat_map(|g| &g.initializer) {
        let n: u64 = t.dims.iter().map(|&d| d.max(1) as u64).product();
        let stored = match t.data_type {
            data_type::INT8 => n,
            _ => 4 * n,
        };
        f.parameters += n;
        f.stored_bytes += stored;
        // Zero points exist only because of quantisation; an FP32 model would not have them.
        if !(t.data_type == data_type::INT8 && t.name.ends_with("zero_point")) {
            f.fp32_bytes += 4 * n;
        }
    }
    Ok(f)
}

#[derive(Debug, serde::Serialize)]
struct TaskRow {
    name: String,
    precision: String,
    footprint: Footprint,
    threshold: f32,
    routing_radius: f32,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundle = Bundle::open(&args.bundle)?;
    let m = bundle.manifest();
    let mut shared = footprint(&bundle.trunk_graph())?;
    for p in bundle.stage_graphs() {
        shared += footprint(&p)?;
    }
    shared += footprint(&bundle.head_graph())?;
    let mut tasks = Vec::new();
    for (i, t) in m.tasks.iter().enumerate() {
        let mut f = Footprint::default();
        for p in bundle.adapter_graphs(i).unwrap_or_default() {
            f += footprint(&p)?;
        }
        tasks.push(TaskRow {
            name: t.name.clone(),
            precision: format!("{:?}", t.precision).to_lowercase(),
            footprint: f,
            threshold: t.threshold,
            routing_radius: t.routing_radius,
        });
    }
    let total = bundle.total_bytes();
    if args.json {
        let v = serde_json::json!({
            "bundle": args.bundle,
            "trunk": m.trunk,
            "preset": m.preset,
            "adapted": m.adapted,
            "shared": shared,
            "tasks": tasks,
            "total_file_bytes": total,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mb = |b: u64| b as f64 / 1e6;
    let kb = |b: u64| b as f64 / 1e3;
    println!(
        "bundle {}: trunk {} ({} px, weights {}), preset {}, adapters at {}",
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
    println!(
        "shared (trunk, later stages, head): {:.2} M parameters, {:.2} MB",
        shared.parameters as f64 / 1e6,
        mb(shared.stored_bytes)
    );
    println!(
        "{:<16} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "product", "precision", "params", "FP32 KB", "stored KB", "file KB", "threshold"
    );
    for t in &tasks {
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
    println!(
        "total on disk: {:.2} MB in {} files",
        mb(total),
        m.files.len()
    );
    Ok(ExitCode::SUCCESS)
}
