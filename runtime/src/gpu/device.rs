//! The CUDA driver and GPU 0, and the TensorRT library's version: what a plan's key is read
//! from on the device.

use std::path::PathBuf;
use std::sync::Arc;

use cudarc::driver::CudaContext;

use crate::engine::plans::{ComputeCapability, DeviceProbe, TrtVersion};
use crate::error::{EngineUnavailable, Error, Result};

/// An error of the CUDA driver while doing `what`.
pub(crate) fn driver_error(
    what: impl Into<String>,
) -> impl FnOnce(cudarc::driver::DriverError) -> Error {
    let what = what.into();
    move |e| Error::Gpu {
        what,
        message: e.to_string(),
    }
}

/// A missing GPU library, for `engine`.
pub(crate) fn missing(engine: &str, library: &str, hint: &str) -> Error {
    let mut looked_in: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    looked_in.push(PathBuf::from("the ld.so cache (ldconfig)"));
    Error::EngineUnavailable(Box::new(EngineUnavailable {
        engine: engine.into(),
        library: library.into(),
        looked_in,
        hint: hint.into(),
    }))
}

/// A CUDA context on one GPU.
#[derive(Debug, Clone)]
pub struct GpuDevice {
    ctx: Arc<CudaContext>,
}

impl GpuDevice {
    /// Opens GPU `ordinal`. The CUDA driver (`libcuda`) is looked for first: without it,
    /// cudarc would panic when creating the context.
    pub fn open(ordinal: usize) -> Result<Self> {
        // SAFETY: only tries to open the driver library; its initialisers register it.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(missing(
                "cuda",
                "libcuda.so (the CUDA driver)",
                "install the NVIDIA driver (JetPack ships it) or add its folder to LD_LIBRARY_PATH",
            ));
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(driver_error(format!("creating a context on GPU {ordinal}")))?;
        Ok(Self { ctx })
    }

    /// The context.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The GPU's name, e.g. `Orin`.
    pub fn name(&self) -> Result<String> {
        self.ctx
            .name()
            .map_err(driver_error("reading the GPU's name"))
    }

    /// The GPU's compute capability.
    pub fn compute_capability(&self) -> Result<ComputeCapability> {
        let (major, minor) = self
            .ctx
            .compute_capability()
            .map_err(driver_error("reading the compute capability"))?;
        Ok(ComputeCapability {
            major: major.max(0) as u32,
            minor: minor.max(0) as u32,
        })
    }

    /// Total device memory in bytes (on a Jetson, the memory shared with the CPU).
    pub fn total_memory(&self) -> Result<usize> {
        self.ctx
            .total_mem()
            .map_err(driver_error("reading the GPU's memory size"))
    }
}

/// This machine: `libnvinfer`'s version and GPU 0.
#[derive(Debug, Default)]
pub struct SystemDevice;

/// File names of TensorRT's library, newest first.
const NVINFER: [&str; 3] = ["libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"];

impl DeviceProbe for SystemDevice {
    fn tensorrt_version(&self) -> Result<TrtVersion> {
        for name in NVINFER {
            // SAFETY: TensorRT's library; its initialisers only register its plugins.
            let Ok(lib) = (unsafe { libloading::Library::new(name) }) else {
                continue;
            };
            // SAFETY: `getInferLibVersion` is TensorRT's C entry point `int32_t (void)`.
            let version = unsafe {
                lib.get::<unsafe extern "C" fn() -> i32>(b"getInferLibVersion\0")
                    .map(|f| f())
            };
            return match version {
                Ok(v) => TrtVersion::from_lib_version(v).ok_or_else(|| Error::Gpu {
                    what: format!("reading {name}'s version"),
                    message: format!("getInferLibVersion() returned {v}"),
                }),
                Err(e) => Err(Error::Gpu {
                    what: format!("reading {name}'s version"),
                    message: e.to_string(),
                }),
            };
        }
        Err(missing(
            "tensorrt",
            "libnvinfer (TensorRT)",
            "install TensorRT (JetPack ships it) or add its folder to LD_LIBRARY_PATH",
        ))
    }

    fn compute_capability(&self) -> Result<ComputeCapability> {
        GpuDevice::open(0)?.compute_capability()
    }
}
