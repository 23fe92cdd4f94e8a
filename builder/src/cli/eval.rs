//! `adapts-builder eval`: image and pixel AUROC, routing accuracy and latency of a bundle on
//! a labelled test set (see [`adapts_builder::eval`] for what each number means).

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::dataset::Layout;
use adapts_builder::eval::{EvalConfig, Evaluation, Routing};
use adapts_builder::fsutil::write_atomic;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Parser)]
pub struct Args {
    /// Bundle directory.
    #[arg(long)]
    bundle: PathBuf,
    /// Dataset root.
    #[arg(long)]
    data: PathBuf,
    /// Dataset layout.
    #[arg(long, value_enum, default_value = "mvtec")]
    layout: Layout,
    /// Products to evaluate, comma-separated (default: every bundle product in the dataset).
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// `on`: route each image by nearest prototype; `off`: name its true product.
    #[arg(long, value_enum, default_value = "on")]
    routing: Routing,
    /// Write the metrics as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write per-image scores, labels and routing decisions as CSV to this file.
    #[arg(long)]
    dump_scores: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = EvalConfig {
        categories: args.categories,
        routing: args.routing,
        ..EvalConfig::new(args.bundle, args.data, args.layout)
    };
    let eval = Evaluation::prepare(&config)?;
    let bar = ProgressBar::new(eval.image_count() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images [{elapsed}<{eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = eval.run(&|| bar.inc(1))?;
    bar.finish_and_clear();
    print!("{}", report.table());
    println!(
        "{} images in {:.1} s ({:.1} img/s), routing {}, input {} px",
        report.mean.images,
        report.seconds,
        report.mean.images as f64 / report.seconds.max(1e-9),
        match report.routing {
            Routing::On => "on",
            Routing::Off => "off",
        },
        report.input_size
    );
    if let Some(path) = &args.json {
        write_atomic(path, &serde_json::to_vec_pretty(&report)?)?;
    }
    if let Some(path) = &args.dump_scores {
        write_atomic(path, report.scores_csv().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
