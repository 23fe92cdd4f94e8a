//! `adapts-runtime run`: judge every frame of a source with a bundle and write one JSON line
//! per frame, heatmaps for rejected parts, and a summary on stderr.
//!
//! Every frame yields exactly one line, also when it cannot be read (FAIL, reason `error`).
//! The results file is written under a temp name, flushed after every line, and renamed into
//! place when the run ends, so `--out` never holds a half-written run.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use adapts_runtime::bundle::{Bundle, GraphPrecision};
use adapts_runtime::fsutil;
use adapts_runtime::heatmap::{self, write_overlay};
use adapts_runtime::pipeline::{Inference, Pipeline, Verdict};
use adapts_runtime::results::{LatencyMs, ResultLine};
use adapts_runtime::source::SourceSpec;
use adapts_runtime::{ort_runtime, EngineKind, Error, SessionConfig};
use anyhow::Context;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Bundle directory written by adapts-builder.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Where frames come from: `dir:PATH` (every PNG/JPEG under PATH, recursively).
    #[arg(long, value_name = "SCHEME:ARG")]
    source: String,
    /// Results file: one JSON object per frame.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Directory for heatmap overlays of rejected frames.
    #[arg(long, value_name = "DIR")]
    heatmaps: Option<PathBuf>,
    /// Judge every frame as this product (skip routing), as when a PLC names the product.
    #[arg(long, value_name = "NAME")]
    product: Option<String>,
    /// Threads per graph run (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Let ONNX Runtime's operator threads busy-wait between runs (its own default). Off by
    /// default: the trunk, adapters and head run in turn, and spinning threads of one graph
    /// slow the next.
    #[arg(long)]
    spin: bool,
    /// Graph precision: auto (the INT8 twins `adapts-builder calibrate` wrote, where there
    /// are any), fp32 or int8.
    #[arg(long, default_value = "auto")]
    precision: GraphPrecision,
    /// Engine: cpu, cuda, tensorrt (ONNX Runtime's GPU providers, `--features gpu`), or auto
    /// (the best one that can run here, else the CPU).
    #[arg(long, default_value = "cpu")]
    engine: EngineKind,
    /// Board profile (a built-in name or a file): a bundle whose graphs exceed its memory
    /// budget is refused before it is loaded.
    #[arg(long, value_name = "NAME")]
    board: Option<String>,
    #[command(flatten)]
    plans: super::PlanStoreArgs,
    #[command(flatten)]
    trust: super::TrustArgs,
}

/// Counts for the summary.
#[derive(Debug, Default)]
struct Summary {
    frames: usize,
    pass: usize,
    fail_by_reason: BTreeMap<&'static str, usize>,
    judged: usize,
    latency_sum: LatencyMs,
}

impl Summary {
    fn add(&mut self, result: &Inference, judged: bool) {
        self.frames += 1;
        match result.verdict {
            Verdict::Pass => self.pass += 1,
            Verdict::Fail => {
                let code = result.reason.as_ref().map_or("error", |r| r.code());
                *self.fail_by_reason.entry(code).or_default() += 1;
            }
        }
        if judged {
            self.judged += 1;
            let l = LatencyMs::from(result.latency);
            let s = &mut self.latency_sum;
            s.preprocess += l.preprocess;
            s.trunk += l.trunk;
            s.route += l.route;
            s.adapters += l.adapters;
            s.head += l.head;
            s.total += l.total;
        }
    }

    fn print(&self, out: &Path) {
        let fails: usize = self.fail_by_reason.values().sum();
        let detail = self
            .fail_by_reason
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!(
            "{} frames: PASS {}, FAIL {}{}",
            self.frames,
            self.pass,
            fails,
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        );
        if self.judged > 0 {
            let n = self.judged as f64;
            let s = &self.latency_sum;
            eprintln!(
                "mean latency {:.2} ms (preprocess {:.2}, trunk {:.2}, route {:.3}, adapters {:.2}, \
                 head {:.2})",
                s.total / n,
                s.preprocess / n,
                s.trunk / n,
                s.route / n,
                s.adapters / n,
                s.head / n
            );
        }
        eprintln!("results in {}", out.display());
    }
}

/// Runs the bundle over the source.
pub fn handle(args: &RunArgs) -> anyhow::Result<()> {
    let spec: SourceSpec = args.source.parse()?;
    let config = SessionConfig {
        intra_op_threads: args.threads.map(usize::from),
        intra_op_spinning: args.spin,
        ..SessionConfig::default()
    }
    .on_engine(args.engine)?;
    let bundle = Bundle::open_with(&args.bundle, &args.trust.policy()?)?;
    let manifest = bundle.manifest();
    if let Some(name) = &args.product {
        if manifest.product_index(name).is_none() {
            return Err(Error::UnknownProduct {
                name: name.clone(),
                known: manifest.products.iter().map(|t| t.name.clone()).collect(),
            }
            .into());
        }
    }
    let config = adapts_runtime::gpu::with_plans(
        config,
        bundle.dir(),
        args.plans.store.as_deref(),
        manifest,
        args.precision,
        args.plans.dla,
    )?;
    if let Some(name) = &args.board {
        let board =
            adapts_boards::Board::load(name).map_err(|e| anyhow::anyhow!("--board {name}: {e}"))?;
        adapts_runtime::gpu::check_memory_budget(
            &config,
            bundle.dir(),
            manifest,
            args.precision,
            &board.name,
            board.memory_budget_mb,
        )?;
    }
    let runtime = ort_runtime()?;
    let mut pipeline = Pipeline::from_bundle_at(&bundle, &config, args.precision)?;
    // Only rejected frames get a heatmap: the others need no full-resolution map.
    pipeline.set_full_maps(false);
    eprintln!(
        "engine: {} (version {}, {}), threads per graph: {}",
        config.provider.describe(),
        runtime.version(),
        runtime.library_path().display(),
        args.threads
            .map_or_else(|| "automatic".to_owned(), |n| n.to_string())
    );
    eprintln!(
        "bundle {}: trunk {}, preset {}, products {}",
        args.bundle.display(),
        manifest.trunk.id,
        manifest.preset,
        manifest
            .products
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut source = spec.open()?;
    if let Some(dir) = &args.heatmaps {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the heatmap directory {}", dir.display()))?;
    }

    let file = fsutil::AtomicFile::create(&args.out)
        .with_context(|| format!("cannot create the results {}", args.out.display()))?;
    let mut results = BufWriter::new(file);
    let mut summary = Summary::default();

    let outcome = (|| -> anyhow::Result<()> {
        while let Some(item) = source.next_frame() {
            let (id, result, heatmap) = match item {
                Ok(frame) => {
                    let mut result = pipeline.infer(&frame.image, args.product.as_deref());
                    if args.heatmaps.is_some() && result.verdict == Verdict::Fail {
                        if let Err(err) = pipeline.complete_map(&mut result) {
                            eprintln!("warning: no heatmap: {}", err.chain_message());
                        }
                    }
                    let heatmap = match (&args.heatmaps, &result.map) {
                        (Some(dir), Some(map)) if result.verdict == Verdict::Fail => {
                            let path = dir.join(heatmap::file_name(&frame.id));
                            match write_overlay(&path, &frame.image, map, result.threshold) {
                                Ok(()) => Some(path.display().to_string()),
                                Err(err) => {
                                    eprintln!("warning: {}", err.chain_message());
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    summary.add(&result, true);
                    (frame.id, result, heatmap)
                }
                Err(err) => {
                    let result = Inference::failed(format!(
                        "frame `{}` could not be read: {}",
                        err.id,
                        err.error.chain_message()
                    ));
                    summary.add(&result, false);
                    (err.id, result, None)
                }
            };
            let line = ResultLine::new(&id, &result, heatmap);
            results.write_all(line.to_json().as_bytes())?;
            results.write_all(b"\n")?;
            results.flush()?;
        }
        results.into_inner().map_err(|e| e.into_error())?.commit()?;
        Ok(())
    })();
    if let Err(err) = outcome {
        // The results file is left as it was: the abandoned temp file removes itself.
        return Err(err.context(format!("cannot write the results {}", args.out.display())));
    }
    summary.print(&args.out);
    Ok(())
}
