//! `adapts-builder train`: train products' adapters and write (or extend) a bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::data::Layout;
use adapts_builder::model::check::default_normalization;
use adapts_builder::model::TrunkKind;
use adapts_builder::train::job::{self, weights_from_arg, TrainJob};
use adapts_builder::train::plan::{Plan, Preset};
use adapts_runtime::bundle::Bundle;
use adapts_runtime::trust::SecretKey;
use clap::Parser;

use super::recipe::RecipeArgs;

#[derive(Debug, Parser)]
pub struct Args {
    /// Dataset root.
    #[arg(long)]
    data: PathBuf,
    /// Dataset layout.
    #[arg(long, value_enum, ignore_case = true, default_value = "mvtec")]
    layout: Layout,
    /// Products to train, comma-separated (default: every product in the dataset).
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Trunk architecture.
    #[arg(long, value_enum, ignore_case = true, default_value = "effnet-lite0")]
    trunk: TrunkKind,
    /// Trunk weights (.pth or .safetensors), or `random` for seeded random weights.
    #[arg(long)]
    weights: String,
    /// Adapter placement and precision preset.
    #[arg(long, value_enum, ignore_case = true, default_value = "s")]
    preset: Preset,
    /// Custom adapted stages, comma-separated (overrides the preset's placement).
    #[arg(long)]
    stages: Option<String>,
    /// Adapter variant (default linear).
    #[arg(long, ignore_case = true, value_parser = ["linear", "expansion", "bn25", "bn50"])]
    adapter: Option<String>,
    /// Local scoring: route by the pooled output of this deeper stage (e.g. `layer4` for
    /// WRN50-2, as the paper's prototypes; `stride32` for Lite0) instead of the tapped
    /// stages'. The trunk then runs through that stage on every frame.
    #[arg(long, value_name = "STAGE")]
    routing_stage: Option<String>,
    /// Output bundle directory.
    #[arg(long)]
    out: PathBuf,
    /// Add the products to an existing bundle; its files stay byte-identical.
    #[arg(long)]
    append: bool,
    /// Directory of texture images for synthetic anomalies (default: built-in procedural).
    #[arg(long)]
    textures: Option<PathBuf>,
    /// Training epochs per product [default: 10 for the paper's recipe; local scoring
    /// trains 2,000 optimisation steps, whatever the number of images].
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per training step.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Network input size (square, multiple of 32).
    #[arg(long, default_value_t = 224)]
    image_size: u32,
    /// Seed of the split, the synthetic anomalies and the adapter initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write a JSON summary to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Sign the bundle's manifest with this key (from `keygen`). Without it the bundle is
    /// unsigned; appending to a signed bundle without it leaves the bundle unsigned.
    #[arg(long, value_name = "KEY")]
    key: Option<PathBuf>,
    #[command(flatten)]
    recipe: RecipeArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let arch = args.trunk.arch();
    // Read before training, so a wrong key fails in seconds, not after an hour.
    let sign_key = args.key.as_deref().map(SecretKey::read).transpose()?;
    let job = TrainJob {
        data: args.data,
        layout: args.layout,
        categories: args.categories,
        trunk_id: args.trunk.name().to_string(),
        arch,
        weights: weights_from_arg(&args.weights, args.seed),
        normalization: default_normalization(args.trunk),
        plan: {
            let plan = Plan::resolve(
                &arch,
                args.preset,
                args.stages.as_deref(),
                args.adapter.as_deref(),
                args.recipe.recipe,
            )?;
            match args.routing_stage.as_deref() {
                Some(stage) => plan.with_routing_stage(&arch, stage)?,
                None => plan,
            }
        },
        out: args.out.clone(),
        append: args.append,
        textures: args.textures,
        image_size: args.image_size,
        config: args.recipe.config(args.epochs, args.batch_size, args.seed),
        sign_key,
    };
    let summaries = job::run(&job)?;
    for s in &summaries {
        println!(
            "{}: {} train / {} val images, {:.1} s ({:.1} img/s), {} bytes",
            s.name,
            s.train_images,
            s.val_images,
            s.train_seconds,
            s.images_per_second,
            s.adapter_bytes
        );
        println!(
            "  threshold {:.4} (val normal max {:.4}, synthetic median {:.4}): false rejects \
             {:.1} % of validation normals (at most {:.1} % on the line, 95 % confidence); \
             synthetic escapes {:.1} %",
            s.threshold,
            s.val_normal_max,
            s.val_anomaly_median,
            100.0 * s.rates.false_reject_validation,
            100.0 * s.rates.false_reject_upper,
            100.0 * s.rates.escape_synthetic
        );
    }
    let bundle = Bundle::open(&args.out)?;
    println!(
        "wrote {} ({} products, {:.2} MB in total, sequence {}, {})",
        args.out.display(),
        bundle.manifest().products.len(),
        bundle.total_bytes() as f64 / 1e6,
        bundle.manifest().sequence,
        bundle.signature()
    );
    if let Some(path) = &args.json {
        adapts_runtime::fsutil::write_atomic(path, &serde_json::to_vec_pretty(&summaries)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
