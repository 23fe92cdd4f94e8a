//! Preprocessing on the GPU: a frame is copied into pinned host memory, uploaded on one
//! stream, and turned by the [`super::kernels`] into the trunk's `[1, 3, S, S]` input in
//! device memory, with an event between stages for their times.

use std::sync::Arc;

use cudarc::driver::{
    sys, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PinnedHostSlice,
    PushKernelArg,
};
use cudarc::nvrtc::CompileOptions;

use super::device::{driver_error, missing, GpuDevice};
use super::kernels::{
    grid, FrameLayout, LaunchPlan, BLOCK, KERNELS, NVRTC_OPTIONS, PREPROCESS_SOURCE,
};
use crate::error::{Error, Result};
use crate::preprocess::Preprocess;

/// Milliseconds of each stage of one frame, measured by CUDA events on the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StageTimes {
    /// Pinned host memory to the device.
    pub upload_ms: f32,
    /// Camera pixels to RGB.
    pub unpack_ms: f32,
    /// Both resize passes, crop and normalisation.
    pub resize_ms: f32,
    /// From the upload's start to the output's end.
    pub total_ms: f32,
}

/// `n` zeroed elements of device memory on `stream`.
fn zeroed<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    n: usize,
) -> Result<CudaSlice<T>> {
    stream
        .alloc_zeros::<T>(n)
        .map_err(driver_error("allocating the preprocessing buffers"))
}

/// The compiled kernels and the buffers of one frame layout.
pub struct GpuPreprocessor {
    stream: Arc<CudaStream>,
    functions: Vec<CudaFunction>,
    plan: LaunchPlan,
    staging: PinnedHostSlice<u8>,
    frame: CudaSlice<u8>,
    rgb: CudaSlice<u8>,
    rows: CudaSlice<f32>,
    norm: CudaSlice<f32>,
    out: CudaSlice<f32>,
}

impl std::fmt::Debug for GpuPreprocessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuPreprocessor")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

/// The preprocessing kernels compiled by NVRTC for one GPU: once per process, shared by
/// every frame layout's [`GpuPreprocessor`].
#[derive(Debug, Clone)]
pub struct PreprocessKernels {
    device: GpuDevice,
    functions: Vec<CudaFunction>,
}

impl PreprocessKernels {
    /// Compiles [`PREPROCESS_SOURCE`] for `device`'s compute capability and loads its kernels.
    pub fn compile(device: &GpuDevice) -> Result<Self> {
        // SAFETY: only tries to open the NVRTC library.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(missing(
                "cuda",
                "libnvrtc (the CUDA runtime compiler)",
                "install the CUDA toolkit's NVRTC (JetPack ships it under /usr/local/cuda/lib64) \
                 or add its folder to LD_LIBRARY_PATH",
            ));
        }
        let cc = device.compute_capability()?;
        let mut options: Vec<String> = NVRTC_OPTIONS.iter().map(|o| (*o).to_owned()).collect();
        options.push(format!(
            "--gpu-architecture=compute_{}{}",
            cc.major, cc.minor
        ));
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(
            PREPROCESS_SOURCE,
            CompileOptions {
                options,
                ..Default::default()
            },
        )
        .map_err(|e| Error::Gpu {
            what: "compiling the preprocessing kernels with NVRTC".into(),
            message: e.to_string(),
        })?;
        let module = device
            .context()
            .load_module(ptx)
            .map_err(driver_error("loading the preprocessing kernels"))?;
        let functions = KERNELS
            .iter()
            .map(|k| {
                module
                    .load_function(k)
                    .map_err(driver_error(format!("finding kernel {k}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            device: device.clone(),
            functions,
        })
    }
}

impl GpuPreprocessor {
    /// Buffers and a stream for frames of `frame`'s layout, run by `kernels`.
    pub fn new(
        kernels: &PreprocessKernels,
        frame: FrameLayout,
        preprocess: &Preprocess,
    ) -> Result<Self> {
        let refuse = |message: String| Error::Gpu {
            what: "preprocessing on the GPU".into(),
            message,
        };
        frame.format_code().ok_or_else(|| {
            refuse(format!(
                "{:?} frames are converted on the CPU",
                frame.format
            ))
        })?;
        if frame.width == 0 || frame.height == 0 || preprocess.crop == 0 {
            return Err(refuse(format!(
                "a {}x{} frame to a {} px input",
                frame.width, frame.height, preprocess.crop
            )));
        }
        if frame.stride != 0 && frame.stride < frame.row_bytes() {
            return Err(refuse(format!(
                "row stride {} is shorter than a row ({} bytes)",
                frame.stride,
                frame.row_bytes()
            )));
        }
        let functions = kernels.functions.clone();
        let ctx = kernels.device.context();
        let stream = ctx
            .new_stream()
            .map_err(driver_error("creating a stream"))?;
        let plan = LaunchPlan::new(frame, preprocess);
        let alloc = driver_error("allocating the preprocessing buffers");
        // SAFETY: the pinned buffer is fully written before each upload reads it.
        let staging = unsafe { ctx.alloc_pinned::<u8>(frame.frame_bytes()) }.map_err(alloc)?;
        let frame_buf = zeroed::<u8>(&stream, frame.frame_bytes())?;
        let rgb = zeroed::<u8>(&stream, plan.rgb_len())?;
        let rows = zeroed::<f32>(&stream, plan.rows_len())?;
        let out = zeroed::<f32>(&stream, plan.out_len())?;
        let norm = stream
            .clone_htod(&plan.norm)
            .map_err(driver_error("uploading the normalisation"))?;
        Ok(Self {
            stream,
            functions,
            plan,
            staging,
            frame: frame_buf,
            rgb,
            rows,
            norm,
            out,
        })
    }

    /// The launch geometry in use.
    pub fn plan(&self) -> &LaunchPlan {
        &self.plan
    }

    /// Preprocesses one frame (`bytes` in the layout given at creation) into
    /// [`GpuPreprocessor::output`]; returns when the output is complete.
    pub fn run(&mut self, bytes: &[u8]) -> Result<StageTimes> {
        let f = self.plan.frame;
        let need = f.frame_bytes();
        if bytes.len() < need {
            return Err(Error::Gpu {
                what: "preprocessing a frame".into(),
                message: format!(
                    "the frame holds {} bytes, its layout needs {need}",
                    bytes.len()
                ),
            });
        }
        self.staging
            .as_mut_slice()
            .map_err(driver_error("writing the pinned frame buffer"))?
            .copy_from_slice(&bytes[..need]);
        let event = |s: &CudaStream| {
            s.record_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(driver_error("recording an event"))
        };
        let start = event(&self.stream)?;
        self.stream
            .memcpy_htod(&self.staging, &mut self.frame)
            .map_err(driver_error("uploading the frame"))?;
        let uploaded = event(&self.stream)?;

        let (width, height) = (f.width as i32, f.height as i32);
        let stride = f.stride() as i32;
        let code = f.format_code().unwrap_or(0);
        let g = self.plan.geometry;
        let crop = self.plan.crop as i32;
        let (new_width, new_height) = (g.width as i32, g.height as i32);
        let (left, top) = (g.left as i32, g.top as i32);
        let config = |x: u32, y: u32| {
            let (gx, gy) = grid(x, y);
            LaunchConfig {
                grid_dim: (gx, gy, 1),
                block_dim: (BLOCK.0, BLOCK.1, 1),
                shared_mem_bytes: 0,
            }
        };
        let mut unpack = self.stream.launch_builder(&self.functions[0]);
        unpack
            .arg(&self.frame)
            .arg(&code)
            .arg(&width)
            .arg(&height)
            .arg(&stride)
            .arg(&mut self.rgb);
        // SAFETY: the arguments match `adapts_unpack`'s parameters, and the buffers hold
        // what the grid reads and writes (sizes from the same `LaunchPlan`).
        unsafe { unpack.launch(config(f.width, f.height)) }
            .map_err(driver_error("launching a preprocessing kernel"))?;
        let unpacked = event(&self.stream)?;

        let mut rows = self.stream.launch_builder(&self.functions[1]);
        rows.arg(&self.rgb)
            .arg(&width)
            .arg(&height)
            .arg(&new_height)
            .arg(&top)
            .arg(&crop)
            .arg(&mut self.rows);
        // SAFETY: as above, for `adapts_resize_rows`.
        unsafe { rows.launch(config(f.width, self.plan.crop)) }
            .map_err(driver_error("launching a preprocessing kernel"))?;
        let mut cols = self.stream.launch_builder(&self.functions[2]);
        cols.arg(&self.rows)
            .arg(&width)
            .arg(&crop)
            .arg(&new_width)
            .arg(&left)
            .arg(&crop)
            .arg(&self.norm)
            .arg(&mut self.out);
        // SAFETY: as above, for `adapts_resize_cols`.
        unsafe { cols.launch(config(self.plan.crop, self.plan.crop)) }
            .map_err(driver_error("launching a preprocessing kernel"))?;
        let done = event(&self.stream)?;
        done.synchronize()
            .map_err(driver_error("waiting for the frame"))?;
        let ms = |a: &cudarc::driver::CudaEvent, b: &cudarc::driver::CudaEvent| {
            a.elapsed_ms(b)
                .map_err(driver_error("reading an event's time"))
        };
        Ok(StageTimes {
            upload_ms: ms(&start, &uploaded)?,
            unpack_ms: ms(&uploaded, &unpacked)?,
            resize_ms: ms(&unpacked, &done)?,
            total_ms: ms(&start, &done)?,
        })
    }

    /// The last frame's `[1, 3, S, S]` input, in device memory.
    pub fn output(&self) -> &CudaSlice<f32> {
        &self.out
    }

    /// The raw device address of the output, for binding it as a graph input.
    pub fn output_ptr(&self) -> u64 {
        let (ptr, _sync) = self.out.device_ptr(&self.stream);
        ptr
    }

    /// The stream the kernels run on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The last frame's input, copied to the host.
    pub fn download(&self) -> Result<Vec<f32>> {
        self.stream
            .clone_dtoh(&self.out)
            .map_err(driver_error("downloading the preprocessed frame"))
    }
}
