//! `adapts-builder keygen`: a new ed25519 key pair for signing bundles.

use std::path::PathBuf;
use std::process::ExitCode;

use adapts_runtime::trust::{public_path_of, SecretKey};
use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
pub struct Args {
    /// The private key file to create (PKCS#8 PEM, mode 0600; never replaced). The public key
    /// goes to the same path plus `.pub` (SPKI PEM): that is the file stations trust.
    #[arg(long, value_name = "KEY")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).context("the operating system's random source failed")?;
    let key = SecretKey::from_seed(seed);
    seed.fill(0);
    key.write_new(&args.out)?;
    println!(
        "wrote {} (private, keep it on the build host) and {} (public, for --trust-key): key {}",
        args.out.display(),
        public_path_of(&args.out).display(),
        key.public().id()
    );
    Ok(ExitCode::SUCCESS)
}
