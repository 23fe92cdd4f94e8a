//! The teacher path of a local-scoring bundle run graph by graph in ONNX Runtime (trunk,
//! later stages, features graph), in FP32 or with the INT8 twins, keeping every graph's
//! input: what `calibrate` observes and fits the product maps on.

use std::path::Path;

use adapts_runtime::bundle::manifest::{
    head_inputs, LocalScoring, FEATURES, FEATURES_IN, FEATURES_OUT, IMAGE, POOLED,
};
use adapts_runtime::bundle::{GraphPrecision, Manifest};
use adapts_runtime::{OrtSession, SessionConfig, Tensor};

use crate::{Error, Result};

/// The teacher path of a local-scoring bundle, graph by graph.
pub(super) struct Chain {
    trunk: OrtSession,
    later: Vec<OrtSession>,
    features: OrtSession,
}

/// Every graph input and output of one image's pass, by graph.
pub(super) struct Pass {
    /// The trunk's input.
    pub trunk_in: Tensor,
    /// Each later stage's input.
    pub later_in: Vec<Tensor>,
    /// The features graph's `features` output (a product map's input).
    pub features: Tensor,
    /// The routing vector.
    pub pooled: Tensor,
}

impl Chain {
    /// The chain with the trunk and later stages in `precision` (the features graph is FP32).
    pub fn open(
        dir: &Path,
        m: &Manifest,
        local: &LocalScoring,
        precision: GraphPrecision,
    ) -> Result<Self> {
        let config = SessionConfig::default();
        Ok(Self {
            trunk: OrtSession::load(&dir.join(m.graph_file(&m.trunk_graph, precision)), &config)?,
            later: m
                .later_stages
                .iter()
                .map(|s| OrtSession::load(&dir.join(m.graph_file(&s.graph, precision)), &config))
                .collect::<adapts_runtime::Result<_>>()?,
            features: OrtSession::load(&dir.join(&local.features_graph), &config)?,
        })
    }

    /// One normalised image `[1, 3, S, S]` through the chain.
    pub fn run(&mut self, m: &Manifest, image: Tensor) -> Result<Pass> {
        let first = m.trunk_output().unwrap_or_default().to_string();
        let out = self.trunk.run(&[(IMAGE, &image)])?;
        let mut stage_pooled = take(out.clone(), POOLED).ok();
        let mut stage = take(out, &first)?;
        let mut taps = vec![(m.adapted[0].name.clone(), stage.clone())];
        let mut later_in = Vec::new();
        for (session, spec) in self.later.iter_mut().zip(&m.later_stages) {
            later_in.push(stage.clone());
            let out = session.run(&[(FEATURES_IN, &stage)])?;
            stage_pooled = take(out.clone(), POOLED).ok();
            stage = take(out, FEATURES_OUT)?;
            if spec.adapted {
                taps.push((spec.name.clone(), stage.clone()));
            }
        }
        let features_in: Vec<(String, Tensor)> = taps
            .into_iter()
            .enumerate()
            .map(|(i, (_, t))| (head_inputs(i).0, t))
            .collect();
        let named: Vec<(&str, &Tensor)> =
            features_in.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let out = self.features.run(&named)?;
        let pooled = if m.routes_by_stage() {
            stage_pooled.ok_or_else(|| {
                Error::Quantization(format!(
                    "the routing stage `{}` gives no `{POOLED}` output",
                    m.routing_stage
                ))
            })?
        } else {
            take(out.clone(), POOLED)?
        };
        Ok(Pass {
            trunk_in: image,
            later_in,
            features: take(out, FEATURES)?,
            pooled,
        })
    }
}

/// The output `name` of a run.
pub(super) fn take(outputs: Vec<(String, Tensor)>, name: &str) -> Result<Tensor> {
    outputs
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::Quantization(format!("graph output `{name}` missing")))
}

/// The routing vectors `[N, D]` of passes.
pub(super) fn pooled_rows(passes: &[Pass]) -> Result<candle_core::Tensor> {
    let rows: Vec<f32> = passes
        .iter()
        .flat_map(|p| p.pooled.data.iter().copied())
        .collect();
    let d = rows.len() / passes.len().max(1);
    Ok(candle_core::Tensor::from_vec(
        rows,
        (passes.len(), d),
        &candle_core::Device::Cpu,
    )?)
}
