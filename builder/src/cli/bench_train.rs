//! `adapts-builder bench-train`.

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::bench::train::bench_train;
use adapts_builder::model::TrunkKind;
use adapts_builder::train::plan::Preset;
use clap::Parser;

#[derive(Debug, Parser)]
pub struct Args {
    /// Trunk architecture (random weights).
    #[arg(long, value_enum, ignore_case = true, default_value = "wrn50-2")]
    trunk: TrunkKind,
    /// Presets to time.
    #[arg(long, value_enum, ignore_case = true, value_delimiter = ',', default_values_t = [Preset::S, Preset::M, Preset::L])]
    presets: Vec<Preset>,
    /// Input size in pixels (square).
    #[arg(long, default_value_t = 224)]
    image_size: u32,
    /// Images per training step.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Timed steps per configuration (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Seed of the random trunk weights and the synthetic batches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the rows as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    println!(
        "training images/s, {} random weights, {} px, batch {} (+ {} synthetic anomalies), {} timed steps",
        args.trunk, args.image_size, args.batch_size, args.batch_size, args.steps
    );
    println!(
        "{:<8} {:>14} {:>14} {:>8}",
        "preset", "plain candle", "speed work", "speedup"
    );
    for preset in &args.presets {
        let row = bench_train(
            args.trunk,
            *preset,
            args.image_size,
            args.batch_size,
            args.steps,
            args.seed,
        )?;
        println!(
            "{:<8} {:>14.2} {:>14.2} {:>7.2}x",
            row.preset, row.baseline_images_per_s, row.fast_images_per_s, row.speedup
        );
        rows.push(row);
    }
    if let Some(path) = &args.json {
        adapts_runtime::fsutil::write_atomic(path, &serde_json::to_vec_pretty(&rows)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
