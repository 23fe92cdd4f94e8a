//! The bundle manifest: what a bundle contains and how its graphs connect.
//!
//! A bundle is a directory:
//!
//! ```text
//! manifest.postcard            this struct, postcard-encoded, preceded by MAGIC
//! trunk.onnx                   image -> teacher features of the first adapted stage (+ pooled)
//! stages/<stage>.onnx          one per later kept stage: features -> next features (+ pooled)
//! head.onnx                    teacher/student features of every adapted stage -> map, score
//! tasks/<task>/<stage>.onnx    one adapter per adapted stage and task
//! ```
//!
//! Graph contract (tensor names are fixed here, shapes in [`StageInfo`]):
//! - `trunk.onnx`: input `image` `[N, 3, S, S]` (normalised as [`TrunkInfo::normalization`]);
//!   output named after the first adapted stage, plus `pooled` `[N, D]` when the trunk's last
//!   stage is also the deepest kept stage (no later stages).
//! - `stages/<stage>.onnx`: input `x`, outputs `y` and `pooled` (global average of `y`).
//! - `tasks/<task>/<stage>.onnx`: input `x`, output `y` (same shape): the residual adapter.
//! - `head.onnx`: inputs `t0, s0, t1, s1, ...` (teacher and student features of the i-th
//!   adapted stage); outputs `map` `[N, 1, S, S]` (product of the upsampled per-stage
//!   distance maps) and `score` `[N]` (its maximum).
//!
//! Per frame: `t_first = trunk(image)`; for each later stage `k`, `t_k = stage_k(t_{k-1})`.
//! The routing vector is the `pooled` output of the last graph on the teacher path. The
//! student path is `s_first = A_first(t_first)`, then `s_k = A_k(stage_k(s_{k-1}))` (or
//! `stage_k(s_{k-1})` when stage `k` has no adapter). The head compares `t` and `s` of the
//! adapted stages.

use serde::{Deserialize, Serialize};

use crate::preprocess::Normalization;

/// Bytes that open `manifest.postcard`, followed by the little-endian `u32` format version.
pub const MAGIC: &[u8; 8] = b"ADAPTSB\0";
/// Format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the manifest inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.postcard";

/// Everything the runtime needs to know about a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of the tool that wrote the bundle.
    pub tool_version: String,
    /// The shared trunk.
    pub trunk: TrunkInfo,
    /// Preset name (`S`, `M`, `L` or `custom`).
    pub preset: String,
    /// Adapted stages, shallow to deep.
    pub adapted: Vec<StageInfo>,
    /// Later kept stages after the first adapted one, in order, each a separate graph.
    pub later_stages: Vec<LaterStage>,
    /// Relative path of the trunk graph.
    pub trunk_graph: String,
    /// Relative path of the head graph.
    pub head_graph: String,
    /// Stage whose pooled teacher output is the routing vector (the deepest kept stage).
    pub routing_stage: String,
    /// Length of the routing vector.
    pub routing_dim: usize,
    /// Products, in the order they were added.
    pub tasks: Vec<Task>,
    /// Checksum of every file in the bundle except the manifest itself.
    pub files: Vec<FileEntry>,
}

/// The shared frozen trunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrunkInfo {
    /// Trunk id, e.g. `wrn50-2` or `effnet-lite0`.
    pub id: String,
    /// Hex sha256 of the weights file the trunk was built from.
    pub weights_sha256: String,
    /// Square input side in pixels.
    pub input_size: u32,
    /// Input normalisation.
    pub normalization: Normalization,
}

/// Shape of one adapted stage's features for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageInfo {
    /// Stage name (e.g. `layer2`, `stride8`).
    pub name: String,
    /// Channels.
    pub channels: usize,
    /// Height of the feature map.
    pub height: usize,
    /// Width of the feature map.
    pub width: usize,
}

/// A kept stage after the first adapted stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaterStage {
    /// Stage name.
    pub name: String,
    /// Relative path of its graph.
    pub graph: String,
    /// Whether tasks have an adapter after this stage.
    pub adapted: bool,
}

/// Numeric precision of a task's adapter weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit float weights.
    Fp32,
    /// Per-channel symmetric INT8 weights (dequantised in the graph), f32 activations.
    Int8,
}

/// Statistics of image scores on normal validation images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreStats {
    /// Number of images.
    pub count: usize,
    /// Mean score.
    pub mean: f32,
    /// Standard deviation.
    pub std: f32,
    /// Median.
    pub p50: f32,
    /// 99th percentile.
    pub p99: f32,
    /// Maximum.
    pub max: f32,
}

/// One product: its adapters, routing prototype and decision threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Product name (unique in the bundle).
    pub name: String,
    /// Mean pooled teacher vector of the routing stage over the training images.
    pub prototype: Vec<f32>,
    /// Squared L2 distance to the prototype beyond which an image is `unknown_product`.
    pub routing_radius: f32,
    /// Image score above which the verdict is FAIL.
    pub threshold: f32,
    /// Scores of normal validation images.
    pub normal_stats: ScoreStats,
    /// Adapter weight precision.
    pub precision: Precision,
    /// Relative adapter graph paths, one per adapted stage, in stage order.
    pub adapters: Vec<String>,
    /// Bytes of this task's files (its additional memory).
    pub bytes: u64,
}

/// A file of the bundle and its checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the bundle directory, `/`-separated.
    pub path: String,
    /// Hex sha256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}
