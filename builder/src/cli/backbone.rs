//! `adapts-builder backbone check`.

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::model::check::{backbone_check, default_normalization};
use adapts_builder::model::TrunkKind;
use adapts_runtime::preprocess::Normalization;
use clap::{Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub enum BackboneCommand {
    /// Classify a photo with the trunk's ImageNet head and print the top-5 labels.
    Check {
        /// Trunk architecture.
        #[arg(long, value_enum, ignore_case = true)]
        trunk: TrunkKind,
        /// Weights file (.pth zip or legacy, or .safetensors).
        #[arg(long)]
        weights: PathBuf,
        /// Photo to classify (PNG or JPEG).
        #[arg(long)]
        image: PathBuf,
        /// Network input size.
        #[arg(long, default_value_t = 224)]
        size: u32,
        /// Input normalisation (default: what the trunk's weights expect).
        #[arg(long, value_enum, ignore_case = true)]
        normalization: Option<NormArg>,
        /// Print a JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NormArg {
    /// ImageNet mean/std.
    Imagenet,
    /// (x - 127) / 128.
    Tf,
}

impl From<NormArg> for Normalization {
    fn from(n: NormArg) -> Self {
        match n {
            NormArg::Imagenet => Normalization::Imagenet,
            NormArg::Tf => Normalization::Tf,
        }
    }
}

pub fn run(cmd: BackboneCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BackboneCommand::Check {
            trunk,
            weights,
            image,
            size,
            normalization,
            json,
        } => {
            let norm = normalization.map_or_else(|| default_normalization(trunk), Into::into);
            let report = backbone_check(trunk, &weights, &image, size, norm)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} weights {} (sha256 {}), image {}",
                    report.trunk,
                    report.weights.display(),
                    report.weights_sha256,
                    report.image.display()
                );
                for (rank, p) in report.top5.iter().enumerate() {
                    println!(
                        "  {}. {:<28} {:>6.2} %  (class {})",
                        rank + 1,
                        p.label,
                        100.0 * p.probability,
                        p.class_id
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
