//! The bundle manifest: what a bundle contains and how its graphs connect, and the names
//! of that contract: graph paths and tensor names, defined here once for the exporter, the
//! trainer and the pipeline.
//!
//! A bundle is a directory:
//!
//! ```text
//! manifest.postcard                this struct, postcard-encoded, preceded by MAGIC
//! trunk.onnx                       image -> teacher features of the first adapted stage (+ pooled)
//! stages/<stage>.onnx              one per later kept stage: features -> next features (+ pooled)
//! head.onnx                        teacher/student features of every adapted stage -> map, score
//! products/<product>/<stage>.onnx  one adapter per adapted stage and product (Distance)
//! features.onnx                    tapped teacher features -> local features, routing (Local)
//! products/<product>/map.onnx      local features -> the product's anomaly map (Local)
//! ```
//!
//! Graph contract (tensor names below, shapes in [`StageInfo`]):
//! - [`TRUNK_GRAPH`]: input [`IMAGE`] `[N, 3, S, S]` (normalised as
//!   [`TrunkInfo::normalization`]); output named after the first adapted stage, plus
//!   [`POOLED`] `[N, D]` when the trunk's last stage is also the deepest kept stage (no later
//!   stages).
//! - [`stage_graph`]: input [`FEATURES_IN`], outputs [`FEATURES_OUT`] and [`POOLED`] (global
//!   average of the output).
//! - [`adapter_graph`]: input [`FEATURES_IN`], output [`FEATURES_OUT`] (same shape): the
//!   residual adapter.
//! - [`HEAD_GRAPH`]: inputs [`head_inputs`] `t0, s0, t1, s1, ...` (teacher and student
//!   features of the i-th adapted stage); outputs [`MAP`] `[N, 1, S, S]` (product of the
//!   upsampled per-stage distance maps) and [`SCORE`] `[N]` (its maximum).
//!
//! That is [`Scoring::Distance`], the paper's. Under [`Scoring::Local`] the teacher path is
//! the same, then:
//! - [`FEATURES_GRAPH`]: inputs `t0, t1, ...` (teacher features of the tapped stages);
//!   outputs [`FEATURES`] `[N, C, h, w]` and [`POOLED`] (the routing vector);
//! - [`map_graph`]: per product, [`FEATURES_IN`] -> [`MAP`] `[N, 1, h, w]`;
//! - [`HEAD_GRAPH`]: input [`FEATURES_IN`] (a product's map) -> [`MAP`] `[N, 1, S, S]`
//!   (upsampled and smoothed) and [`SCORE`] `[N]` (its maximum).
//!
//! Per frame: `t_first = trunk(image)`; for each later stage `k`, `t_k = stage_k(t_{k-1})`.
//! The routing vector is the `pooled` output of the last graph on the teacher path. The
//! student path is `s_first = A_first(t_first)`, then `s_k = A_k(stage_k(s_{k-1}))` (or
//! `stage_k(s_{k-1})` when stage `k` has no adapter). The head compares `t` and `s` of the
//! adapted stages.
//!
//! Format versions: 3 (this one) adds the [`Manifest::sequence`] number and the optional
//! signature block (`super::codec`); version 2 had neither (read with sequence 0,
//! `super::v2`); version 1 called products `tasks` and kept their adapters under
//! `tasks/<name>/` (`super::v1`; their adapter paths stay as written).

use serde::{Deserialize, Serialize};

use crate::preprocess::Normalization;

/// Bytes that open `manifest.postcard`, followed by the little-endian `u32` format version.
pub const MAGIC: &[u8; 8] = b"ADAPTSB\0";
/// Format version this build writes (it also reads versions 1 and 2).
pub const FORMAT_VERSION: u32 = 3;
/// File name of the manifest inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.postcard";

/// Relative path of the trunk graph.
pub const TRUNK_GRAPH: &str = "trunk.onnx";
/// Relative path of the head graph.
pub const HEAD_GRAPH: &str = "head.onnx";

/// Relative path of the graph of a later stage.
pub fn stage_graph(stage: &str) -> String {
    format!("stages/{stage}.onnx")
}

/// Relative path of a product's adapter graph after `stage`.
pub fn adapter_graph(product: &str, stage: &str) -> String {
    format!("products/{product}/{stage}.onnx")
}

/// Input of the trunk graph (and of an exported trunk): the normalised image.
pub const IMAGE: &str = "image";
/// The global average of the deepest features a graph computes: the routing vector.
pub const POOLED: &str = "pooled";
/// Input of a later-stage or adapter graph: features.
pub const FEATURES_IN: &str = "x";
/// Output of a later-stage or adapter graph: features.
pub const FEATURES_OUT: &str = "y";
/// Output of the head: the anomaly map at the input size.
pub const MAP: &str = "map";
/// Output of the head: the image score, the maximum of the map.
pub const SCORE: &str = "score";
/// Output of an exported trunk that keeps its classifier: ImageNet logits.
pub const LOGITS: &str = "logits";

/// Head input names for the `i`-th adapted stage: `(t{i}, s{i})`, teacher and student.
pub fn head_inputs(i: usize) -> (String, String) {
    (format!("t{i}"), format!("s{i}"))
}

/// Output of the features graph of [`Scoring::Local`]: the aggregated teacher features.
pub const FEATURES: &str = "features";
/// Relative path of the features graph of [`Scoring::Local`].
pub const FEATURES_GRAPH: &str = "features.onnx";

/// Relative path of a product's map graph under [`Scoring::Local`]: [`FEATURES_IN`] (the
/// aggregated features) -> [`MAP`] `[N, 1, h, w]`.
pub fn map_graph(product: &str) -> String {
    format!("products/{product}/map.onnx")
}

/// Graph metadata key holding the multiply-accumulates per image counted when the graph was
/// traced.
pub const MACS_KEY: &str = "adapts.macs_per_image";

/// Everything the runtime needs to know about a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of the tool that wrote the bundle.
    pub tool_version: String,
    /// Grows with every write of the bundle (1 for a new one); a station refuses to reload a
    /// bundle with a lower number than the running one's (a replayed old bundle). 0 in
    /// manifests written before format version 3.
    pub sequence: u64,
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
    /// Stage whose pooled teacher output is the routing vector: the deepest kept stage, or
    /// under local scoring [`FEATURES`] (the features graph's `pooled`, the default) or the
    /// last later stage (a deeper stage kept for routing alone).
    pub routing_stage: String,
    /// Length of the routing vector.
    pub routing_dim: usize,
    /// How a frame is scored: the paper's teacher/student distances, or local features and a
    /// per-product map graph.
    pub scoring: Scoring,
    /// Products, in the order they were added.
    pub products: Vec<Product>,
    /// Checksum of every file in the bundle except the manifest itself.
    pub files: Vec<FileEntry>,
}

/// How the graphs of a bundle turn teacher features into an anomaly map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Scoring {
    /// The AdapTS paper: each product's adapters build a student path next to the teacher's
    /// (through the shared later stages), and the head multiplies the upsampled distance maps
    /// `sum_c (n(t) - n(s))^2` of the adapted stages. Per product, one adapter graph per
    /// adapted stage.
    Distance,
    /// Local features: the teacher features of the tapped stages (the `adapted` stages) are
    /// averaged over 3x3 neighbourhoods and stacked at the first tap's resolution by the
    /// shared features graph; each product has one graph from those features to its anomaly
    /// map, and the head upsamples and smooths the map and takes its maximum.
    Local(LocalScoring),
}

/// The shared features graph of [`Scoring::Local`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalScoring {
    /// Relative path of the features graph: inputs [`head_inputs`]`(i).0` (`t0`, `t1`, ...,
    /// the teacher features of the i-th tapped stage), outputs [`FEATURES`] `[N, C, h, w]`
    /// and [`POOLED`] (the routing vector: each tap's global average, stacked).
    pub features_graph: String,
    /// Shape of the [`FEATURES`] output for one image.
    pub features: StageInfo,
    /// Standard deviation, in input pixels, of the Gaussian smoothing in the head graph.
    pub smooth_sigma: f32,
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
    /// Whether products have an adapter after this stage.
    pub adapted: bool,
}

/// Numeric precision of a product's adapter weights.
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
pub struct Product {
    /// Product name (unique in the bundle).
    pub name: String,
    /// Mean pooled teacher vector of the routing stage over the training images.
    pub prototype: Vec<f32>,
    /// How the routing distance to this product is measured.
    pub routing: RoutingModel,
    /// Routing distance beyond which an image is `unknown_product`.
    pub routing_radius: f32,
    /// Image score above which the verdict is FAIL.
    pub threshold: f32,
    /// Scores of normal validation images.
    pub normal_stats: ScoreStats,
    /// Adapter weight precision.
    pub precision: Precision,
    /// Relative paths of the product's graphs: one adapter per adapted stage, in stage order
    /// ([`Scoring::Distance`]), or its one map graph ([`Scoring::Local`]).
    pub adapters: Vec<String>,
    /// Bytes of this product's files (its additional memory).
    pub bytes: u64,
}

/// A product's model of its normal routing vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RoutingModel {
    /// The squared L2 distance `|z - prototype|^2` (the paper's).
    Euclidean,
    /// Probabilistic PCA: the distance is the Mahalanobis distance per dimension
    /// `(sum_i (b_i . y)^2 / v_i + (|y|^2 - sum_i (b_i . y)^2) / residual) / D` with
    /// `y = z - prototype`, about 1 for the product's own images; the nearest product is the
    /// one with the lowest distance plus mean log variance (the Gaussian's negative
    /// log-likelihood per dimension), so a very varied product does not claim everything.
    Ppca {
        /// `[k, D]` row-major orthonormal directions of most variance.
        basis: Vec<f32>,
        /// Variance along each direction (`k` values, each at least `residual`).
        variances: Vec<f32>,
        /// Variance in every other direction.
        residual: f32,
    },
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
