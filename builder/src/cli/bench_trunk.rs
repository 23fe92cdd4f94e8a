//! `adapts-builder bench-trunk`.

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::bench::trunk::{run_case, BenchCase, BenchRow, BenchSettings};
use adapts_builder::model::TrunkKind;
use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Parser)]
pub struct Args {
    /// Cases as TRUNK:CUT (repeatable).
    #[arg(long = "case", default_values_t = ["wrn50-2:layer2".to_string(), "wrn50-2:layer3".into(), "effnet-lite0:stride16".into()])]
    cases: Vec<String>,
    /// Input sizes.
    #[arg(long, value_delimiter = ',', default_values_t = [224, 256])]
    sizes: Vec<usize>,
    /// Batch sizes.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8])]
    batches: Vec<usize>,
    /// Untimed runs before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed runs (the median is reported).
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// ONNX Runtime intra-op threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Python with onnxruntime for the baseline column ("none" to skip).
    #[arg(long, default_value = ".venv/bin/python")]
    python: String,
    /// The Python timing script.
    #[arg(long, default_value = "scripts/bench_ort.py")]
    python_script: PathBuf,
    /// Directory for the exported ONNX files.
    #[arg(long, default_value = "out/bench")]
    workdir: PathBuf,
    /// Also write the rows as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_case(s: &str) -> anyhow::Result<(TrunkKind, String)> {
    let (trunk, cut) = s
        .split_once(':')
        .with_context(|| format!("--case `{s}`: expected TRUNK:CUT, e.g. wrn50-2:layer2"))?;
    let kind: TrunkKind = trunk.parse()?;
    kind.arch().parse_cut(cut)?;
    Ok((kind, cut.to_string()))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let python = match args.python.as_str() {
        "none" => None,
        p if PathBuf::from(p).exists() && args.python_script.exists() => {
            Some((PathBuf::from(p), args.python_script.clone()))
        }
        p => {
            log::warn!(
                "{p} or {} not found: the Python onnxruntime column is skipped (run scripts/setup.sh)",
                args.python_script.display()
            );
            None
        }
    };
    let settings = BenchSettings {
        warmup: args.warmup,
        iters: args.iters,
        threads,
        python,
        workdir: args.workdir.clone(),
    };
    let mut cases = Vec::new();
    for c in &args.cases {
        let (trunk, cut) = parse_case(c)?;
        for &size in &args.sizes {
            for &batch in &args.batches {
                cases.push(BenchCase {
                    trunk,
                    cut: cut.clone(),
                    size,
                    batch,
                });
            }
        }
    }
    let bar = ProgressBar::new(cases.len() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut rows = Vec::with_capacity(cases.len());
    for case in &cases {
        bar.set_message(format!(
            "{}:{} {}px b{}",
            case.trunk, case.cut, case.size, case.batch
        ));
        rows.push(run_case(case, &settings)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    print_table(&rows, threads);
    if let Some(path) = &args.json {
        let bytes = serde_json::to_vec_pretty(&rows)?;
        adapts_runtime::fsutil::write_atomic(path, &bytes)?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(rows: &[BenchRow], threads: usize) {
    println!(
        "random weights, f32, {threads} ORT threads; ms = median latency per batch\n\
         {:<22} {:>4} {:>3} {:>7} {:>10} {:>8} {:>10} {:>8} {:>10} {:>8}",
        "trunk:cut",
        "px",
        "N",
        "GMAC/im",
        "candle ms",
        "GFLOP/s",
        "ort ms",
        "GFLOP/s",
        "py-ort ms",
        "ort/py"
    );
    for r in rows {
        let py = r.python_ort_ms.map_or("-".into(), |v| format!("{v:.2}"));
        let ratio = r.ort_vs_python.map_or("-".into(), |v| format!("{v:.3}"));
        println!(
            "{:<22} {:>4} {:>3} {:>7.2} {:>10.2} {:>8.1} {:>10.2} {:>8.1} {:>10} {:>8}",
            format!("{}:{}", r.case.trunk, r.case.cut),
            r.case.size,
            r.case.batch,
            r.gmac_per_image,
            r.candle_ms,
            r.candle_gflops,
            r.ort_ms,
            r.ort_gflops,
            py,
            ratio
        );
    }
}
