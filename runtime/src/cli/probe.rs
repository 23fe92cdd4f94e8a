//! `adapts-runtime probe`: which ONNX Runtime library this station loads, and what a model
//! expects and produces. The first thing to run on a new device.

use std::io::Write;
use std::path::{Path, PathBuf};

use adapts_runtime::{ort_runtime, OrtSession, SessionConfig, TensorInfo};
use anyhow::Context;
use serde::Serialize;

/// Arguments of `probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// ONNX model to describe.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// What `probe` reports.
#[derive(Debug, Serialize)]
struct ProbeReport<'a> {
    ort_library: &'a Path,
    ort_version: &'a str,
    model: &'a Path,
    inputs: &'a [TensorInfo],
    outputs: &'a [TensorInfo],
}

/// Loads the model and prints the report on stdout.
pub fn handle(args: &ProbeArgs) -> anyhow::Result<()> {
    let session = OrtSession::load(&args.model, &SessionConfig::default())?;
    let runtime = ort_runtime()?;
    let report = ProbeReport {
        ort_library: runtime.library_path(),
        ort_version: runtime.version(),
        model: session.model_path(),
        inputs: session.inputs(),
        outputs: session.outputs(),
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

fn write_text(out: &mut impl Write, report: &ProbeReport<'_>) -> std::io::Result<()> {
    writeln!(out, "ONNX Runtime {}", report.ort_version)?;
    writeln!(out, "  library  {}", report.ort_library.display())?;
    writeln!(out, "model {}", report.model.display())?;
    for (title, tensors) in [("inputs", report.inputs), ("outputs", report.outputs)] {
        writeln!(out, "  {title}")?;
        let width = tensors.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for t in tensors {
            writeln!(
                out,
                "    {:<width$}  {:<4} {}",
                t.name,
                t.element_type,
                t.shape_string()
            )?;
        }
    }
    Ok(())
}
