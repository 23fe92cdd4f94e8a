//! Bundle format version 1, read for bundles written before version 2: products were called
//! `tasks` and their adapters lived under `tasks/<name>/`. These types are frozen as version 1
//! wrote them; the types they share with version 2 have not changed since (the committed
//! version-1 fixture bundle in `tests/fixtures/bundle_v1` checks that they still decode).

use serde::Deserialize;

use super::manifest::{
    FileEntry, LaterStage, Manifest, Precision, Product, RoutingModel, ScoreStats, Scoring,
    StageInfo, TrunkInfo,
};

/// The version 1 manifest.
#[derive(Debug, Deserialize)]
pub(super) struct ManifestV1 {
    tool_version: String,
    trunk: TrunkInfo,
    preset: String,
    adapted: Vec<StageInfo>,
    later_stages: Vec<LaterStage>,
    trunk_graph: String,
    head_graph: String,
    routing_stage: String,
    routing_dim: usize,
    tasks: Vec<TaskV1>,
    files: Vec<FileEntry>,
}

/// A version 1 product.
#[derive(Debug, Deserialize)]
struct TaskV1 {
    name: String,
    prototype: Vec<f32>,
    routing_radius: f32,
    threshold: f32,
    normal_stats: ScoreStats,
    precision: Precision,
    adapters: Vec<String>,
    bytes: u64,
}

impl From<ManifestV1> for Manifest {
    fn from(m: ManifestV1) -> Self {
        Manifest {
            tool_version: m.tool_version,
            sequence: 0,
            trunk: m.trunk,
            preset: m.preset,
            adapted: m.adapted,
            later_stages: m.later_stages,
            trunk_graph: m.trunk_graph,
            head_graph: m.head_graph,
            routing_stage: m.routing_stage,
            routing_dim: m.routing_dim,
            scoring: Scoring::Distance,
            products: m.tasks.into_iter().map(Product::from).collect(),
            files: m.files,
        }
    }
}

impl From<TaskV1> for Product {
    fn from(t: TaskV1) -> Self {
        Product {
            name: t.name,
            prototype: t.prototype,
            routing: RoutingModel::Euclidean,
            routing_radius: t.routing_radius,
            threshold: t.threshold,
            normal_stats: t.normal_stats,
            precision: t.precision,
            adapters: t.adapters,
            bytes: t.bytes,
        }
    }
}
