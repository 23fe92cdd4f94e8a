//! The GPU side of the device: CUDA through cudarc (cargo feature `gpu`, or `gpu-jetpack5`
//! for CUDA 11.4), owned by this module and nothing else.
//!
//! - [`kernels`]: the preprocessing kernels' CUDA C source and their launch geometry
//!   (built everywhere: the tests run the same source on the host against the CPU path).
//! - `device` (GPU builds): the CUDA driver, loaded at run time and checked for before a
//!   context is created (creating one without a driver would panic inside cudarc); the GPU's
//!   name, compute capability and memory; the TensorRT version of `libnvinfer`.
//! - `preprocess` (GPU builds): frames in pinned host memory, one stream, the kernels
//!   compiled by NVRTC, device buffers the trunk reads through ONNX Runtime's I/O binding,
//!   and events for per-stage timing.

pub mod kernels;

#[cfg(feature = "gpu-core")]
mod device;
#[cfg(feature = "gpu-core")]
mod preprocess;

#[cfg(feature = "gpu-core")]
pub use device::{GpuDevice, SystemDevice};
#[cfg(feature = "gpu-core")]
pub use preprocess::{GpuPreprocessor, PreprocessKernels, StageTimes};

use std::path::Path;

use crate::bundle::{GraphPrecision, Manifest};
use crate::engine::choice::Provider;
use crate::engine::plans::{default_store, DeviceKey, PlanCache, PlanPrecision};
use crate::engine::SessionConfig;
use crate::error::Result;

/// This machine's plan key for `precision` on `dla_core`: `libnvinfer`'s version and GPU 0's
/// compute capability. Without a GPU build, the error that says how to get one.
pub fn device_key(precision: PlanPrecision, dla_core: Option<u32>) -> Result<DeviceKey> {
    #[cfg(feature = "gpu-core")]
    {
        use crate::engine::plans::DeviceProbe;
        SystemDevice.key(precision, dla_core)
    }
    #[cfg(not(feature = "gpu-core"))]
    {
        let _ = (precision, dla_core);
        Err(crate::engine::choice::gpu_not_built(Provider::TensorRt))
    }
}

/// `config` with the TensorRT plans a pipeline over the bundle in `bundle_dir` runs with:
/// this device's plans for the precision the pipeline loads, from `store` (default
/// `BUNDLE.plans`). Other engines need no plans and get `config` back as it is.
pub fn with_plans(
    config: SessionConfig,
    bundle_dir: &Path,
    store: Option<&Path>,
    manifest: &Manifest,
    precision: GraphPrecision,
    dla_core: Option<u32>,
) -> Result<SessionConfig> {
    if config.provider != Provider::TensorRt {
        if store.is_some() || dla_core.is_some() {
            log::warn!(
                "--plans and --dla are for --engine tensorrt; ignored on {}",
                config.provider.describe()
            );
        }
        return Ok(config);
    }
    let key = device_key(PlanPrecision::for_graphs(precision, manifest), dla_core)?;
    let root = store.map_or_else(|| default_store(bundle_dir), Path::to_path_buf);
    let plans = PlanCache::open(&root, key)?.with_known_hashes(known_hashes(bundle_dir, manifest));
    log::info!("TensorRT plans: {} ({key})", plans.key_dir().display());
    Ok(SessionConfig {
        plans: Some(plans),
        ..config
    })
}

/// The sha256 of every file the manifest lists, by its path under `bundle_dir` (checked when
/// the bundle was opened).
pub fn known_hashes(bundle_dir: &Path, manifest: &Manifest) -> Vec<(std::path::PathBuf, String)> {
    manifest
        .files
        .iter()
        .map(|f| (bundle_dir.join(&f.path), f.sha256.clone()))
        .collect()
}

/// Refuses a bundle whose graphs in `precision` and, with TensorRT, their plans exceed
/// `board`'s memory budget of `budget_mib`.
pub fn check_memory_budget(
    config: &SessionConfig,
    bundle_dir: &Path,
    manifest: &Manifest,
    precision: GraphPrecision,
    board: &str,
    budget_mib: u64,
) -> Result<()> {
    let plan_bytes = match &config.plans {
        Some(plans) => {
            let files: Vec<String> = manifest
                .graphs()
                .into_iter()
                .map(|g| manifest.graph_file(g, precision))
                .collect();
            plans.plan_bytes(&files)?
        }
        None => 0,
    };
    manifest.check_memory_budget_with_plans(bundle_dir, precision, board, budget_mib, plan_bytes)
}
