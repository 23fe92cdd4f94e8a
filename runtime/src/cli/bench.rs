//! `adapts-runtime bench`: steady-state latency of the full pipeline and, in the same run and
//! through the same engine, of the bare trunk (the trunk graph and the later stages, the
//! teacher path alone), with their ratio and the peak resident memory.
//!
//! The ratio is what a product costs on top of the shared trunk per frame: routing, the
//! product's adapters or map, and the head. Each pipeline frame is judged as a named product
//! (the products in turn; the routing distance is still computed), so that the product's
//! graphs run on every frame: a frame routed to `unknown_product` would skip them and make
//! the pipeline look cheaper than it is. Both run the same frames after a warm-up each, then
//! interleaved frame by frame (alternating which goes first), so that drift in the machine's
//! speed falls on both alike; p50, p99 and max are nearest-rank percentiles of per-frame wall
//! time. Peak RSS is read after the pipeline's warm-up, before the bare trunk is loaded.
//!
//! Like a station, the pipeline answers with the score alone: under local scoring the
//! full-resolution map is made only for a rejected part's heatmap, after the answer.
//! `--full-maps` times it on every frame, as an evaluation that keeps every map would.

use std::path::PathBuf;
use std::time::Instant;

use adapts_runtime::bundle::manifest::{FEATURES_IN, FEATURES_OUT, IMAGE};
use adapts_runtime::bundle::{Bundle, GraphPrecision, Manifest};
use adapts_runtime::pipeline::{Inference, Pipeline, Reason, Verdict};
use adapts_runtime::preprocess::Preprocess;
use adapts_runtime::process::peak_rss_mb;
use adapts_runtime::source::{DirSource, FrameSource};
use adapts_runtime::{
    ort_runtime, BoxedRunner, Engine, EngineKind, OrtEngine, SessionConfig, Tensor,
};
use anyhow::Context;
use image::RgbImage;
use serde::Serialize;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Bundle directory written by adapts-builder.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Frames to judge, round-robin (default: one synthetic frame at the input size).
    #[arg(long, value_name = "DIR")]
    images: Option<PathBuf>,
    /// Timed frames per loop.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    iters: u32,
    /// Untimed frames before each loop.
    #[arg(long, default_value_t = 20)]
    warmup: u32,
    /// Threads per graph run (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Graph precision: auto (the INT8 twins where the bundle has them), fp32 or int8.
    /// With an INT8 trunk, the FP32 bare trunk is timed as well, in the same loop.
    #[arg(long, default_value = "auto")]
    precision: GraphPrecision,
    /// Engine: cpu, cuda, tensorrt or auto (see `run --help`).
    #[arg(long, default_value = "cpu")]
    engine: EngineKind,
    /// Compute every frame's full-resolution anomaly map, as `run --heatmaps` does for a
    /// rejected frame (default: the score alone, as a station answers).
    #[arg(long)]
    full_maps: bool,
    /// Print the figures as JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    plans: super::PlanStoreArgs,
}

/// Percentiles of one set of timings, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Spread {
    /// Nearest-rank percentiles of `ms` (sorted in place); zeros when empty.
    pub fn of(ms: &mut [f64]) -> Self {
        if ms.is_empty() {
            return Self {
                p50: 0.0,
                p99: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Self {
            p50: rank(0.5),
            p99: rank(0.99),
            max: ms[ms.len() - 1],
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    bundle: PathBuf,
    products: usize,
    frames: usize,
    iters: u32,
    pipeline_ms: Spread,
    stages_ms: StagesMs,
    trunk_ms: Spread,
    /// Precision the pipeline and the bare trunk ran in.
    precision: GraphPrecision,
    /// Whether the trunk graph ran as its INT8 twin.
    int8_trunk: bool,
    /// Whether each frame's full-resolution map was computed (`--full-maps`).
    full_maps: bool,
    /// The FP32 bare trunk, timed in the same loop when the trunk ran in INT8.
    fp32_trunk_ms: Option<Spread>,
    /// Bare trunk p50 / FP32 bare trunk p50.
    trunk_int8_over_fp32_p50: Option<f64>,
    /// Pipeline p50 / bare-trunk p50.
    ratio_p50: f64,
    /// Pipeline p99 / bare-trunk p99.
    ratio_p99: f64,
    frames_per_second: f64,
    peak_rss_mb: Option<f64>,
}

#[derive(Debug, Serialize)]
struct StagesMs {
    preprocess: Spread,
    trunk: Spread,
    route: Spread,
    adapters: Spread,
    head: Spread,
}

fn frames(args: &BenchArgs, size: u32) -> anyhow::Result<Vec<RgbImage>> {
    let Some(dir) = &args.images else {
        // A deterministic textured frame: no image decoding in the loop either way.
        return Ok(vec![RgbImage::from_fn(size, size, |x, y| {
            let v = ((x * 31 + y * 17) % 251) as u8;
            image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(91)])
        })]);
    };
    let mut source = DirSource::open(dir)?;
    let mut out = Vec::new();
    while let Some(item) = source.next_frame() {
        out.push(item.map_err(|e| anyhow::anyhow!("{}", e))?.image);
    }
    anyhow::ensure!(!out.is_empty(), "no images under {}", dir.display());
    Ok(out)
}

/// Times the pipeline, then the bare trunk, on the same frames.
pub fn handle(args: &BenchArgs) -> anyhow::Result<()> {
    let config = SessionConfig {
        intra_op_threads: args.threads.map(usize::from),
        ..SessionConfig::default()
    }
    .on_engine(args.engine)?;
    let bundle = Bundle::open(&args.bundle)?;
    let m = bundle.manifest().clone();
    let config = adapts_runtime::gpu::with_plans(
        config,
        bundle.dir(),
        args.plans.store.as_deref(),
        &m,
        args.precision,
        args.plans.dla,
    )?;
    ort_runtime()?;
    // TensorRT's plans are of one precision: the FP32 trunk has none beside INT8 plans.
    let plans_of_one_precision = config.plans.is_some();
    let engine = OrtEngine::new(config);
    let mut pipeline = Pipeline::load(bundle.dir(), &m, &engine, args.precision)?;
    pipeline.set_full_maps(args.full_maps);
    let images = frames(args, m.trunk.input_size)?;

    let total = (args.warmup + args.iters) as usize;
    let products: Vec<String> = m.products.iter().map(|p| p.name.clone()).collect();
    let mut pipeline_frame = |i: usize| -> anyhow::Result<Inference> {
        let product = products.get(i % products.len().max(1)).map(String::as_str);
        let r = pipeline.infer(&images[i % images.len()], product);
        if let Some(Reason::Error(message)) = &r.reason {
            anyhow::bail!("the pipeline failed on a frame: {message}");
        }
        Ok(r)
    };
    for i in 0..args.warmup as usize {
        pipeline_frame(i)?;
    }
    // The pipeline's own memory, before the bare trunk is loaded beside it.
    let rss = peak_rss_mb();

    // The bare trunk: the teacher path alone, through the same engine, in the same precision;
    // and in FP32 beside it when that is a different graph.
    let int8_trunk = m.graph_file(&m.trunk_graph, args.precision) != m.trunk_graph;
    let mut bare = BareTrunk::load(&engine, &bundle, &m, args.precision)?;
    let mut bare_fp32 = if int8_trunk && plans_of_one_precision {
        log::info!(
            "bench: the FP32 trunk is not timed beside TensorRT's INT8 plans; run bench with \
             --precision fp32 on fp16 plans (`plan --precision fp16`) for it"
        );
        None
    } else if int8_trunk {
        Some(BareTrunk::load(&engine, &bundle, &m, GraphPrecision::Fp32)?)
    } else {
        None
    };
    let preprocess = Preprocess::full_frame(m.trunk.input_size, m.trunk.normalization);
    let s = m.trunk.input_size as usize;
    let inputs: Vec<Tensor> = images
        .iter()
        .map(|img| Tensor::new(vec![1, 3, s, s], preprocess.apply(img)))
        .collect::<adapts_runtime::Result<_>>()?;
    for i in 0..args.warmup as usize {
        bare.run(&inputs[i % inputs.len()])?;
        if let Some(b) = &mut bare_fp32 {
            b.run(&inputs[i % inputs.len()])?;
        }
    }

    // Timed: the two interleaved frame by frame, in alternating order, so that whatever else
    // the machine does falls on both alike.
    let (mut all, mut pre, mut trunk, mut route, mut adapters, mut head, mut bare_ms) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut fp32_ms = Vec::new();
    let mut pass = 0usize;
    for i in args.warmup as usize..total {
        let input = &inputs[i % inputs.len()];
        let (r, b) = if i % 2 == 0 {
            let r = pipeline_frame(i)?;
            (r, bare.run(input)?)
        } else {
            let b = bare.run(input)?;
            (pipeline_frame(i)?, b)
        };
        if let Some(f) = &mut bare_fp32 {
            fp32_ms.push(f.run(input)?);
        }
        pass += usize::from(r.verdict == Verdict::Pass);
        let l = r.latency;
        all.push(l.total_ms);
        pre.push(l.preprocess_ms);
        trunk.push(l.trunk_ms);
        route.push(l.route_ms);
        adapters.push(l.adapters_ms);
        head.push(l.head_ms);
        bare_ms.push(b);
    }
    log::debug!("{pass} of {} timed frames passed", args.iters);

    let pipeline_ms = Spread::of(&mut all);
    let trunk_ms = Spread::of(&mut bare_ms);
    let fp32_trunk_ms = bare_fp32.is_some().then(|| Spread::of(&mut fp32_ms));
    let report = Report {
        bundle: args.bundle.clone(),
        products: m.products.len(),
        frames: images.len(),
        iters: args.iters,
        pipeline_ms,
        stages_ms: StagesMs {
            preprocess: Spread::of(&mut pre),
            trunk: Spread::of(&mut trunk),
            route: Spread::of(&mut route),
            adapters: Spread::of(&mut adapters),
            head: Spread::of(&mut head),
        },
        trunk_ms,
        precision: args.precision,
        int8_trunk,
        full_maps: args.full_maps,
        fp32_trunk_ms,
        trunk_int8_over_fp32_p50: fp32_trunk_ms.map(|f| trunk_ms.p50 / f.p50),
        ratio_p50: pipeline_ms.p50 / trunk_ms.p50,
        ratio_p99: pipeline_ms.p99 / trunk_ms.p99,
        frames_per_second: 1e3 / pipeline_ms.mean,
        peak_rss_mb: rss,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let row = |name: &str, s: &Spread| {
        println!(
            "{name:<12} p50 {:>8.3}  p99 {:>8.3}  max {:>8.3}  mean {:>8.3} ms",
            s.p50, s.p99, s.max, s.mean
        )
    };
    println!(
        "bundle {} ({} products), {} timed frames per loop{}",
        args.bundle.display(),
        report.products,
        args.iters,
        if args.full_maps { ", full maps" } else { "" }
    );
    row("pipeline", &report.pipeline_ms);
    row("  preprocess", &report.stages_ms.preprocess);
    row("  trunk", &report.stages_ms.trunk);
    row("  route", &report.stages_ms.route);
    row("  adapters", &report.stages_ms.adapters);
    row("  head", &report.stages_ms.head);
    row(
        if int8_trunk {
            "bare trunk (INT8)"
        } else {
            "bare trunk"
        },
        &report.trunk_ms,
    );
    if let (Some(f), Some(ratio)) = (&report.fp32_trunk_ms, report.trunk_int8_over_fp32_p50) {
        row("bare trunk (FP32)", f);
        println!("INT8 trunk / FP32 trunk: {ratio:.3}x at p50");
    }
    println!(
        "pipeline / bare trunk: {:.3}x at p50, {:.3}x at p99; {:.1} frames/s; peak RSS {}",
        report.ratio_p50,
        report.ratio_p99,
        report.frames_per_second,
        report
            .peak_rss_mb
            .map_or("-".to_string(), |m| format!("{m:.1} MB"))
    );
    Ok(())
}

/// The teacher path alone: the trunk graph and the later stages, in one precision.
struct BareTrunk {
    graphs: Vec<BoxedRunner>,
    first: String,
}

impl BareTrunk {
    fn load(
        engine: &OrtEngine,
        bundle: &Bundle,
        m: &Manifest,
        precision: GraphPrecision,
    ) -> anyhow::Result<Self> {
        let mut graphs =
            vec![engine.load(&bundle.file_path(&m.graph_file(&m.trunk_graph, precision)))?];
        for stage in &m.later_stages {
            graphs.push(engine.load(&bundle.file_path(&m.graph_file(&stage.graph, precision)))?);
        }
        Ok(Self {
            graphs,
            first: m.trunk_output().unwrap_or_default().to_string(),
        })
    }

    /// One frame; milliseconds.
    fn run(&mut self, input: &Tensor) -> anyhow::Result<f64> {
        let start = Instant::now();
        let outputs = self.graphs[0].run(&[(IMAGE, input)])?;
        let mut feature = take(outputs, &self.first)?;
        for g in self.graphs.iter_mut().skip(1) {
            feature = take(g.run(&[(FEATURES_IN, &feature)])?, FEATURES_OUT)?;
        }
        Ok(start.elapsed().as_secs_f64() * 1e3)
    }
}

fn take(outputs: Vec<(String, Tensor)>, name: &str) -> anyhow::Result<Tensor> {
    outputs
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .with_context(|| format!("the graph has no output `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = Spread::of(&mut v);
        assert_eq!((s.p50, s.p99, s.max), (50.0, 99.0, 100.0));
        assert!((s.mean - 50.5).abs() < 1e-12);
        let s = Spread::of(&mut [7.0]);
        assert_eq!((s.p50, s.p99, s.max), (7.0, 7.0, 7.0));
        assert_eq!(Spread::of(&mut []).max, 0.0);
    }
}
