//! `adapts-runtime gpu-check`: the GPU preprocessing (NVRTC-compiled kernels, a pinned frame
//! buffer, device buffers on one stream) against the CPU preprocessing on real images: the
//! largest difference of the network inputs and the time per frame of each, measured in the
//! same run. With `--trunk`, the GPU output is also bound as a trunk graph's input through
//! ONNX Runtime's I/O binding (CUDA provider) and the trunk's outputs compared with the ones
//! of the CPU-preprocessed input.

use std::path::PathBuf;

use adapts_boards::PixelFormat;
use adapts_runtime::preprocess::{Normalization, Preprocess};
use anyhow::Context;
use serde::Serialize;

use super::bench::Spread;

/// Arguments of `gpu-check`.
#[derive(Debug, clap::Args)]
pub struct GpuCheckArgs {
    /// Folder of PNG or JPEG images; each is encoded in `--format` as a camera would send it.
    #[arg(long, value_name = "DIR")]
    images: PathBuf,
    /// Camera pixel format: YUYV, UYVY, RGB3 or GREY.
    #[arg(long, default_value = "YUYV", value_parser = parse_format)]
    format: PixelFormat,
    /// Network input side in pixels.
    #[arg(long, default_value_t = 224)]
    size: u32,
    /// Resize to the square input (as bundles do) or, with `crop`, keep the aspect ratio and
    /// take the centre.
    #[arg(long, default_value = "full", value_parser = ["full", "crop"])]
    resize: String,
    /// Timed frames per image on each path.
    #[arg(long, default_value_t = 20)]
    iters: u32,
    /// An ONNX trunk graph (input `image`) to run on the GPU output through I/O binding, with
    /// ONNX Runtime's CUDA provider.
    #[arg(long, value_name = "FILE")]
    trunk: Option<PathBuf>,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<PixelFormat, String> {
    match s.to_ascii_uppercase().as_str() {
        "YUYV" => Ok(PixelFormat::Yuyv),
        "UYVY" => Ok(PixelFormat::Uyvy),
        "RGB3" => Ok(PixelFormat::Rgb3),
        "GREY" => Ok(PixelFormat::Grey),
        _ => Err(format!(
            "`{s}`: the GPU unpacks YUYV, UYVY, RGB3 and GREY (MJPG and NV12 are decoded on the CPU)"
        )),
    }
}

/// What `gpu-check` reports.
#[derive(Debug, Serialize)]
struct Report {
    gpu: String,
    compute_capability: String,
    format: String,
    size: u32,
    images: usize,
    /// Largest |GPU - CPU| over every value of every image.
    max_abs_diff: f32,
    /// Values whose bits differ.
    values_differing: usize,
    values: usize,
    gpu_total_ms: Spread,
    gpu_upload_ms: Spread,
    gpu_unpack_ms: Spread,
    gpu_resize_ms: Spread,
    /// The CPU path on the same frames: pixel conversion and preprocessing.
    cpu_ms: Spread,
    /// GPU p50 / CPU p50.
    ratio_p50: f64,
    trunk: Option<TrunkCheck>,
}

/// The trunk on the GPU-preprocessed input (bound on the device) against the CPU one.
#[derive(Debug, Serialize)]
struct TrunkCheck {
    graph: PathBuf,
    max_abs_diff: f32,
    bound_ms: Spread,
    host_input_ms: Spread,
}

/// Runs the check and prints the report.
pub fn handle(args: &GpuCheckArgs) -> anyhow::Result<()> {
    let preprocess = if args.resize == "crop" {
        Preprocess::imagenet_eval(args.size, Normalization::Imagenet)
    } else {
        Preprocess::full_frame(args.size, Normalization::Imagenet)
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&args.images)
        .with_context(|| format!("cannot read {}", args.images.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    paths.sort();
    anyhow::ensure!(
        !paths.is_empty(),
        "no PNG or JPEG images in {}",
        args.images.display()
    );
    let report = check(args, &preprocess, &paths)?;
    let text = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.json {
        adapts_runtime::fsutil::write_atomic_readable(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("{text}");
    Ok(())
}

#[cfg(not(feature = "gpu-core"))]
fn check(_: &GpuCheckArgs, _: &Preprocess, _: &[PathBuf]) -> anyhow::Result<Report> {
    Err(
        adapts_runtime::gpu::device_key(adapts_runtime::plans::PlanPrecision::Fp16, None)
            .expect_err("no GPU in this build")
            .into(),
    )
}

#[cfg(feature = "gpu-core")]
fn check(
    args: &GpuCheckArgs,
    preprocess: &Preprocess,
    paths: &[PathBuf],
) -> anyhow::Result<Report> {
    use adapts_runtime::camera::convert::to_rgb;
    use adapts_runtime::gpu::kernels::encode_frame;
    use adapts_runtime::gpu::{GpuDevice, GpuPreprocessor, PreprocessKernels};
    use std::time::Instant;

    let device = GpuDevice::open(0)?;
    let cc = device.compute_capability()?;
    let kernels = PreprocessKernels::compile(&device)?;
    let mut trunk = match &args.trunk {
        Some(path) => {
            let config = adapts_runtime::SessionConfig::default()
                .on_engine(adapts_runtime::EngineKind::Cuda)?;
            Some(adapts_runtime::OrtSession::load(path, &config)?)
        }
        None => None,
    };
    let (mut max_abs, mut differing, mut values) = (0f32, 0usize, 0usize);
    let (mut total, mut upload, mut unpack, mut resize, mut cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut trunk_diff, mut bound_ms, mut host_ms) = (0f32, Vec::new(), Vec::new());
    for path in paths {
        let img = adapts_runtime::preprocess::load_rgb(path)?;
        let (frame, bytes) =
            encode_frame(&img, args.format, 0).expect("the format parses to a GPU format");
        let mut gpu = GpuPreprocessor::new(&kernels, frame, preprocess)?;
        let mut want = Vec::new();
        for _ in 0..args.iters.max(1) {
            let start = Instant::now();
            let rgb = to_rgb(
                frame.format,
                frame.width,
                frame.height,
                frame.stride,
                &bytes,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            want = preprocess.apply(&rgb);
            cpu.push(start.elapsed().as_secs_f64() * 1e3);
            let t = gpu.run(&bytes)?;
            total.push(f64::from(t.total_ms));
            upload.push(f64::from(t.upload_ms));
            unpack.push(f64::from(t.unpack_ms));
            resize.push(f64::from(t.resize_ms));
        }
        let got = gpu.download()?;
        for (a, b) in want.iter().zip(&got) {
            max_abs = max_abs.max((a - b).abs());
            differing += usize::from(a.to_bits() != b.to_bits());
        }
        values += got.len();
        if let Some(session) = trunk.as_mut() {
            let side = preprocess.crop as usize;
            let shape = [1, 3, side, side];
            let input = adapts_runtime::Tensor::new(shape.to_vec(), want.clone())?;
            let start = Instant::now();
            let on_host = session.run(&[("image", &input)])?;
            host_ms.push(start.elapsed().as_secs_f64() * 1e3);
            let start = Instant::now();
            // SAFETY: the output buffer holds `shape`'s values on GPU 0 and lives across the
            // call; `run` returned after the stream finished writing it.
            let bound = unsafe { session.run_device_input("image", gpu.output_ptr(), &shape) }?;
            bound_ms.push(start.elapsed().as_secs_f64() * 1e3);
            for ((_, a), (_, b)) in on_host.iter().zip(&bound) {
                for (x, y) in a.data.iter().zip(&b.data) {
                    trunk_diff = trunk_diff.max((x - y).abs());
                }
            }
        }
    }
    let gpu_total = Spread::of(&mut total);
    let cpu_ms = Spread::of(&mut cpu);
    Ok(Report {
        gpu: device.name()?,
        compute_capability: cc.to_string(),
        format: format!("{:?}", args.format),
        size: args.size,
        images: paths.len(),
        max_abs_diff: max_abs,
        values_differing: differing,
        values,
        ratio_p50: gpu_total.p50 / cpu_ms.p50,
        gpu_total_ms: gpu_total,
        gpu_upload_ms: Spread::of(&mut upload),
        gpu_unpack_ms: Spread::of(&mut unpack),
        gpu_resize_ms: Spread::of(&mut resize),
        cpu_ms,
        trunk: args.trunk.as_ref().map(|graph| TrunkCheck {
            graph: graph.clone(),
            max_abs_diff: trunk_diff,
            bound_ms: Spread::of(&mut bound_ms),
            host_input_ms: Spread::of(&mut host_ms),
        }),
    })
}
