//! Trunk export: runs a trunk's forward pass on [`OnnxGraph`] and names its outputs.
//!
//! The exported graph takes `image` `[batch, 3, size, size]` (already normalised) and returns
//! one output per kept stage (named after the stage), `pooled` (the routing vector) and, for
//! an uncut trunk, `logits`.

use std::path::Path;

use crate::export::onnx::{self, proto::ModelProto, OnnxGraph};
use crate::model::Trunk;
use adapts_runtime::fsutil;

use crate::Result;

pub use adapts_runtime::bundle::manifest::{IMAGE, LOGITS, POOLED};

/// An exported trunk graph and what it computes.
#[derive(Debug, Clone)]
pub struct TrunkExport {
    /// The traced trunk graph with its initializers and metadata.
    pub model: ModelProto,
    /// Output names in graph order.
    pub outputs: Vec<String>,
    /// Multiply-accumulates for one image.
    pub macs_per_image: u64,
}

impl TrunkExport {
    /// Writes the model atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        Ok(fsutil::write_atomic(path, &onnx::encode(&self.model))?)
    }
}

/// Traces `trunk` at `size x size` input. `metadata` is stored in the model's properties.
pub fn export_trunk(
    trunk: &Trunk,
    size: usize,
    metadata: &[(&str, String)],
) -> Result<TrunkExport> {
    let mut g = OnnxGraph::new();
    let x = g.input(IMAGE, &[1, 3, size, size]);
    let out = trunk.forward(&mut g, &x)?;
    let mut named: Vec<(&str, &onnx::Value)> = out
        .stages
        .iter()
        .map(|(name, v)| (name.as_str(), v))
        .collect();
    named.push((POOLED, &out.pooled));
    if let Some(logits) = &out.logits {
        named.push((LOGITS, logits));
    }
    let outputs = named.iter().map(|(n, _)| n.to_string()).collect();
    let macs_per_image = g.macs();
    let model = g.finish("trunk", &named, metadata);
    Ok(TrunkExport {
        model,
        outputs,
        macs_per_image,
    })
}
