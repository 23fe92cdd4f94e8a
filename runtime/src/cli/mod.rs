//! The command line: argument definitions, one module per subcommand, and the exit-code
//! contract. Each subcommand module turns its arguments into library calls and prints.

mod bench;
mod gpu_check;
mod info;
mod plan;
mod probe;
mod run;
mod station;

use std::path::PathBuf;

use adapts_runtime::trust::TrustPolicy;
use clap::{Parser, Subcommand};

/// Exit status for any setup error: bad arguments, missing ONNX Runtime library, bundle or
/// model not found, corrupted or not loadable. Matches clap's own status for usage errors.
pub const EXIT_ERROR: u8 = 2;

const EXIT_CODES: &str = "\
Exit codes:
  0  success; for `run`, also when frames are FAIL (a verdict, written to the results file)
  2  error: invalid arguments, ONNX Runtime library, bundle or model not found, corrupted or
     not loadable, results not writable (the message on stderr says which)

ONNX Runtime is loaded at run time from $ORT_DYLIB_PATH if set, else from
vendor/onnxruntime/libonnxruntime.so in the current directory or one of its parents
(scripts/setup.sh puts it there).";

/// AdapTS edge device runtime: visual anomaly detection on the inspection line.
#[derive(Debug, Parser)]
#[command(name = "adapts-runtime", version, after_help = EXIT_CODES)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Judge every frame of a source with a bundle: one JSON line per frame.
    Run(run::RunArgs),
    /// Verify a bundle and show its trunk, preset, products and footprint.
    Info(info::InfoArgs),
    /// Show the ONNX Runtime library in use and a model's inputs and outputs.
    Probe(probe::ProbeArgs),
    /// Time the full pipeline against the bare trunk on the same engine: p50, p99, ratio.
    Bench(bench::BenchArgs),
    /// Serve an inspection station: triggers (GPIO, stdin, free-run) in, one PASS/FAIL and
    /// one JSON result line per trigger out, products added while it runs.
    Station(station::StationArgs),
    /// Build on this device the TensorRT plans of a bundle's graphs (GPU builds, on the
    /// device): only the missing ones, or all with --rebuild-plans.
    Plan(plan::PlanArgs),
    /// Check the GPU preprocessing (NVRTC kernels, pinned and device buffers) against the
    /// CPU's on real images: largest difference and time per frame (GPU builds).
    GpuCheck(gpu_check::GpuCheckArgs),
}

/// Runs the chosen subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Run(run_args) => run::handle(&run_args),
        Command::Info(info_args) => info::handle(&info_args),
        Command::Probe(probe_args) => probe::handle(&probe_args),
        Command::Station(station_args) => station::handle(&station_args),
        Command::Bench(bench_args) => bench::handle(&bench_args),
        Command::Plan(plan_args) => plan::handle(&plan_args),
        Command::GpuCheck(check_args) => gpu_check::handle(&check_args),
    }
}

/// `--plans` and `--dla`: which TensorRT plans `--engine tensorrt` runs with.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanStoreArgs {
    /// TensorRT plan store, as `adapts-runtime plan --plans` wrote it (default: BUNDLE.plans
    /// beside the bundle folder). `--engine tensorrt` only.
    #[arg(long = "plans", value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Run the plans built for DLA core N (`plan --dla N`). `--engine tensorrt` only.
    #[arg(long, value_name = "N")]
    pub dla: Option<u32>,
}

/// `--trust-key`, for the subcommands that judge with a bundle.
#[derive(Debug, Clone, clap::Args)]
pub struct TrustArgs {
    /// Accept only bundles signed by this public key (SPKI PEM, as `adapts-builder keygen`
    /// writes it); repeat it to trust more than one key during a rotation. Without it,
    /// signatures are not checked.
    #[arg(long = "trust-key", value_name = "PUB")]
    pub trust_keys: Vec<PathBuf>,
}

impl TrustArgs {
    /// Reads the keys; says in the log when signatures are not checked.
    pub fn policy(&self) -> anyhow::Result<TrustPolicy> {
        trust_policy(&self.trust_keys)
    }
}

/// Reads the trust key files and logs what will be checked.
pub fn trust_policy(keys: &[PathBuf]) -> anyhow::Result<TrustPolicy> {
    let policy = TrustPolicy::from_key_files(keys)?;
    if policy.checks_signatures() {
        log::info!("accepting bundles signed by {}", policy.key_ids());
    } else {
        log::warn!(
            "bundle signatures are not checked (no trust key set): checksums catch corruption, \
             not a forged bundle"
        );
    }
    Ok(policy)
}

/// Whether the error is a write to a closed stdout.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn help_documents_exit_codes() {
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("Exit codes"), "{help}");
        assert!(help.contains("ORT_DYLIB_PATH"), "{help}");
    }
}
