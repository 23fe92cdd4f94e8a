//! Teacher features for training: the frozen trunk's stage outputs, computed once per clean
//! image and kept for all epochs, and per step for synthetic anomalies.
//!
//! [`TeacherEngine::Ort`] runs the bundle's own trunk and stage graphs with ONNX Runtime
//! (several times faster than candle on a CPU); [`TeacherEngine::Candle`] runs the candle
//! trunk, the reference the speed work is measured against.

use std::path::Path;

use adapts_runtime::bundle::manifest::{FEATURES_IN, FEATURES_OUT, IMAGE, POOLED};
use adapts_runtime::{OrtSession, SessionConfig, Tensor as RtTensor};
use candle_core::{Device, Tensor};

use crate::model::graph::Eval;
use crate::model::Trunk;
use crate::train::plan::Plan;
use crate::{Error, Result};

/// Which engine computes the frozen teacher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeacherEngine {
    /// ONNX Runtime on the bundle's trunk and later stage graphs.
    Ort,
    /// The candle trunk, the reference.
    Candle,
}

/// Teacher outputs of one batch: features of every kept stage from the first adapted one to
/// the deepest (`[N, C, H, W]` each), and the pooled routing vector `[N, D]`.
pub struct TeacherBatch {
    /// Features of each kept stage from the first adapted one to the deepest, `[N, C, H, W]`.
    pub stages: Vec<Tensor>,
    /// Pooled routing vector of the deepest stage, `[N, D]`.
    pub pooled: Tensor,
}

/// The frozen trunk computing [`TeacherBatch`]es, on one of two engines.
pub enum Teacher<'a> {
    /// ONNX Runtime sessions over a bundle's graphs.
    Ort {
        /// Session over the trunk graph (image to the first adapted stage).
        trunk: OrtSession,
        /// Sessions over the later stage graphs, in forward order.
        later: Vec<OrtSession>,
        /// Name of the trunk graph's output for the first adapted stage.
        first_name: String,
    },
    /// The candle trunk, run layer by layer.
    Candle {
        /// Trunk, cut after the plan's deepest stage.
        trunk: &'a Trunk,
        /// Which stages are kept and where adapters go.
        plan: &'a Plan,
    },
}

impl<'a> Teacher<'a> {
    /// ONNX Runtime sessions over a bundle's `trunk_graph` and later stage graphs.
    pub fn ort(
        trunk_graph: &Path,
        later_graphs: &[std::path::PathBuf],
        first_name: &str,
    ) -> Result<Self> {
        let config = SessionConfig::default();
        Ok(Teacher::Ort {
            trunk: OrtSession::load(trunk_graph, &config)?,
            later: later_graphs
                .iter()
                .map(|p| OrtSession::load(p, &config))
                .collect::<adapts_runtime::Result<_>>()?,
            first_name: first_name.to_string(),
        })
    }

    /// The candle teacher over `trunk`, keeping stages `plan.first()..=plan.last()`.
    pub fn candle(trunk: &'a Trunk, plan: &'a Plan) -> Self {
        Teacher::Candle { trunk, plan }
    }

    /// Runs the teacher on normalised images `[N, 3, S, S]`.
    pub fn run(&mut self, images: &Tensor) -> Result<TeacherBatch> {
        match self {
            Teacher::Candle { trunk, plan } => {
                let mut g = Eval;
                let mut y = trunk.forward_to(&mut g, images, plan.first())?;
                let mut stages = vec![y.clone()];
                for k in plan.first() + 1..=plan.last() {
                    y = trunk.stage(&mut g, k, &y)?;
                    stages.push(y.clone());
                }
                let (pooled, _) = trunk.head(&mut g, &y)?;
                Ok(TeacherBatch { stages, pooled })
            }
            Teacher::Ort {
                trunk,
                later,
                first_name,
            } => {
                let x = to_runtime(images)?;
                let out = trunk.run(&[(IMAGE, &x)])?;
                let mut pooled = find(&out, POOLED).ok();
                let mut y = find(&out, first_name)?;
                let mut stages = vec![to_candle(&y)?];
                for session in later.iter_mut() {
                    let out = session.run(&[(FEATURES_IN, &y)])?;
                    y = find(&out, FEATURES_OUT)?;
                    pooled = Some(find(&out, POOLED)?);
                    stages.push(to_candle(&y)?);
                }
                let pooled = pooled
                    .ok_or_else(|| Error::Onnx("teacher graphs give no pooled output".into()))?;
                Ok(TeacherBatch {
                    stages,
                    pooled: to_candle(&pooled)?,
                })
            }
        }
    }
}

fn find(outputs: &[(String, RtTensor)], name: &str) -> Result<RtTensor> {
    outputs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.clone())
        .ok_or_else(|| Error::Onnx(format!("graph has no output `{name}`")))
}

/// Copies an f32 candle tensor into a runtime tensor of the same shape.
pub fn to_runtime(t: &Tensor) -> Result<RtTensor> {
    Ok(RtTensor::new(
        t.dims().to_vec(),
        t.flatten_all()?.to_vec1::<f32>()?,
    )?)
}

/// Copies a runtime tensor into a candle tensor on the CPU.
pub fn to_candle(t: &RtTensor) -> Result<Tensor> {
    Ok(Tensor::from_slice(
        &t.data,
        t.shape.as_slice(),
        &Device::Cpu,
    )?)
}
