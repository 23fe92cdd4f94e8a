//! `adapts-runtime station`: serve triggers from standard input (`TRIGGER [product]` lines)
//! or a free-running interval, with frames from a source, one JSON result line per trigger on standard output.
//!
//! Logs and the closing summary go to stderr, so stdout carries result lines only.

use std::io::BufReader;
use std::path::PathBuf;

use adapts_runtime::bundle::Bundle;
use adapts_runtime::pipeline::Pipeline;
use adapts_runtime::source::{Frame, FrameError, FrameSource, SourceSpec};
use adapts_runtime::station::interval::{parse_period, IntervalTrigger};
use adapts_runtime::station::stdio::{JsonLinesSink, LineTrigger};
use adapts_runtime::station::{serve, Trigger};
use adapts_runtime::{ort_runtime, Error, SessionConfig};

/// Arguments of `station`.
#[derive(Debug, clap::Args)]
pub struct StationArgs {
    /// Bundle directory written by adapts-builder.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Where frames come from: `dir:PATH` (the images under PATH, in path order).
    #[arg(long, value_name = "SCHEME:ARG")]
    camera: String,
    /// Start the source again from its first frame when it runs out (a `dir:` folder as a
    /// camera that never ends).
    #[arg(long = "loop")]
    looping: bool,
    /// Where triggers come from: `stdin` (lines `TRIGGER [product]`) or `every:PERIOD`
    /// (free-run, e.g. `every:100ms`).
    #[arg(long, value_name = "KIND", default_value = "stdin")]
    trigger: String,
    /// With `every:`, stop after this many triggers (default: run until stopped).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Threads per graph run (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

/// A source opened again from the start whenever it ends; frames keep counting across
/// passes.
struct Looping {
    spec: SourceSpec,
    inner: Box<dyn FrameSource + Send>,
    delivered: u64,
}

impl Looping {
    fn next_pass(&mut self) -> Option<Result<Frame, FrameError>> {
        if let Some(item) = self.inner.next_frame() {
            return Some(item);
        }
        match self.spec.open() {
            Ok(source) => self.inner = source,
            Err(err) => {
                log::error!("cannot reopen the camera: {}", err.chain_message());
                return None;
            }
        }
        self.inner.next_frame()
    }
}

impl FrameSource for Looping {
    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let item = self.next_pass()?;
        self.delivered += 1;
        Some(item.map(|frame| Frame {
            sequence: self.delivered,
            ..frame
        }))
    }
}

/// Serves triggers until standard input ends.
pub fn handle(args: &StationArgs) -> anyhow::Result<()> {
    let spec: SourceSpec = args.camera.parse()?;
    let mut trigger: Box<dyn Trigger> = if args.trigger.eq_ignore_ascii_case("stdin") {
        Box::new(LineTrigger::spawn(BufReader::new(std::io::stdin())))
    } else if let Some(period) = args.trigger.strip_prefix("every:") {
        let period = parse_period(period).map_err(|reason| Error::Source {
            spec: args.trigger.clone(),
            reason,
        })?;
        Box::new(IntervalTrigger::new(period, args.count))
    } else {
        return Err(Error::Source {
            spec: args.trigger.clone(),
            reason: "unknown trigger (this build has: stdin, every:PERIOD)".into(),
        }
        .into());
    };
    let config = SessionConfig {
        intra_op_threads: args.threads.map(usize::from),
        ..SessionConfig::default()
    };
    let bundle = Bundle::open(&args.bundle)?;
    let runtime = ort_runtime()?;
    let mut pipeline = Pipeline::from_bundle(&bundle, &config)?;
    let mut camera: Box<dyn FrameSource + Send> = if args.looping {
        Box::new(Looping {
            inner: spec.open()?,
            spec,
            delivered: 0,
        })
    } else {
        spec.open()?
    };
    eprintln!(
        "station: bundle {} ({} products), ONNX Runtime {}, camera {}, trigger {}",
        args.bundle.display(),
        bundle.manifest().products.len(),
        runtime.version(),
        args.camera,
        args.trigger
    );
    let mut sink = JsonLinesSink::new(std::io::stdout().lock());
    let served = serve(&mut pipeline, camera.as_mut(), trigger.as_mut(), &mut sink)?;
    eprintln!(
        "station: {} triggers answered, PASS {}, FAIL {}",
        served.triggers,
        served.pass,
        served.triggers - served.pass
    );
    Ok(())
}
