//! `adapts-builder synth`: writes a synthetic MVTec-layout dataset of distinct products.

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_builder::data::synth::{generate, SynthConfig};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Parser)]
pub struct Args {
    /// Dataset root; products go to OUT/<product>/{train,test,ground_truth}.
    #[arg(long)]
    out: PathBuf,
    /// Number of products, taken in order from: fabric, washer, wood, pcb, tile, screw,
    /// leather, marble, carpet, mesh.
    #[arg(long)]
    products: usize,
    /// Defect-free training images per product.
    #[arg(long, default_value_t = 60)]
    train: usize,
    /// Defect-free test images per product.
    #[arg(long, default_value_t = 20)]
    test_good: usize,
    /// Defective test images per product, cycling through scratch, stain, crack, hole,
    /// contamination.
    #[arg(long, default_value_t = 20)]
    test_defect: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = 256)]
    size: u32,
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print a JSON summary (paths, counts) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = SynthConfig {
        out: args.out,
        products: args.products,
        train: args.train,
        test_good: args.test_good,
        test_defect: args.test_defect,
        size: args.size,
        seed: args.seed,
    };
    config.validate()?;
    let bar = ProgressBar::new(config.image_count()).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images [{elapsed}<{eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = generate(&config, &|| bar.inc(1))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "wrote {} images and {} masks ({} px, seed {}) to {}",
            summary.images,
            summary.masks,
            summary.size,
            summary.seed,
            summary.out.display()
        );
        for p in &summary.products {
            let defects: Vec<String> = p
                .test_defect
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            println!(
                "  {:<8} train {:>3}, test good {:>3}, defects: {}",
                p.name,
                p.train,
                p.test_good,
                if defects.is_empty() {
                    "none".to_string()
                } else {
                    defects.join(", ")
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
