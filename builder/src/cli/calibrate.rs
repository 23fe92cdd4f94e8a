//! `adapts-builder calibrate`: INT8 twins of a bundle's graphs from normal images, with the
//! thresholds set on the INT8 scores.

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::data::Layout;
use adapts_builder::quant::job::{self, CalibrateJob};
use adapts_builder::quant::{Method, Scheme};
use adapts_builder::train::plan::Recipe;
use adapts_calibration::tensorrt_version_tag;
use adapts_runtime::fsutil::write_atomic;
use adapts_runtime::trust::SecretKey;
use clap::Parser;

use super::recipe::RecipeArgs;

#[derive(Debug, Parser)]
pub struct Args {
    /// Bundle to calibrate (in place; only graphs without an INT8 twin are calibrated).
    #[arg(long)]
    bundle: PathBuf,
    /// The dataset the bundle was trained on (each product's normal training images).
    #[arg(long)]
    data: PathBuf,
    /// Dataset layout.
    #[arg(long, value_enum, ignore_case = true, default_value = "mvtec")]
    layout: Layout,
    /// Activation range rule: minmax (the observed extremes; the most accurate on the measured
    /// data), entropy (TensorRT's KL rule) or percentile (99.999).
    #[arg(long, default_value = "minmax")]
    method: Method,
    /// Training images per product fed to the observers.
    #[arg(long, default_value_t = 32)]
    images: usize,
    /// Also calibrate the trunk and the shared later stages (the largest saving).
    #[arg(long)]
    trunk: bool,
    /// Activation type: u8 (asymmetric, ONNX Runtime on the CPU) or s8 (symmetric, for
    /// TensorRT's explicit quantization).
    #[arg(long, default_value = "u8")]
    activations: Scheme,
    /// The training run's --seed (it gives the same validation split and anomalies).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// With an INT8 trunk, each product map is fitted again on its features: epochs, as
    /// given to `train` [default: the recipe's, as for `train`].
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per training step of that fit, as given to `train`.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Texture images for the synthetic anomalies (as given to `train`).
    #[arg(long)]
    textures: Option<PathBuf>,
    /// TensorRT version in the calibration caches' header (JetPack 5.1: 8.5.2).
    #[arg(long, default_value = "8.5.2")]
    tensorrt: String,
    /// Sign the amended manifest with this key.
    #[arg(long, value_name = "KEY")]
    key: Option<PathBuf>,
    /// Write a JSON summary to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The training options the bundle was trained with (the threshold rule applies to the
    /// INT8 validation scores).
    #[command(flatten)]
    recipe: RecipeArgs,
}

fn parse_version(text: &str) -> anyhow::Result<u32> {
    let parts: Vec<u32> = text
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--tensorrt {text}: expected MAJOR.MINOR.PATCH"))?;
    match parts.as_slice() {
        [major, minor, patch] => Ok(tensorrt_version_tag(*major, *minor, *patch)),
        _ => anyhow::bail!("--tensorrt {text}: expected MAJOR.MINOR.PATCH"),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.recipe.recipe != Recipe::Local {
        anyhow::bail!(
            "--recipe {:?}: calibrate works on local-recipe bundles; a paper-recipe bundle keeps \
             INT8 adapter weights with FP32 activations",
            args.recipe.recipe
        );
    }
    let key = args.key.as_deref().map(SecretKey::read).transpose()?;
    let job = CalibrateJob {
        bundle: args.bundle.clone(),
        data: args.data,
        layout: args.layout,
        method: args.method,
        scheme: args.activations,
        images: args.images,
        trunk: args.trunk,
        train: args.recipe.config(args.epochs, args.batch_size, args.seed),
        textures: args.textures,
        tensorrt_version: parse_version(&args.tensorrt)?,
        key,
    };
    let summary = job::run(&job)?;
    println!(
        "calibrated {} ({} activations, {}) in {:.1} s",
        args.bundle.display(),
        summary.activations,
        summary.method,
        summary.seconds
    );
    println!(
        "{:<34} {:>11} {:>11} {:>6} {:>6}",
        "graph", "FP32 bytes", "INT8 bytes", "pairs", "convs"
    );
    for g in &summary.graphs {
        println!(
            "{:<34} {:>11} {:>11} {:>6} {:>6}",
            g.graph, g.fp32_bytes, g.int8_bytes, g.pairs, g.int8_convs
        );
    }
    println!(
        "{:<20} {:>12} {:>12} {:>5} {:>10} {:>10}",
        "product", "threshold", "INT8 thr.", "val", "val FRR", "synth esc"
    );
    for p in &summary.products {
        println!(
            "{:<20} {:>12.4} {:>12.4} {:>5} {:>9.1}% {:>9.1}%",
            p.name,
            p.threshold_before,
            p.threshold,
            p.val_images,
            100.0 * p.rates.false_reject_validation,
            100.0 * p.rates.escape_synthetic
        );
    }
    if let Some(path) = &args.json {
        write_atomic(path, &serde_json::to_vec_pretty(&summary)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
