//! Engines: what executes a bundle's graphs on the device.
//!
//! An [`Engine`] loads graph files into [`GraphRunner`]s; a runner describes its inputs and
//! outputs and runs on [`Tensor`]s addressed by tensor name. ONNX Runtime on the CPU
//! ([`OrtEngine`], sessions [`OrtSession`]) is the engine available everywhere; its settings
//! and errors stay in `engine/ort`. The per-frame pipeline is built from a bundle and any
//! `&dyn Engine`, so another engine (a GPU one) plugs in here without touching it. The
//! description types ([`TensorInfo`], [`SessionConfig`]) are shared by every engine.

pub mod choice;
#[cfg(test)]
pub(crate) mod fake;
pub(crate) mod ort;
pub mod plans;

pub use self::ort::OrtSession;

use std::path::Path;

use serde::Serialize;

use crate::error::{Result, ShapeSpec};
use crate::tensor::Tensor;

/// One loaded graph that can be run: what the pipeline needs from an engine.
pub trait GraphRunner {
    /// Runs the graph on named inputs and returns every output by name.
    fn run(&mut self, inputs: &[(&str, &Tensor)]) -> Result<Vec<(String, Tensor)>>;

    /// The graph's inputs, in declaration order.
    fn inputs(&self) -> &[TensorInfo];

    /// The graph's outputs, in declaration order.
    fn outputs(&self) -> &[TensorInfo];
}

/// A graph runner the pipeline owns (any engine).
pub type BoxedRunner = Box<dyn GraphRunner + Send>;

/// What builds runners from a bundle's graph files: the seam between the pipeline and the
/// execution backends.
pub trait Engine {
    /// A short description for logs, e.g. `ONNX Runtime 1.32.0 on the CPU`.
    fn describe(&self) -> String;

    /// Loads the graph file at `path`.
    fn load(&self, path: &Path) -> Result<BoxedRunner>;
}

/// ONNX Runtime on the CPU, with one [`SessionConfig`] for every graph it loads.
#[derive(Debug, Clone, Default)]
pub struct OrtEngine {
    config: SessionConfig,
}

impl OrtEngine {
    /// An engine whose sessions all use `config`.
    pub fn new(config: SessionConfig) -> Self {
        Self { config }
    }
}

impl Engine for OrtEngine {
    fn describe(&self) -> String {
        self.config.provider.describe().into()
    }

    fn load(&self, path: &Path) -> Result<BoxedRunner> {
        Ok(Box::new(OrtSession::load(path, &self.config)?))
    }
}

impl GraphRunner for OrtSession {
    fn run(&mut self, inputs: &[(&str, &Tensor)]) -> Result<Vec<(String, Tensor)>> {
        OrtSession::run(self, inputs)
    }

    fn inputs(&self) -> &[TensorInfo] {
        OrtSession::inputs(self)
    }

    fn outputs(&self) -> &[TensorInfo] {
        OrtSession::outputs(self)
    }
}

impl<T: GraphRunner + ?Sized> GraphRunner for &mut T {
    fn run(&mut self, inputs: &[(&str, &Tensor)]) -> Result<Vec<(String, Tensor)>> {
        (**self).run(inputs)
    }

    fn inputs(&self) -> &[TensorInfo] {
        (**self).inputs()
    }

    fn outputs(&self) -> &[TensorInfo] {
        (**self).outputs()
    }
}

impl<T: GraphRunner + ?Sized> GraphRunner for Box<T> {
    fn run(&mut self, inputs: &[(&str, &Tensor)]) -> Result<Vec<(String, Tensor)>> {
        (**self).run(inputs)
    }

    fn inputs(&self) -> &[TensorInfo] {
        (**self).inputs()
    }

    fn outputs(&self) -> &[TensorInfo] {
        (**self).outputs()
    }
}

/// Name, element type and declared shape of one graph input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    /// Tensor name in the graph.
    pub name: String,
    /// Element type as the engine reports it (`f32`, `i64`, ...).
    pub element_type: String,
    /// Declared dimensions; `None` is a dynamic dimension (e.g. the batch).
    pub shape: Vec<Option<usize>>,
}

impl TensorInfo {
    /// Whether a tensor of `shape` fits the declared shape: same rank, and every fixed
    /// dimension equal.
    pub fn accepts(&self, shape: &[usize]) -> bool {
        self.shape.len() == shape.len()
            && self
                .shape
                .iter()
                .zip(shape)
                .all(|(declared, given)| declared.is_none_or(|d| d == *given))
    }

    /// The declared shape rendered with `?` for dynamic dimensions, e.g. `[?, 3, 224, 224]`.
    pub fn shape_string(&self) -> String {
        ShapeSpec(&self.shape).to_string()
    }
}

/// How much ONNX Runtime rewrites a graph before running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphOptimization {
    /// Run the graph as written.
    Disabled,
    /// Constant folding and redundant-node removal.
    Basic,
    /// Basic plus operator fusions.
    Extended,
    /// Every optimisation, including memory layout changes (the default).
    #[default]
    All,
}

/// Options for creating an engine session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionConfig {
    /// Threads used inside one operator; `None` lets the engine choose (one per core).
    pub intra_op_threads: Option<usize>,
    /// Graph optimisation level; [`GraphOptimization::All`] by default.
    pub optimization: GraphOptimization,
    /// Let the operator threads busy-wait for the next run (ONNX Runtime's own default). Off by
    /// default: a pipeline runs several sessions in turn (trunk, adapters, head), and each
    /// session's spinning threads would take the cores from the next one; on 2 cores that
    /// doubled the WRN50-2 trunk's latency inside the pipeline.
    pub intra_op_spinning: bool,
    /// Execution provider (see [`choice::resolve`], which checks its libraries first).
    pub provider: choice::Provider,
    /// TensorRT's plans for this device (the TensorRT provider only): each graph's engine
    /// cache, checked before its session is created. `None`: TensorRT builds engines in
    /// memory at every start.
    pub plans: Option<plans::PlanCache>,
}

impl SessionConfig {
    /// This configuration on the engine `kind` resolves to on this machine: an error naming
    /// the missing library for `cuda` and `tensorrt`, the CPU (logged) for `auto` without a
    /// GPU engine.
    pub fn on_engine(self, kind: choice::EngineKind) -> Result<Self> {
        Ok(Self {
            provider: choice::resolve(kind, &choice::SystemProbe)?,
            ..self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(shape: Vec<Option<usize>>) -> TensorInfo {
        TensorInfo {
            name: "image".into(),
            element_type: "f32".into(),
            shape,
        }
    }

    #[test]
    fn dynamic_dims_accept_any_size() {
        let i = info(vec![None, Some(3)]);
        assert!(i.accepts(&[1, 3]));
        assert!(i.accepts(&[17, 3]));
        assert!(!i.accepts(&[1, 4]));
        assert!(!i.accepts(&[1, 3, 1]));
        assert_eq!(i.shape_string(), "[?, 3]");
    }

    #[test]
    fn default_config_optimises_fully() {
        let config = SessionConfig::default();
        assert_eq!(config.optimization, GraphOptimization::All);
        assert_eq!(config.intra_op_threads, None);
        assert!(!config.intra_op_spinning);
    }
}
