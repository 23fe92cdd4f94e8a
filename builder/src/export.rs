//! Trunk export: runs a trunk's forward pass on [`OnnxGraph`] and names its outputs.
//!
//! The exported graph takes `image` `[batch, 3, size, size]` (already normalised) and returns
//! one output per kept stage (named after the stage), `pooled` (the routing vector) and, for
//! an uncut trunk, `logits`.

use std::path::Path;

use crate::models::Trunk;
use crate::onnx::{self, proto::ModelProto, OnnxGraph};
use crate::{fsutil, Result};

/// Name of the image input of every exported trunk.
pub const INPUT_NAME: &str = "image";
/// Name of the pooled routing vector output.
pub const POOLED_NAME: &str = "pooled";
/// Name of the classifier output of an uncut trunk.
pub const LOGITS_NAME: &str = "logits";

/// An exported trunk graph and what it computes.
#[derive(Debug, Clone)]
pub struct TrunkExport {
    pub model: ModelProto,
    /// Output names in graph order.
    pub outputs: Vec<String>,
    /// Multiply-accumulates for one image.
    pub macs_per_image: u64,
}

impl TrunkExport {
    /// Writes the model atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        fsutil::write_atomic(path, &onnx::encode(&self.model))
    }
}

/// Traces `trunk` at `size x size` input. `metadata` is stored in the model's properties.
pub fn export_trunk(
    trunk: &Trunk,
    size: usize,
    metadata: &[(&str, String)],
) -> Result<TrunkExport> {
    let mut g = OnnxGraph::new();
    let x = g.input(INPUT_NAME, &[1, 3, size, size]);
    let out = trunk.forward(&mut g, &x)?;
    let mut named: Vec<(&str, &onnx::Value)> = out
        .stages
        .iter()
        .map(|(name, v)| (name.as_str(), v))
        .collect();
    named.push((POOLED_NAME, &out.pooled));
    if let Some(logits) = &out.logits {
        named.push((LOGITS_NAME, logits));
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
