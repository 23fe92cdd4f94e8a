//! `adapts-builder paper`: the paper's tables in one command (see [`adapts_builder::paper`]).

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::data::Layout;
use adapts_builder::model::check::default_normalization;
use adapts_builder::model::TrunkKind;
use adapts_builder::paper::{self, PaperRun};
use adapts_builder::train::job::weights_from_arg;
use adapts_builder::train::plan::Preset;
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
    /// Products in training order, comma-separated (default: every product, sorted).
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Trunk architecture (the paper: wrn50-2).
    #[arg(long, value_enum, ignore_case = true, default_value = "wrn50-2")]
    trunk: TrunkKind,
    /// Trunk weights (.pth or .safetensors), or `random` for seeded random weights.
    #[arg(long)]
    weights: String,
    /// Presets to run, comma-separated.
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        value_delimiter = ',',
        default_value = "s,m,l"
    )]
    presets: Vec<Preset>,
    /// Output directory: `<preset>/bundle`, `<preset>/results.json`, `summary.md`.
    #[arg(long)]
    out: PathBuf,
    /// Training epochs per product [default: 10 for the paper's recipe; local scoring
    /// trains 2,000 optimisation steps, whatever the number of images].
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per training step.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Network input size (square, multiple of 32; the paper: 224).
    #[arg(long, default_value_t = 224)]
    image_size: u32,
    /// Seed of the split, the synthetic anomalies and the adapter initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory of texture images for synthetic anomalies (default: built-in procedural).
    #[arg(long)]
    textures: Option<PathBuf>,
    /// Heatmap overlays per product (multi-class evaluation), in `<preset>/heatmaps/`.
    #[arg(long, default_value_t = 4)]
    heatmaps: usize,
    #[command(flatten)]
    recipe: RecipeArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let run = PaperRun {
        data: args.data,
        layout: args.layout,
        categories: args.categories,
        trunk: args.trunk,
        weights: weights_from_arg(&args.weights, args.seed),
        normalization: default_normalization(args.trunk),
        presets: args.presets,
        out: args.out.clone(),
        image_size: args.image_size,
        textures: args.textures,
        recipe: args.recipe.recipe,
        train: args.recipe.config(args.epochs, args.batch_size, args.seed),
        heatmaps: args.heatmaps,
    };
    let results = paper::run(&run, &|line| log::info!("{line}"))?;
    print!("{}", paper::summary_markdown(&results));
    println!("\nwrote {}", args.out.join("summary.md").display());
    Ok(ExitCode::SUCCESS)
}
