//! The ONNX Runtime engine: one [`OrtSession`] per ONNX graph, run on the CPU.
//!
//! Inputs are checked against the graph's declaration before ONNX Runtime sees them, so a
//! wrong name or shape is reported with the model path, the tensor name and both shapes.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::{Outlet, TensorRef, ValueType};

use super::choice::Provider;
use super::{GraphOptimization, SessionConfig, TensorInfo};
use crate::error::{Error, Result};
mod env;
mod error;
mod metadata;

pub use env::{
    ort_runtime, resolve_library, resolve_library_path, OrtRuntime, DEFAULT_LIBRARY, ORT_DYLIB_ENV,
};
pub use error::OrtError;

use crate::tensor::Tensor;

/// Registers the GPU execution provider, failing (not falling back) when ONNX Runtime cannot
/// create it; the CPU needs nothing.
#[cfg(feature = "gpu-core")]
fn with_provider(
    builder: ort::session::builder::SessionBuilder,
    provider: Provider,
    plans: Option<&super::plans::PlanCache>,
    path: &Path,
) -> Result<ort::session::builder::SessionBuilder> {
    use ort::ep;
    let providers = match provider {
        Provider::Cpu => return Ok(builder),
        Provider::Cuda => vec![ep::CUDA::default().build().error_on_failure()],
        Provider::TensorRt => vec![
            tensorrt(plans, path)?.build().error_on_failure(),
            ep::CUDA::default().build().error_on_failure(),
        ],
    };
    builder.with_execution_providers(providers).map_err(|e| {
        Error::from(OrtError::ModelLoad {
            path: path.to_path_buf(),
            source: e.into(),
        })
    })
}

/// TensorRT's options for the graph at `path`: its engine cache and the shared timing cache
/// in the plan store, FP16 kernels allowed, INT8 for INT8 plans (the graphs' Q/DQ pairs give
/// the scales: explicit quantization, no calibration table), and the DLA core with GPU
/// fallback when the plans are for one. Input shapes are fixed but for the batch, which the
/// pipeline keeps at 1, so the engine is built for the shapes of the first run.
#[cfg(feature = "gpu-core")]
fn tensorrt(plans: Option<&super::plans::PlanCache>, path: &Path) -> Result<ort::ep::TensorRT> {
    let trt = ort::ep::TensorRT::default().with_device_id(0);
    let Some(plans) = plans else {
        return Ok(trt);
    };
    let dir = plans.graph_dir(path)?;
    let key = plans.key();
    let mut trt = trt
        .with_engine_cache(true)
        .with_engine_cache_path(dir.display())
        .with_timing_cache(true)
        .with_timing_cache_path(plans.timing_dir().display())
        .with_fp16(true)
        .with_int8(key.precision == super::plans::PlanPrecision::Int8);
    if let Some(core) = key.dla_core {
        trt = trt.with_dla(true).with_dla_core(core);
    }
    Ok(trt)
}

/// Without the `gpu` feature only the CPU exists; [`super::choice::resolve`] refuses the rest
/// before a session is built.
#[cfg(not(feature = "gpu-core"))]
fn with_provider(
    builder: ort::session::builder::SessionBuilder,
    provider: Provider,
    _plans: Option<&super::plans::PlanCache>,
    _path: &Path,
) -> Result<ort::session::builder::SessionBuilder> {
    match provider {
        Provider::Cpu => Ok(builder),
        other => Err(super::choice::gpu_not_built(other)),
    }
}

/// Graphs that record fewer multiply-accumulates per image than this (in their
/// `adapts.macs_per_image` metadata) run on one thread unless the threads are set: measured
/// on 2 cores, a 5 M-MAC product map took 0.11 ms on one thread against 0.19 ms on two, the
/// 1.6 M-MAC head 0.04 against 0.07 ms, and a 36 M-MAC map the same on both.
pub const LIGHT_GRAPH_MACS: u64 = 16_000_000;

/// The multiply-accumulates per image the builder recorded in the graph file's metadata.
fn macs_per_image(path: &Path) -> Option<u64> {
    metadata::metadata_value(path, crate::bundle::manifest::MACS_KEY)?
        .parse()
        .ok()
}

/// A session for the graph at `path` with `threads` operator threads (`None`: ONNX
/// Runtime's choice). With `fold_weights`, ONNX Runtime's Q/DQ fusions are off, so that it
/// folds the graph's `DequantizeLinear` weights into float constants when the session is
/// built instead of dequantizing them on every run (see
/// [`metadata::weights_only_quantized`]).
fn build(
    path: &Path,
    config: &SessionConfig,
    threads: Option<usize>,
    fold_weights: bool,
) -> Result<Session> {
    let runtime = ort_runtime()?;
    let load_error = |source: ort::Error| {
        Error::from(OrtError::ModelLoad {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut builder = Session::builder(runtime.environment())
        .map_err(load_error)?
        .with_optimization_level(optimization_level(config.optimization))
        .map_err(|e| load_error(e.into()))?;
    if !config.intra_op_spinning {
        builder = builder
            .with_intra_op_spinning(false)
            .map_err(|e| load_error(e.into()))?;
    }
    if let Some(threads) = threads {
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| load_error(e.into()))?;
    }
    if fold_weights {
        builder = builder
            .with_quant_qdq(false)
            .map_err(|e| load_error(e.into()))?;
    }
    builder = with_provider(builder, config.provider, config.plans.as_ref(), path)?;
    builder.commit_from_file(path).map_err(load_error)
}

/// An ONNX graph loaded into ONNX Runtime, ready to run.
///
/// ```no_run
/// # fn main() -> adapts_runtime::Result<()> {
/// use std::path::Path;
/// use adapts_runtime::{OrtSession, SessionConfig, Tensor};
///
/// let mut session = OrtSession::load(Path::new("trunk.onnx"), &SessionConfig::default())?;
/// let image = Tensor::zeros(vec![1, 3, 224, 224]);
/// for (name, tensor) in session.run(&[("image", &image)])? {
///     println!("{name}: {:?}", tensor.shape);
/// }
/// # Ok(())
/// # }
/// ```
pub struct OrtSession {
    session: Session,
    /// Operator threads the session was built with (`None`: ONNX Runtime's choice).
    threads: Option<usize>,
    /// Whether the graph's INT8 weights were folded to float when the session was built.
    folded_weights: bool,
    model: PathBuf,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
}

impl std::fmt::Debug for OrtSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtSession")
            .field("model", &self.model)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl OrtSession {
    /// Loads the ONNX graph at `path`, loading ONNX Runtime first if this process has not yet.
    pub fn load(path: &Path, config: &SessionConfig) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::ModelNotFound {
                path: path.to_path_buf(),
            });
        }
        let runtime = ort_runtime()?;
        // A graph of few multiply-accumulates (a product map, the head) runs faster on one
        // thread: waking the pool for each of its small operators costs more than they take.
        let light = config.intra_op_threads.is_none()
            && config.provider == Provider::Cpu
            && macs_per_image(path).is_some_and(|m| m < LIGHT_GRAPH_MACS);
        let threads = if light {
            Some(1)
        } else {
            config.intra_op_threads
        };
        // INT8 weights of a float graph (a product map stored compactly) are dequantized once,
        // when the session is built: on a product map this took a fifth of every run. On the
        // CPU only: TensorRT builds its plans from the graph as stored, and a plan store built
        // before must keep matching it.
        let fold_weights = config.provider == Provider::Cpu
            && metadata::weights_only_quantized(path).unwrap_or(false);
        let session = build(path, config, threads, fold_weights)?;
        let inputs = session.inputs().iter().map(tensor_info).collect();
        let outputs = session.outputs().iter().map(tensor_info).collect();
        log::debug!(
            "loaded {} on ONNX Runtime {} ({config:?}{}{})",
            path.display(),
            runtime.version(),
            if light {
                ", one thread: a light graph"
            } else {
                ""
            },
            if fold_weights {
                ", INT8 weights folded to float"
            } else {
                ""
            }
        );
        Ok(Self {
            session,
            threads,
            folded_weights: fold_weights,
            model: path.to_path_buf(),
            inputs,
            outputs,
        })
    }

    /// The operator threads the session runs with: the configured number, one for a light
    /// graph (see [`LIGHT_GRAPH_MACS`]), or `None` for ONNX Runtime's choice.
    pub fn intra_op_threads(&self) -> Option<usize> {
        self.threads
    }

    /// Whether the graph's INT8 weights were dequantized once, when the session was built (a
    /// float graph whose only quantization is of its weights), rather than on every run.
    pub fn folded_weights(&self) -> bool {
        self.folded_weights
    }

    /// The model file this session was loaded from.
    pub fn model_path(&self) -> &Path {
        &self.model
    }

    /// Graph inputs in declaration order.
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    /// Graph outputs in declaration order.
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// Input names in declaration order.
    pub fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|i| i.name.as_str()).collect()
    }

    /// Output names in declaration order.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(|o| o.name.as_str()).collect()
    }

    /// Runs the graph. Every graph input must be given exactly once, by name, in any order;
    /// every output is returned by name, in the graph's declaration order.
    pub fn run(&mut self, inputs: &[(&str, &Tensor)]) -> Result<Vec<(String, Tensor)>> {
        self.check_inputs(inputs)?;
        let mut values: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            Vec::with_capacity(inputs.len());
        for (name, tensor) in inputs {
            let value =
                TensorRef::from_array_view((tensor.shape.as_slice(), tensor.data.as_slice()))
                    .map_err(|source| {
                        Error::from(OrtError::Run {
                            model: self.model.clone(),
                            source,
                        })
                    })?;
            values.push((Cow::Borrowed(*name), value.into()));
        }

        let model = &self.model;
        let outputs = self.session.run(values).map_err(|source| {
            Error::from(OrtError::Run {
                model: model.clone(),
                source,
            })
        })?;
        host_outputs(model, &outputs)
    }

    /// Runs the graph with its input `name` read from CUDA memory on GPU 0 (`shape`, f32),
    /// bound through ONNX Runtime's I/O binding, so a frame preprocessed on the GPU is not
    /// copied back first. The outputs come back to the host. Sessions of the CUDA or
    /// TensorRT provider only.
    ///
    /// # Safety
    /// `ptr` must address `shape`'s number of f32 values on GPU 0, written before the call
    /// (the writing stream synchronised) and alive until it returns.
    #[cfg(feature = "gpu-core")]
    pub unsafe fn run_device_input(
        &mut self,
        name: &str,
        ptr: u64,
        shape: &[usize],
    ) -> Result<Vec<(String, Tensor)>> {
        use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
        let model = self.model.clone();
        let fail = |source: ort::Error| {
            Error::from(OrtError::Run {
                model: model.clone(),
                source,
            })
        };
        let device = MemoryInfo::new(
            AllocationDevice::CUDA,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(fail)?;
        // SAFETY: the caller guarantees the device buffer (see above).
        let tensor = unsafe {
            ort::value::TensorRefMut::<f32>::from_raw(device, ptr as *mut _, shape.to_vec().into())
        }
        .map_err(fail)?;
        let mut binding = self.session.create_binding().map_err(fail)?;
        binding.bind_input(name, &tensor).map_err(fail)?;
        let host = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(fail)?;
        for output in &self.outputs {
            binding
                .bind_output_to_device(output.name.as_str(), &host)
                .map_err(fail)?;
        }
        let outputs = self.session.run_binding(&binding).map_err(fail)?;
        host_outputs(&model, &outputs)
    }

    /// Checks names, completeness, element types and shapes of the inputs to a run.
    fn check_inputs(&self, inputs: &[(&str, &Tensor)]) -> Result<()> {
        let mut seen = HashSet::with_capacity(inputs.len());
        for (name, tensor) in inputs {
            let info = self
                .inputs
                .iter()
                .find(|i| i.name == *name)
                .ok_or_else(|| Error::UnknownInput {
                    model: self.model.clone(),
                    name: (*name).to_owned(),
                    known: self.inputs.iter().map(|i| i.name.clone()).collect(),
                })?;
            if !seen.insert(*name) {
                return Err(Error::DuplicateInput {
                    model: self.model.clone(),
                    name: (*name).to_owned(),
                });
            }
            if info.element_type != "f32" {
                return Err(Error::UnsupportedType {
                    model: self.model.clone(),
                    role: "input",
                    name: info.name.clone(),
                    found: info.element_type.clone(),
                });
            }
            tensor.check_len()?;
            if !info.accepts(&tensor.shape) {
                return Err(Error::InputShape {
                    model: self.model.clone(),
                    name: info.name.clone(),
                    expected: info.shape.clone(),
                    found: tensor.shape.clone(),
                });
            }
        }
        if let Some(missing) = self.inputs.iter().find(|i| !seen.contains(i.name.as_str())) {
            return Err(Error::MissingInput {
                model: self.model.clone(),
                name: missing.name.clone(),
            });
        }
        Ok(())
    }
}

/// Every output of a run, copied into host tensors by name.
fn host_outputs(
    model: &Path,
    outputs: &ort::session::SessionOutputs<'_>,
) -> Result<Vec<(String, Tensor)>> {
    outputs
        .iter()
        .map(|(name, value)| {
            let (shape, data) =
                value
                    .try_extract_tensor::<f32>()
                    .map_err(|_| Error::UnsupportedType {
                        model: model.to_path_buf(),
                        role: "output",
                        name: name.to_owned(),
                        found: value.dtype().to_string(),
                    })?;
            // ONNX Runtime reports concrete (non-negative) dimensions for computed values;
            // `Tensor::new` catches any disagreement with the data length.
            let shape = shape
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(0))
                .collect();
            Ok((name.to_owned(), Tensor::new(shape, data.to_vec())?))
        })
        .collect()
}

fn optimization_level(level: GraphOptimization) -> GraphOptimizationLevel {
    match level {
        GraphOptimization::Disabled => GraphOptimizationLevel::Disable,
        GraphOptimization::Basic => GraphOptimizationLevel::Level1,
        GraphOptimization::Extended => GraphOptimizationLevel::Level2,
        GraphOptimization::All => GraphOptimizationLevel::All,
    }
}

/// Describes a graph input or output; non-tensor values (sequences, maps) keep an empty shape
/// and their type name, and are refused when run.
fn tensor_info(outlet: &Outlet) -> TensorInfo {
    let dtype = outlet.dtype();
    let (element_type, shape) = match dtype {
        ValueType::Tensor { ty, shape, .. } => (
            ty.to_string(),
            shape.iter().map(|&d| usize::try_from(d).ok()).collect(),
        ),
        other => (other.to_string(), Vec::new()),
    };
    TensorInfo {
        name: outlet.name().to_owned(),
        element_type,
        shape,
    }
}

#[cfg(all(test, feature = "gpu-core"))]
mod tensorrt_options {
    //! The TensorRT provider options a session gets from the plan store (printed through the
    //! provider's `Debug`, which lists every option by ONNX Runtime's key).

    use super::tensorrt;
    use crate::engine::plans::{
        ComputeCapability, DeviceKey, PlanCache, PlanPrecision, TrtVersion,
    };

    fn options(precision: PlanPrecision, dla_core: Option<u32>) -> (String, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        let graph = tmp.path().join("map.onnx");
        std::fs::write(&graph, b"graph").unwrap();
        let key = DeviceKey {
            tensorrt: TrtVersion::from_lib_version(8502).unwrap(),
            compute_capability: ComputeCapability { major: 7, minor: 2 },
            precision,
            dla_core,
        };
        let cache = PlanCache::for_build(&tmp.path().join("b.plans"), key, false).unwrap();
        let text = format!("{:?}", tensorrt(Some(&cache), &graph).unwrap());
        (text, tmp)
    }

    /// Whether option `key` is `value` (flags print as `true`/`false` or `1`/`0`).
    fn has(text: &str, key: &str, value: &str) -> bool {
        let alike: &[&str] = match value {
            "1" => &["1", "true"],
            "0" => &["0", "false"],
            v => &[v],
        };
        alike
            .iter()
            .any(|v| text.contains(&format!("\"{key}\": \"{v}\"")))
    }

    #[test]
    fn int8_plans_on_a_dla_core_set_cache_timing_precision_and_dla() {
        let (text, tmp) = options(PlanPrecision::Int8, Some(1));
        for (key, value) in [
            ("trt_engine_cache_enable", "1"),
            ("trt_timing_cache_enable", "1"),
            ("trt_fp16_enable", "1"),
            ("trt_int8_enable", "1"),
            ("trt_dla_enable", "1"),
            ("trt_dla_core", "1"),
            ("device_id", "0"),
        ] {
            assert!(has(&text, key, value), "{key} = {value} in {text}");
        }
        let key_dir = tmp.path().join("b.plans").join("trt8.5.2-sm72-int8-dla1");
        assert!(
            text.contains(&key_dir.join("timing").display().to_string()),
            "{text}"
        );
        assert!(text.contains("trt_engine_cache_path"), "{text}");
    }

    #[test]
    fn fp16_plans_leave_int8_and_the_dla_off() {
        let (text, _tmp) = options(PlanPrecision::Fp16, None);
        assert!(has(&text, "trt_int8_enable", "0"), "{text}");
        assert!(has(&text, "trt_fp16_enable", "1"), "{text}");
        assert!(!text.contains("trt_dla_enable"), "{text}");
    }

    #[test]
    fn without_a_store_tensorrt_caches_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let text = format!(
            "{:?}",
            tensorrt(None, &tmp.path().join("any.onnx")).unwrap()
        );
        assert!(!text.contains("trt_engine_cache"), "{text}");
    }
}
