//! Bundle format version 2, read for bundles written before version 3: the same manifest
//! without a sequence number (read as 0) and never signed. The types it shares with version 3
//! have not changed since (the committed fixture `tests/fixtures/manifest_v2.postcard` checks
//! that they still decode).

use serde::Deserialize;

use super::manifest::{FileEntry, LaterStage, Manifest, Product, Scoring, StageInfo, TrunkInfo};

/// The version 2 manifest.
#[derive(Debug, Deserialize)]
pub(super) struct ManifestV2 {
    tool_version: String,
    trunk: TrunkInfo,
    preset: String,
    adapted: Vec<StageInfo>,
    later_stages: Vec<LaterStage>,
    trunk_graph: String,
    head_graph: String,
    routing_stage: String,
    routing_dim: usize,
    scoring: Scoring,
    products: Vec<Product>,
    files: Vec<FileEntry>,
}

impl From<ManifestV2> for Manifest {
    fn from(m: ManifestV2) -> Self {
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
            scoring: m.scoring,
            products: m.products,
            files: m.files,
        }
    }
}
