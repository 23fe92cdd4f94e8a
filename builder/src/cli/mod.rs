//! Command-line interface: argument types and dispatch, one module per subcommand.

mod backbone;
mod bench_train;
mod bench_trunk;
mod calibrate;
mod eval;
mod export_trunk;
mod info;
mod keygen;
mod paper;
mod recipe;
mod report;
mod sign;
mod synth;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Host tool for AdapTS edge: trunks, adapters, bundles.
#[derive(Debug, Parser)]
#[command(name = "adapts-builder", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str =
    "Exit codes: 0 success, 2 error (the message names the file, key or value).\n\
Logging: RUST_LOG=debug|info|warn (default info).";

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect trunk weights.
    #[command(subcommand)]
    Backbone(backbone::BackboneCommand),
    /// Export a (truncated) trunk to ONNX.
    ExportTrunk(export_trunk::Args),
    /// Benchmark trunk latency: candle vs ONNX Runtime (and Python onnxruntime when present).
    BenchTrunk(bench_trunk::Args),
    /// Benchmark training speed: plain candle against the optimised training step.
    BenchTrain(bench_train::Args),
    /// Generate a synthetic MVTec-layout dataset of distinct products with defects.
    Synth(synth::Args),
    /// Train products' adapters on normal images and write or extend a bundle.
    Train(train::Args),
    /// Calibrate a bundle to INT8: Q/DQ twins of its graphs, TensorRT calibration caches,
    /// thresholds set on the INT8 scores.
    Calibrate(calibrate::Args),
    /// Routing accuracy and image AUROC per product from a runtime results file.
    Report(report::Args),
    /// Show a bundle's trunk, products and per-product memory footprint.
    Info(info::Args),
    /// Create an ed25519 key pair for signing bundles (KEY and KEY.pub).
    Keygen(keygen::Args),
    /// Sign a bundle's manifest, so that stations with a trust key accept it.
    Sign(sign::Args),
    /// The paper's metrics, memory and GFLOPs of a bundle on a labelled test set
    /// (single, multi-class or continual setting).
    Eval(eval::Args),
    /// Train and evaluate the paper's setting in one run: presets x (single, multi,
    /// continual), products trained in order, tables in OUT/summary.md.
    Paper(paper::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Backbone(cmd) => backbone::run(cmd),
        Command::ExportTrunk(args) => export_trunk::run(args),
        Command::BenchTrunk(args) => bench_trunk::run(args),
        Command::BenchTrain(args) => bench_train::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Train(args) => train::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Report(args) => report::run(args),
        Command::Info(args) => info::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Paper(args) => paper::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every argument with a fixed set of values, in every subcommand.
    fn enum_args(cmd: &clap::Command, path: &str, out: &mut Vec<(String, bool)>) {
        for arg in cmd.get_arguments() {
            let takes_values = arg.get_action().takes_values();
            if takes_values && !arg.get_possible_values().is_empty() && !arg.is_positional() {
                out.push((
                    format!("{path} --{}", arg.get_id()),
                    arg.is_ignore_case_set(),
                ));
            }
        }
        for sub in cmd.get_subcommands() {
            enum_args(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_choice_ignores_case() {
        let mut args = Vec::new();
        enum_args(&Cli::command(), "adapts-builder", &mut args);
        assert!(args.len() >= 10, "{args:?}");
        let strict: Vec<&str> = args
            .iter()
            .filter(|(_, ignore)| !ignore)
            .map(|(name, _)| name.as_str())
            .collect();
        assert!(strict.is_empty(), "case-sensitive choices: {strict:?}");
    }

    #[test]
    fn upper_and_lower_case_choices_parse_alike() {
        let parse = |preset: &str, trunk: &str| {
            Cli::try_parse_from([
                "adapts-builder",
                "train",
                "--data",
                "d",
                "--weights",
                "random",
                "--out",
                "b",
                "--preset",
                preset,
                "--trunk",
                trunk,
                "--layout",
                "MVTEC",
            ])
            .map(|cli| format!("{cli:?}"))
        };
        let upper = parse("S", "EFFNET-LITE0").expect("upper case");
        assert_eq!(upper, parse("s", "effnet-lite0").expect("lower case"));
        assert!(parse("XL", "effnet-lite0").is_err());
        Cli::command().debug_assert();
    }
}
