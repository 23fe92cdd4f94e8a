//! `adapts-runtime station`: serve an inspection station from `station.toml` (or flags for
//! the common keys): triggers in, one PASS/FAIL and one JSON result line per trigger out.
//!
//! Signals: SIGHUP reloads the bundle, SIGUSR1 prints the statistics, SIGTERM or SIGINT
//! finishes the triggers already taken and exits 0 (a second SIGINT exits at once). Logs and
//! statistics go to stderr, so stdout carries result lines only.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use adapts_runtime::camera::{Camera, SourceCamera};
use adapts_runtime::pipeline::Pipeline;
use adapts_runtime::source::SourceSpec;
use adapts_runtime::station::config::{CameraPlan, Plan, StationConfig, TriggerPlanKind};
use adapts_runtime::station::gpio::{ChipOutputs, GpioTrigger, LineOutputs};
use adapts_runtime::station::heatmaps::HeatmapStore;
use adapts_runtime::station::interval::{parse_period, IntervalTrigger};
use adapts_runtime::station::journal::Journal;
use adapts_runtime::station::reload::{bundle_loader, load_verified, Admission};
use adapts_runtime::station::stdio::{JsonLinesSink, LineTrigger};
use adapts_runtime::station::{run, Controls, Fanout, Judge, Settings, Trigger, VerdictSink};
use adapts_runtime::{ort_runtime, EngineKind, Error, SessionConfig};

/// Arguments of `station`.
#[derive(Debug, clap::Args)]
pub struct StationArgs {
    /// The station configuration (see examples/station.toml); the flags below override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration, open the bundle (checksums, contract checks, one warm-up
    /// frame), the camera and the GPIO lines, then exit.
    #[arg(long)]
    check: bool,
    /// Bundle directory written by adapts-builder (key `bundle`).
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// Board profile, a built-in name or a file: camera and GPIO defaults (key `board`).
    #[arg(long, value_name = "NAME")]
    board: Option<String>,
    /// Where frames come from: `dir:PATH` (the images under PATH, in path order) or
    /// `v4l2:/dev/videoN` (key `[camera]`).
    #[arg(long, value_name = "SCHEME:ARG")]
    camera: Option<String>,
    /// With `dir:`, start again from the first frame after the last (key `camera.loop`).
    #[arg(long = "loop")]
    looping: bool,
    /// Where triggers come from: `stdin` (lines `TRIGGER [product]`), `every:PERIOD`
    /// (free-run, e.g. `every:100ms`) or `gpio` (the board's trigger line) (key `[trigger]`).
    #[arg(long, value_name = "KIND")]
    trigger: Option<String>,
    /// With `every:`, stop after this many triggers (key `trigger.count`).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Trigger-to-answer deadline; a later result is FAIL `deadline` (key `deadline_ms`).
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<u64>,
    /// Append result lines to this file, rotated by size (key `results.path`).
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Write a heatmap PNG per FAIL here, oldest removed beyond the limits (key `heatmaps.dir`).
    #[arg(long, value_name = "DIR")]
    heatmaps: Option<PathBuf>,
    /// Threads per graph run (default: one per core) (key `threads`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Engine: cpu (default), cuda, tensorrt or auto (key `engine`; see `run --help`).
    #[arg(long, value_name = "ENGINE")]
    engine: Option<EngineKind>,
    /// Accept only bundles signed by this public key (SPKI PEM); repeat for a rotation
    /// (key `trust.keys`, which these replace).
    #[arg(long = "trust-key", value_name = "PUB")]
    trust_keys: Vec<PathBuf>,
    /// Accept a reload to a bundle with a lower sequence number than the running one's
    /// (key `trust.allow_downgrade`).
    #[arg(long)]
    allow_downgrade: bool,
}

/// Reads the configuration, applies the flags, and plans the station.
fn plan(args: &StationArgs) -> anyhow::Result<Plan> {
    let (mut config, origin, base) = match &args.config {
        Some(path) => {
            let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
            (StationConfig::read(path)?, path.clone(), base)
        }
        None => (
            StationConfig::default(),
            PathBuf::from("(command line)"),
            PathBuf::new(),
        ),
    };
    let cwd = std::env::current_dir()?;
    // Paths given as flags are relative to the working directory, not to the file.
    let here = |p: &Path| cwd.join(p);
    if let Some(b) = &args.bundle {
        config.bundle = Some(here(b));
    }
    if let Some(board) = &args.board {
        config.board = Some(board.clone());
    }
    if let Some(camera) = &args.camera {
        let bad = |reason: &str| Error::Source {
            spec: camera.clone(),
            reason: reason.into(),
        };
        let (scheme, arg) = camera
            .split_once(':')
            .ok_or_else(|| bad("expected `dir:PATH` or `v4l2:/dev/videoN`"))?;
        let c = &mut config.camera;
        match scheme {
            "dir" => {
                c.kind = Some("dir".into());
                c.path = Some(here(Path::new(arg)));
                c.device = None;
            }
            "v4l2" => {
                c.kind = Some("v4l2".into());
                c.device = Some(PathBuf::from(arg));
                c.path = None;
            }
            _ => return Err(bad("unknown camera scheme (expected `dir:` or `v4l2:`)").into()),
        }
    }
    if args.looping {
        config.camera.looping = Some(true);
    }
    if let Some(kind) = &args.trigger {
        let t = &mut config.trigger;
        if kind.eq_ignore_ascii_case("stdin") || kind.eq_ignore_ascii_case("gpio") {
            t.kind = Some(kind.to_ascii_lowercase());
        } else if let Some(period) = kind.strip_prefix("every:") {
            let period = parse_period(period).map_err(|reason| Error::Source {
                spec: kind.clone(),
                reason,
            })?;
            t.kind = Some("every".into());
            t.period_ms = Some(period.as_millis().max(1) as u64);
        } else {
            return Err(Error::Source {
                spec: kind.clone(),
                reason: "unknown trigger (expected stdin, every:PERIOD or gpio)".into(),
            }
            .into());
        }
    }
    if args.count.is_some() {
        config.trigger.count = args.count;
    }
    if args.deadline_ms.is_some() {
        config.deadline_ms = args.deadline_ms;
    }
    if let Some(r) = &args.results {
        config.results.path = Some(here(r));
    }
    if let Some(h) = &args.heatmaps {
        let mut heatmaps = config.heatmaps.take().unwrap_or_default();
        heatmaps.dir = here(h);
        config.heatmaps = Some(heatmaps);
    }
    if args.threads.is_some() {
        config.threads = args.threads;
    }
    if let Some(engine) = args.engine {
        config.engine = Some(engine.to_string());
    }
    if !args.trust_keys.is_empty() {
        config.trust.keys = Some(args.trust_keys.iter().map(|k| here(k)).collect());
    }
    if args.allow_downgrade {
        config.trust.allow_downgrade = Some(true);
    }
    Ok(config.plan(&origin, &base)?)
}

fn open_camera(plan: &Plan) -> anyhow::Result<Box<dyn Camera>> {
    match &plan.camera {
        CameraPlan::Dir { path, looping } => Ok(Box::new(SourceCamera::open(
            SourceSpec::Dir(path.clone()),
            *looping,
        )?)),
        #[cfg(feature = "v4l2")]
        CameraPlan::V4l2 {
            device,
            width,
            height,
            pixel_format,
            fps,
            buffers,
        } => {
            use adapts_runtime::camera::v4l2::{V4l2Camera, V4l2Config};
            let config = V4l2Config {
                device: device.clone(),
                width: *width,
                height: *height,
                pixel_format: *pixel_format,
                fps: *fps,
                buffers: *buffers,
            };
            Ok(Box::new(V4l2Camera::open(&config)?))
        }
        #[cfg(not(feature = "v4l2"))]
        CameraPlan::V4l2 { device, .. } => Err(Error::Source {
            spec: format!("v4l2:{}", device.display()),
            reason: "this adapts-runtime was built without V4L2 support; build it with \
                     `cargo build --release -p adapts-runtime --features v4l2`"
                .into(),
        }
        .into()),
    }
}

fn open_trigger(plan: &Plan) -> anyhow::Result<Box<dyn Trigger>> {
    Ok(match &plan.trigger {
        TriggerPlanKind::Stdin => Box::new(LineTrigger::spawn(BufReader::new(std::io::stdin()))),
        TriggerPlanKind::Every { period, count } => Box::new(IntervalTrigger::new(*period, *count)),
        TriggerPlanKind::Gpio(t) => Box::new(GpioTrigger::open(t)?),
    })
}

fn open_sinks(plan: &Plan) -> anyhow::Result<Fanout> {
    let mut sinks: Vec<Box<dyn VerdictSink>> = Vec::new();
    if plan.stdout {
        sinks.push(Box::new(JsonLinesSink::new(std::io::stdout())));
    }
    if let Some(r) = &plan.results {
        sinks.push(Box::new(Journal::open(&r.path, r.max_bytes, r.keep)?));
    }
    if let Some(o) = &plan.outputs {
        sinks.push(Box::new(LineOutputs::new(ChipOutputs::open(o)?, o.pulse)));
    }
    Ok(Fanout(sinks))
}

/// Serves triggers until they end or a stop signal.
pub fn handle(args: &StationArgs) -> anyhow::Result<()> {
    let plan = plan(args)?;
    let session = SessionConfig {
        intra_op_threads: plan.threads.map(usize::from),
        ..SessionConfig::default()
    }
    .on_engine(plan.engine)?;
    let runtime = ort_runtime()?;
    let mut admission =
        Admission::new(super::trust_policy(&plan.trust_keys)?, plan.allow_downgrade);
    if let Some(file) = &plan.sequence_file {
        admission = admission.with_sequence_file(file)?;
    }
    if let (Some(board), Some(mib)) = (&plan.board, plan.memory_budget_mib) {
        admission = admission.with_memory_budget(board, mib);
    }
    let admission = Arc::new(admission);
    let (pipeline, name): (Pipeline, String) = load_verified(&plan.bundle, &session, &admission)?;
    let products = pipeline.products();
    for product in plan.sensitivity.keys() {
        if !products.contains(product) {
            return Err(Error::Config {
                path: args.config.clone().unwrap_or_else(|| "(command line)".into()),
                reason: format!(
                    "key `sensitivity.{product}`: the bundle has no product `{product}` (it has: {})",
                    products.join(", ")
                ),
            }
            .into());
        }
    }
    let camera = open_camera(&plan)?;
    let trigger = open_trigger(&plan)?;
    let mut sink = open_sinks(&plan)?;
    let heatmaps = match &plan.heatmaps {
        Some(h) => Some(HeatmapStore::open(&h.dir, h.max_files, h.max_bytes)?),
        None => None,
    };
    eprintln!(
        "station: {name}, ONNX Runtime {}, camera {}, trigger {}, deadline {}",
        runtime.version(),
        camera.describe(),
        describe_trigger(&plan.trigger),
        plan.deadline
            .map_or_else(|| "none".to_string(), |d| format!("{} ms", d.as_millis())),
    );
    if args.check {
        eprintln!("station: configuration, bundle and devices OK");
        return Ok(());
    }
    let controls = Controls::default();
    register_signals(&controls)?;
    let settings = Settings {
        deadline: plan.deadline,
        capture_timeout: plan.capture_timeout,
        sensitivity: plan.sensitivity.clone(),
        heatmaps,
        watch: plan.watch.then(|| plan.bundle.clone()),
        watch_every: plan.watch_every,
    };
    let loader = bundle_loader(plan.bundle.clone(), session, admission);
    let summary = run(
        Box::new(pipeline) as Box<dyn Judge>,
        camera,
        trigger,
        &mut sink,
        Some(loader),
        settings,
        &controls,
    )?;
    eprint!("{}", summary.stats.report());
    Ok(())
}

fn describe_trigger(t: &TriggerPlanKind) -> String {
    match t {
        TriggerPlanKind::Stdin => "stdin".into(),
        TriggerPlanKind::Every { period, count } => format!(
            "every {} ms{}",
            period.as_millis(),
            count.map_or_else(String::new, |n| format!(", {n} times"))
        ),
        TriggerPlanKind::Gpio(g) => format!(
            "gpio {} line {} ({}, debounce {} us)",
            g.chip.display(),
            g.line.offset,
            g.edge,
            g.debounce.as_micros()
        ),
    }
}

/// SIGTERM/SIGINT stop (a second SIGINT exits at once), SIGUSR1 reports, SIGHUP reloads.
fn register_signals(controls: &Controls) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    use signal_hook::flag;
    flag::register_conditional_shutdown(SIGINT, 130, controls.stop.clone())?;
    for signal in [SIGTERM, SIGINT] {
        flag::register(signal, controls.stop.clone())?;
    }
    flag::register(SIGUSR1, controls.report.clone())?;
    flag::register(SIGHUP, controls.reload.clone())?;
    Ok(())
}
