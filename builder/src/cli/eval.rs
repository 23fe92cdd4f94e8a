//! `adapts-builder eval`: the paper's metrics (I-ROC, I-AP, I-F1max, P-ROC, P-AP, P-F1max,
//! AUPRO, routing accuracy), memory and GFLOP columns and latency of a bundle on a labelled
//! test set, in the single, multi-class or continual setting (see [`adapts_builder::eval`]).

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::data::Layout;
use adapts_builder::eval::{
    continual, single_class, EvalConfig, EvalReport, Evaluation, HeatmapConfig, Setting,
};
use adapts_runtime::bundle::GraphPrecision;
use adapts_runtime::fsutil::write_atomic;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Parser)]
pub struct Args {
    /// Bundle directory (single setting: also a directory of per-product bundles).
    #[arg(long)]
    bundle: PathBuf,
    /// Dataset root.
    #[arg(long)]
    data: PathBuf,
    /// Dataset layout.
    #[arg(long, value_enum, ignore_case = true, default_value = "mvtec")]
    layout: Layout,
    /// single: each product judged by its own adapters (routing off); multi: routing among
    /// every product; continual: the bundle's products added one at a time, every seen product
    /// evaluated after each step.
    #[arg(long, value_enum, ignore_case = true, default_value = "multi")]
    setting: Setting,
    /// Products to evaluate, comma-separated (default: every bundle product in the dataset).
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Write the metrics as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write per-image scores, labels and routing decisions as CSV to this file (continual:
    /// those of the last step).
    #[arg(long)]
    dump_scores: Option<PathBuf>,
    /// Write heatmap overlays with the ground-truth outline into this directory.
    #[arg(long)]
    heatmaps: Option<PathBuf>,
    /// Overlays per product, spread evenly over its test images.
    #[arg(long, default_value_t = 8)]
    heatmap_count: usize,
    /// Instead of spreading: overlays of every test image whose dataset-relative path contains
    /// one of these strings (comma-separated, e.g. `crack/000,hole/`).
    #[arg(long, value_delimiter = ',')]
    heatmap_images: Vec<String>,
    /// FPR limit of AUPRO.
    #[arg(long, default_value_t = 0.3)]
    max_fpr: f64,
    /// Graph precision: auto (the INT8 twins `calibrate` wrote, where there are any), fp32
    /// or int8.
    #[arg(long, default_value = "auto")]
    precision: GraphPrecision,
}

fn bar(len: Option<usize>) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n as u64),
        None => ProgressBar::no_length(),
    };
    bar.with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images [{elapsed}<{eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

fn summary_line(report: &EvalReport) -> String {
    format!(
        "{} images in {:.1} s ({:.1} img/s), setting {:?}, input {} px, peak RSS {}",
        report.mean.images,
        report.seconds,
        report.mean.images as f64 / report.seconds.max(1e-9),
        report.setting,
        report.input_size,
        report
            .peak_rss_mb
            .map_or("-".to_string(), |m| format!("{m:.0} MB"))
    )
    .to_lowercase()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(args.max_fpr > 0.0 && args.max_fpr <= 1.0) {
        anyhow::bail!("--max-fpr {}: must be in (0, 1]", args.max_fpr);
    }
    let config = EvalConfig {
        categories: args.categories,
        routing: args.setting.routing(),
        setting: args.setting,
        max_fpr: args.max_fpr,
        precision: args.precision,
        heatmaps: args.heatmaps.map(|dir| HeatmapConfig {
            dir,
            per_product: args.heatmap_count,
            matching: args.heatmap_images,
        }),
        ..EvalConfig::new(args.bundle, args.data, args.layout)
    };
    let (json, last) = match args.setting {
        Setting::Multi => {
            let eval = Evaluation::prepare(&config)?;
            let bar = bar(Some(eval.image_count()));
            let report = eval.run(&|| bar.inc(1))?;
            bar.finish_and_clear();
            print!("{}", report.table());
            println!("{}", summary_line(&report));
            (serde_json::to_vec_pretty(&report)?, report)
        }
        Setting::Single => {
            let bar = bar(None);
            let report = single_class(&config, &|| bar.inc(1))?;
            bar.finish_and_clear();
            print!("{}", report.table());
            println!("{}", summary_line(&report));
            (serde_json::to_vec_pretty(&report)?, report)
        }
        Setting::Continual => {
            let bar = bar(Some(continual::replay_image_count(&config)?));
            let report = continual::replay(&config, &|| bar.inc(1))?;
            bar.finish_and_clear();
            let last = report
                .steps
                .last()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no continual step"))?;
            print!("{}", last.table());
            print!("\n{}", report.table());
            println!("{}", summary_line(&last));
            (serde_json::to_vec_pretty(&report)?, last)
        }
    };
    if let Some(path) = &args.json {
        write_atomic(path, &json)?;
    }
    if let Some(path) = &args.dump_scores {
        write_atomic(path, last.scores_csv().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
