//! `adapts-builder sign`: sign an existing bundle's manifest (which holds every file's
//! sha256), replacing any earlier signature.

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_runtime::bundle::sign_bundle;
use adapts_runtime::trust::SecretKey;
use clap::Parser;

#[derive(Debug, Parser)]
pub struct Args {
    /// Bundle directory.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// The private key (from `keygen`).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Raise the manifest's sequence number to N first: for a bundle built in a new folder
    /// that replaces one with a higher number on the stations (which refuse a lower one).
    #[arg(long, value_name = "N")]
    sequence: Option<u64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = SecretKey::read(&args.key)?;
    let manifest = sign_bundle(&args.bundle, &key, args.sequence)?;
    println!(
        "signed {} ({} products, sequence {}) with key {}",
        args.bundle.display(),
        manifest.products.len(),
        manifest.sequence,
        key.public().id()
    );
    Ok(ExitCode::SUCCESS)
}
