//! `adapts-runtime`, the inspection-station binary: a thin command line over the
//! `adapts_runtime` library. Exit codes are documented in `--help` (see `cli`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match cli::run(cli::Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`adapts-runtime probe ... | head`) is the reader's choice, not a failure.
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
