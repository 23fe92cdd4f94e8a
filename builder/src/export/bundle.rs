//! Writing bundles: the shared graphs (trunk up to the first adapted stage, later stages,
//! head), each product's adapter graphs, and the manifest. Graphs are traced from the same
//! definitions candle trains and scores with; their paths and tensor names are the ones the
//! graph contract in `adapts_runtime::bundle::manifest` defines.

use adapts_runtime::bundle::manifest::{
    adapter_graph as adapter_graph_path, head_inputs, map_graph as map_graph_path,
    stage_graph as stage_graph_path, LaterStage, LocalScoring, Manifest, Product, Scoring,
    StageInfo, TrunkInfo, FEATURES, FEATURES_GRAPH, FEATURES_IN, FEATURES_OUT, HEAD_GRAPH, IMAGE,
    MAP, POOLED, SCORE, TRUNK_GRAPH,
};
use adapts_runtime::bundle::BundleWriter;
use adapts_runtime::preprocess::Normalization;

use crate::export::onnx::{self, OnnxGraph, Value};
use crate::model::adapter::Adapter;
use crate::model::head;
use crate::model::local::{self, ProductMap};
use crate::model::Trunk;
use crate::train::plan::Plan;
use crate::train::{TrainedModel, TrainedProduct};
use crate::{Error, Result};

/// The shared part of a bundle, as written or as found in an existing bundle.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Trunk identity as written to the manifest.
    pub trunk: TrunkInfo,
    /// Preset name (`S`, `M`, `L` or `custom`).
    pub preset: String,
    /// Shape of each adapted stage's features, shallow to deep.
    pub adapted: Vec<StageInfo>,
    /// Kept stages after the first adapted one, each with its own graph.
    pub later_stages: Vec<LaterStage>,
    /// Stage whose pooled teacher output is the routing vector (the deepest kept stage).
    pub routing_stage: String,
    /// Length of the routing vector (channels of `routing_stage`).
    pub routing_dim: usize,
    /// How frames are scored.
    pub scoring: Scoring,
}

fn bytes(model: &onnx::proto::ModelProto) -> Vec<u8> {
    onnx::encode(model)
}

fn stage_info(name: &str, v: &Value) -> Result<StageInfo> {
    match v.shape.as_slice() {
        &[_, c, h, w] => Ok(StageInfo {
            name: name.to_string(),
            channels: c,
            height: h,
            width: w,
        }),
        other => Err(Error::Onnx(format!(
            "stage {name}: unexpected shape {other:?}"
        ))),
    }
}

/// Traces and writes the trunk graph: image -> the first adapted stage, plus the pooled
/// routing vector when that stage is also the last kept one. Returns the stage's value.
fn write_trunk(
    writer: &mut BundleWriter,
    trunk: &Trunk,
    plan: &Plan,
    size: usize,
) -> Result<Value> {
    let names = trunk.arch().stage_names();
    let first = plan.first();
    let mut g = OnnxGraph::new();
    let x = g.input(IMAGE, &[1, 3, size, size]);
    let y = trunk.forward_to(&mut g, &x, first)?;
    let mut outputs: Vec<(&str, Value)> = vec![(names[first], y.clone())];
    if plan.deepest() == first {
        let (pooled, _) = trunk.head(&mut g, &y)?;
        outputs.push((POOLED, pooled));
    }
    let named: Vec<(&str, &Value)> = outputs.iter().map(|(n, v)| (*n, v)).collect();
    writer.add_file(TRUNK_GRAPH, &bytes(&g.finish("trunk", &named, &[])))?;
    Ok(y)
}

/// Writes the traced head graph `g` with its `map` and `score` outputs.
fn write_head(writer: &mut BundleWriter, g: OnnxGraph, map: &Value, score: &Value) -> Result<()> {
    writer.add_file(
        HEAD_GRAPH,
        &bytes(&g.finish("head", &[(MAP, map), (SCORE, score)], &[])),
    )?;
    Ok(())
}

/// Traces and writes the later stages after the trunk graph up to the plan's deepest stage,
/// each with its pooled routing vector. Returns the adapted (or tapped) stages, the first
/// one included, the later stages as the manifest lists them, and the routing dimension.
fn write_later_stages(
    writer: &mut BundleWriter,
    trunk: &Trunk,
    plan: &Plan,
    mut feature: Value,
) -> Result<(Vec<StageInfo>, Vec<LaterStage>, usize)> {
    let names = trunk.arch().stage_names();
    let first = plan.first();
    let mut adapted = vec![stage_info(names[first], &feature)?];
    let mut later_stages = Vec::new();
    let mut routing_dim = feature.shape[1];
    for (k, &stage_name) in names
        .iter()
        .enumerate()
        .take(plan.deepest() + 1)
        .skip(first + 1)
    {
        let mut g = OnnxGraph::new();
        let x = g.input(FEATURES_IN, &feature.shape);
        let y = trunk.stage(&mut g, k, &x)?;
        let (pooled, _) = trunk.head(&mut g, &y)?;
        routing_dim = pooled.shape[1];
        let model = g.finish(stage_name, &[(FEATURES_OUT, &y), (POOLED, &pooled)], &[]);
        let path = stage_graph_path(stage_name);
        writer.add_file(&path, &bytes(&model))?;
        if plan.is_adapted(k) {
            adapted.push(stage_info(stage_name, &y)?);
        }
        later_stages.push(LaterStage {
            name: stage_name.to_string(),
            graph: path,
            adapted: plan.is_adapted(k),
        });
        feature = y;
    }
    Ok((adapted, later_stages, routing_dim))
}

/// Traces and writes the trunk, later-stage and head graphs.
pub fn write_shared(
    writer: &mut BundleWriter,
    trunk: &Trunk,
    plan: &Plan,
    trunk_info: TrunkInfo,
) -> Result<Shared> {
    let names = trunk.arch().stage_names();
    let size = trunk_info.input_size as usize;
    let feature = write_trunk(writer, trunk, plan, size)?;
    let (adapted, later_stages, routing_dim) = write_later_stages(writer, trunk, plan, feature)?;

    // head: (t_i, s_i) of every adapted stage -> map, score.
    let mut g = OnnxGraph::new();
    let mut pairs = Vec::new();
    for (i, st) in adapted.iter().enumerate() {
        let shape = [1, st.channels, st.height, st.width];
        let (t_name, s_name) = head_inputs(i);
        let t = g.input(&t_name, &shape);
        let s = g.input(&s_name, &shape);
        pairs.push((t, s));
    }
    let (map, score) = head::score(&mut g, &pairs, size)?;
    write_head(writer, g, &map, &score)?;

    Ok(Shared {
        trunk: trunk_info,
        preset: plan.name.clone(),
        routing_stage: names[plan.last()].to_string(),
        routing_dim,
        adapted,
        later_stages,
        scoring: Scoring::Distance,
    })
}

/// Local scoring's shared graphs: the trunk up to the first tap, the later stages up to the
/// last (teacher path only), the features graph and the local head (smoothing `sigma`).
pub fn write_shared_local(
    writer: &mut BundleWriter,
    trunk: &Trunk,
    plan: &Plan,
    trunk_info: TrunkInfo,
    sigma: f32,
) -> Result<Shared> {
    let size = trunk_info.input_size as usize;
    let feature = write_trunk(writer, trunk, plan, size)?;
    let (adapted, later_stages, stage_routing_dim) =
        write_later_stages(writer, trunk, plan, feature)?;

    // features: the taps' 3x3 averages at the first tap's resolution (+ routing vector).
    let mut g = OnnxGraph::new();
    let taps: Vec<Value> = adapted
        .iter()
        .enumerate()
        .map(|(i, st)| g.input(&head_inputs(i).0, &[1, st.channels, st.height, st.width]))
        .collect();
    let stacked: usize = adapted.iter().map(|s| s.channels).sum();
    let projection = local::projection(stacked)?;
    let hw = (adapted[0].height, adapted[0].width);
    let (features, pooled) = local::features(&mut g, &taps, hw, projection.as_ref())?;
    let info = stage_info(FEATURES, &features)?;
    let names = trunk.arch().stage_names();
    let (routing_stage, routing_dim) = match plan.routing_stage {
        Some(_) => (names[plan.deepest()].to_string(), stage_routing_dim),
        None => (FEATURES.to_string(), pooled.shape[1]),
    };
    writer.add_file(
        FEATURES_GRAPH,
        &bytes(&g.finish("features", &[(FEATURES, &features), (POOLED, &pooled)], &[])),
    )?;

    // head: a product's map -> upsampled, smoothed map and its maximum.
    let mut g = OnnxGraph::new();
    let m = g.input(FEATURES_IN, &[1, 1, hw.0, hw.1]);
    let (map, score) = local::head(&mut g, &m, hw, size, sigma)?;
    write_head(writer, g, &map, &score)?;

    Ok(Shared {
        trunk: trunk_info,
        preset: plan.name.clone(),
        routing_stage,
        routing_dim,
        adapted,
        later_stages,
        scoring: Scoring::Local(LocalScoring {
            features_graph: FEATURES_GRAPH.to_string(),
            features: info,
            smooth_sigma: sigma,
        }),
    })
}

/// Traces a product's local map as a standalone graph `x -> map`.
pub fn map_graph(map: &ProductMap, features: &StageInfo) -> Result<onnx::proto::ModelProto> {
    let mut g = OnnxGraph::new();
    let x = g.input(
        FEATURES_IN,
        &[1, features.channels, features.height, features.width],
    );
    let m = map.forward(&mut g, &x)?;
    Ok(g.finish("map", &[(MAP, &m)], &[]))
}

/// The shared part of an existing bundle's manifest.
pub fn shared_of(manifest: &Manifest) -> Shared {
    Shared {
        trunk: manifest.trunk.clone(),
        preset: manifest.preset.clone(),
        adapted: manifest.adapted.clone(),
        later_stages: manifest.later_stages.clone(),
        routing_stage: manifest.routing_stage.clone(),
        routing_dim: manifest.routing_dim,
        scoring: manifest.scoring.clone(),
    }
}

/// Traces one adapter as a standalone graph `x -> y`.
pub fn adapter_graph(adapter: &Adapter, stage: &StageInfo) -> Result<onnx::proto::ModelProto> {
    let mut g = OnnxGraph::new();
    let x = g.input(FEATURES_IN, &[1, stage.channels, stage.height, stage.width]);
    let y = adapter.forward(&mut g, &x)?;
    Ok(g.finish("adapter", &[(FEATURES_OUT, &y)], &[]))
}

/// Writes a trained product's adapter graphs and returns its manifest entry.
pub fn write_product(
    writer: &mut BundleWriter,
    shared: &Shared,
    plan: &Plan,
    product: &TrainedProduct,
) -> Result<Product> {
    let mut adapters = Vec::new();
    let mut total = 0u64;
    match (&product.model, &shared.scoring) {
        (TrainedModel::Adapters(list), Scoring::Distance) => {
            for (adapter, stage) in list.iter().zip(&shared.adapted) {
                let path = adapter_graph_path(&product.name, &stage.name);
                let entry = writer.add_file(&path, &bytes(&adapter_graph(adapter, stage)?))?;
                total += entry.bytes;
                adapters.push(path);
            }
        }
        (TrainedModel::Map(map), Scoring::Local(local)) => {
            let path = map_graph_path(&product.name);
            let entry = writer.add_file(&path, &bytes(&map_graph(map, &local.features)?))?;
            total += entry.bytes;
            adapters.push(path);
        }
        _ => {
            return Err(Error::Config(format!(
                "product `{}` was trained for another scoring than the bundle's",
                product.name
            )))
        }
    }
    let c = &product.calibration;
    Ok(Product {
        name: product.name.clone(),
        prototype: c.prototype.clone(),
        routing: c.routing.clone(),
        routing_radius: c.routing_radius,
        threshold: c.threshold,
        normal_stats: c.normal,
        precision: plan.precision,
        adapters,
        bytes: total,
    })
}

/// The complete manifest (`files` is filled in by the writer).
pub fn manifest(shared: &Shared, products: Vec<Product>) -> Manifest {
    Manifest {
        tool_version: format!("adapts-builder {}", env!("CARGO_PKG_VERSION")),
        sequence: 0,
        trunk: shared.trunk.clone(),
        preset: shared.preset.clone(),
        adapted: shared.adapted.clone(),
        later_stages: shared.later_stages.clone(),
        trunk_graph: TRUNK_GRAPH.into(),
        head_graph: HEAD_GRAPH.into(),
        routing_stage: shared.routing_stage.clone(),
        routing_dim: shared.routing_dim,
        scoring: shared.scoring.clone(),
        products,
        files: Vec::new(),
    }
}

/// Trunk identity for the manifest.
pub fn trunk_info(
    id: &str,
    weights_sha256: &str,
    input_size: u32,
    normalization: Normalization,
) -> TrunkInfo {
    TrunkInfo {
        id: id.to_string(),
        weights_sha256: weights_sha256.to_string(),
        input_size,
        normalization,
    }
}
