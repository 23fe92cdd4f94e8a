//! Trunk latency benchmark: candle (the builder's engine) against ONNX Runtime through the
//! device engine, and against Python onnxruntime on the same ONNX file when a Python with
//! `onnxruntime` is available. Every figure in a report comes from one process run, so ratios
//! compare like with like.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use adapts_runtime::{OrtSession, SessionConfig, Tensor as RtTensor};
use candle_core::{Device, Tensor};

use crate::export::trunk::{export_trunk, IMAGE};
use crate::model::graph::Eval;
use crate::model::weights::random_trunk;
use crate::model::TrunkKind;
use crate::{Error, PathContext, Result};

/// One benchmark configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchCase {
    /// Trunk architecture under test (random weights).
    pub trunk: TrunkKind,
    /// Stage the trunk is cut after, by name (`fc` or `full` for the whole classifier).
    pub cut: String,
    /// Square input side, in pixels.
    pub size: usize,
    /// Images per forward pass.
    pub batch: usize,
}

/// Measurement settings shared by all cases.
#[derive(Debug, Clone)]
pub struct BenchSettings {
    /// Untimed runs before measuring.
    pub warmup: usize,
    /// Timed runs whose median is reported (at least one).
    pub iters: usize,
    /// Threads for ONNX Runtime (ours and Python's); candle uses its own pool of all cores.
    pub threads: usize,
    /// Python interpreter with `onnxruntime` installed, and the script that times it.
    pub python: Option<(PathBuf, PathBuf)>,
    /// Where exported ONNX files are written.
    pub workdir: PathBuf,
}

/// Latencies (median milliseconds per batch) and throughput of one case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    /// The configuration measured.
    #[serde(flatten)]
    pub case: BenchCase,
    /// Multiply-accumulates per image, in billions, counted at export.
    pub gmac_per_image: f64,
    /// Candle forward latency.
    pub candle_ms: f64,
    /// Latency of our ONNX Runtime engine on the exported graph.
    pub ort_ms: f64,
    /// Python onnxruntime latency on the same file; `None` when no Python was given.
    pub python_ort_ms: Option<f64>,
    /// Achieved GFLOP/s of candle (2 FLOPs per multiply-accumulate).
    pub candle_gflops: f64,
    /// Achieved GFLOP/s of our ONNX Runtime engine.
    pub ort_gflops: f64,
    /// Our ORT engine's latency divided by Python onnxruntime's (1.0 = equal).
    pub ort_vs_python: Option<f64>,
}

/// Median of timed runs after warm-up, in milliseconds.
pub fn median_ms(warmup: usize, iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..warmup {
        f()?;
    }
    let mut times = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Runs one case: export, then candle, our ORT engine, and Python onnxruntime.
pub fn run_case(case: &BenchCase, settings: &BenchSettings) -> Result<BenchRow> {
    let arch = case.trunk.arch();
    let cut = arch.parse_cut(&case.cut)?;
    let trunk = random_trunk(arch, cut, 0)?;
    let export = export_trunk(&trunk, case.size, &[])?;
    let onnx_path = settings.workdir.join(format!(
        "{}-{}-{}.onnx",
        case.trunk.name(),
        case.cut,
        case.size
    ));
    export.write(&onnx_path)?;
    let gmac = export.macs_per_image as f64 / 1e9;

    let (b, s) = (case.batch, case.size);
    let numel = b * 3 * s * s;
    let data: Vec<f32> = (0..numel)
        .map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0)
        .collect();

    let x = Tensor::from_vec(data.clone(), (b, 3, s, s), &Device::Cpu)?;
    let candle_ms = median_ms(settings.warmup, settings.iters, || {
        trunk.forward(&mut Eval, &x).map(|_| ())
    })?;

    // One session run back to back, like the Python baseline: ONNX Runtime's default spinning.
    let config = SessionConfig {
        intra_op_threads: Some(settings.threads),
        intra_op_spinning: true,
        ..SessionConfig::default()
    };
    let mut session = OrtSession::load(&onnx_path, &config)?;
    let input = RtTensor::new(vec![b, 3, s, s], data)?;
    let ort_ms = median_ms(settings.warmup, settings.iters, || {
        session
            .run(&[(IMAGE, &input)])
            .map(|_| ())
            .map_err(Error::from)
    })?;

    let python_ort_ms = match &settings.python {
        Some((python, script)) => Some(python_median_ms(
            python, script, &onnx_path, case, settings,
        )?),
        None => None,
    };
    let flops = 2.0 * gmac * b as f64;
    Ok(BenchRow {
        case: case.clone(),
        gmac_per_image: gmac,
        candle_ms,
        ort_ms,
        python_ort_ms,
        candle_gflops: flops / (candle_ms / 1e3),
        ort_gflops: flops / (ort_ms / 1e3),
        ort_vs_python: python_ort_ms.map(|p| ort_ms / p),
    })
}

fn python_median_ms(
    python: &Path,
    script: &Path,
    model: &Path,
    case: &BenchCase,
    settings: &BenchSettings,
) -> Result<f64> {
    let output = Command::new(python)
        .arg(script)
        .args(["--model", &model.to_string_lossy()])
        .args(["--batch", &case.batch.to_string()])
        .args(["--size", &case.size.to_string()])
        .args(["--threads", &settings.threads.to_string()])
        .args(["--warmup", &settings.warmup.to_string()])
        .args(["--iters", &settings.iters.to_string()])
        .args(["--input-name", IMAGE])
        .output()
        .with_path(python)?;
    if !output.status.success() {
        return Err(Error::Baseline(format!(
            "{} {} failed: {}",
            python.display(),
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| Error::Baseline(format!("bench_ort.py printed `{line}`: {e}")))?;
    v["median_ms"]
        .as_f64()
        .ok_or_else(|| Error::Baseline(format!("bench_ort.py printed no median_ms: `{line}`")))
}
