//! Writing bundles: the shared graphs (trunk up to the first adapted stage, later stages,
//! head), each product's adapter graphs, and the manifest. Graphs are traced from the same
//! definitions candle trains and scores with; their paths and tensor names are the ones the
//! graph contract in `adapts_runtime::bundle::manifest` defines.

use adapts_runtime::bundle::manifest::{
    adapter_graph as adapter_graph_path, head_inputs, stage_graph as stage_graph_path, LaterStage,
    Manifest, Product, StageInfo, TrunkInfo, FEATURES_IN, FEATURES_OUT, HEAD_GRAPH, IMAGE, MAP,
    POOLED, SCORE, TRUNK_GRAPH,
};
use adapts_runtime::bundle::BundleWriter;
use adapts_runtime::preprocess::Normalization;

use crate::export::onnx::{self, OnnxGraph, Value};
use crate::model::adapter::Adapter;
use crate::model::head;
use crate::model::Trunk;
use crate::train::plan::Plan;
use crate::train::TrainedProduct;
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

/// Traces and writes the trunk, later-stage and head graphs.
pub fn write_shared(
    writer: &mut BundleWriter,
    trunk: &Trunk,
    plan: &Plan,
    trunk_info: TrunkInfo,
) -> Result<Shared> {
    let names = trunk.arch().stage_names();
    let size = trunk_info.input_size as usize;
    let first = plan.first();

    // trunk: image -> first adapted stage (+ pooled when it is also the last kept stage).
    let mut g = OnnxGraph::new();
    let x = g.input(IMAGE, &[1, 3, size, size]);
    let y = trunk.forward_to(&mut g, &x, first)?;
    let mut feature = y.clone();
    let mut outputs: Vec<(&str, Value)> = vec![(names[first], y.clone())];
    if plan.last() == first {
        let (pooled, _) = trunk.head(&mut g, &y)?;
        outputs.push((POOLED, pooled));
    }
    let named: Vec<(&str, &Value)> = outputs.iter().map(|(n, v)| (*n, v)).collect();
    writer.add_file(TRUNK_GRAPH, &bytes(&g.finish("trunk", &named, &[])))?;

    let mut adapted = vec![stage_info(names[first], &feature)?];
    let mut later_stages = Vec::new();
    let mut routing_dim = feature.shape[1];
    for (k, &stage_name) in names
        .iter()
        .enumerate()
        .take(plan.last() + 1)
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
    writer.add_file(
        HEAD_GRAPH,
        &bytes(&g.finish("head", &[(MAP, &map), (SCORE, &score)], &[])),
    )?;

    Ok(Shared {
        trunk: trunk_info,
        preset: plan.name.clone(),
        routing_stage: names[plan.last()].to_string(),
        routing_dim,
        adapted,
        later_stages,
    })
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
    for (adapter, stage) in product.adapters.iter().zip(&shared.adapted) {
        let path = adapter_graph_path(&product.name, &stage.name);
        let entry = writer.add_file(&path, &bytes(&adapter_graph(adapter, stage)?))?;
        total += entry.bytes;
        adapters.push(path);
    }
    let c = &product.calibration;
    Ok(Product {
        name: product.name.clone(),
        prototype: c.prototype.clone(),
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
        trunk: shared.trunk.clone(),
        preset: shared.preset.clone(),
        adapted: shared.adapted.clone(),
        later_stages: shared.later_stages.clone(),
        trunk_graph: TRUNK_GRAPH.into(),
        head_graph: HEAD_GRAPH.into(),
        routing_stage: shared.routing_stage.clone(),
        routing_dim: shared.routing_dim,
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

/// Reads an adapter back from its graph (the inverse of [`adapter_graph`]), for scoring a
/// bundle with candle. INT8 weights are dequantised exactly as the graph does.
pub fn read_adapter(model: &onnx::proto::ModelProto, stage: &str) -> Result<Adapter> {
    use crate::model::nn::{Conv2d, Padding};
    use candle_core::{Device, Tensor};
    use onnx::proto::data_type;

    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::Onnx("adapter model has no graph".into()))?;
    let find = |name: &str| graph.initializer.iter().find(|t| t.name == name);
    let floats = |t: &onnx::proto::TensorProto| -> Vec<f32> {
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let conv = |suffix: &str| -> Result<Conv2d> {
        let name = format!("{stage}.{suffix}");
        let missing = |what: &str| Error::Onnx(format!("adapter graph lacks `{name}.{what}`"));
        let bias = find(&format!("{name}.bias")).ok_or_else(|| missing("bias"))?;
        let (dims, values, scales) = if let Some(w) = find(&format!("{name}.weight")) {
            (w.dims.clone(), floats(w), None)
        } else {
            let q = find(&format!("{name}.weight_int8")).ok_or_else(|| missing("weight"))?;
            let s = floats(
                find(&format!("{name}.weight_scale")).ok_or_else(|| missing("weight_scale"))?,
            );
            if q.data_type != data_type::INT8 {
                return Err(Error::Onnx(format!("{name}.weight_int8 is not INT8")));
            }
            let per = q.raw_data.len() / s.len().max(1);
            let values = q
                .raw_data
                .iter()
                .enumerate()
                .map(|(i, &b)| f32::from(b as i8) * s[i / per])
                .collect();
            (q.dims.clone(), values, Some(s))
        };
        let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        Ok(Conv2d {
            name: name.clone(),
            weight: Tensor::from_vec(values, dims.as_slice(), &Device::Cpu)?,
            bias: Some(Tensor::from_vec(floats(bias), dims[0], &Device::Cpu)?),
            stride: 1,
            padding: Padding::Symmetric(0),
            groups: 1,
            int8_scales: scales,
        })
    };
    Ok(Adapter {
        conv1: conv("conv1")?,
        conv2: conv("conv2")?,
    })
}
