//! A product map's INT8 twin: which of its convolutions are quantized, the map fitted again
//! on an INT8 trunk's features, and its per-location statistics measured through the twin.

use adapts_runtime::bundle::manifest::FEATURES_IN;
use adapts_runtime::{OrtSession, SessionConfig};

use crate::export::onnx;
use crate::export::onnx::proto::ModelProto;
use crate::quant::chain::{take, Pass};
use crate::quant::ConvRule;
use crate::train::calibrate::quantize_map;
use crate::train::local::{set_location_statistics, train_map};
use crate::train::teacher::to_candle;
use crate::train::TrainConfig;
use crate::{Error, Result};

/// A product map: `conv1` (features to the adapter's hidden layer) in integers; `conv2`
/// (the disagreement `e`, which is squared next and grows with abnormality) with integer
/// inputs and a float output; the `C -> 1` head, which weighs `e^2`, in FP32.
pub(super) fn map_policy(weight: &str, dims: &[i64]) -> ConvRule {
    if dims.first() == Some(&1) || weight.starts_with("map.head") {
        ConvRule::Float
    } else if weight.starts_with("map.conv2") {
        ConvRule::Int8FloatOutput
    } else {
        ConvRule::Int8
    }
}

/// A product map trained on `train` (the device's features of its training images, and
/// `anomalous`, those of the synthetic anomalies' covered locations) as the training run
/// would, INT8 weights and per-location statistics included, traced to ONNX.
/// The `index`-th product's seed is the run's seed plus `index`, as in training; the map
/// keeps the hidden width of the bundle's FP32 map `fp32`, whatever `config` says.
pub(super) fn refit_map(
    train: &[Pass],
    anomalous: &[f32],
    features: &adapts_runtime::bundle::manifest::StageInfo,
    fp32: &ModelProto,
    config: &TrainConfig,
    index: u64,
) -> Result<ModelProto> {
    let hidden = crate::export::read::read_map(fp32)?.conv1.weight.dim(0)?;
    let tensors = train
        .iter()
        .map(|p| to_candle(&p.features))
        .collect::<Result<Vec<_>>>()?;
    let all = candle_core::Tensor::cat(&tensors, 0)?;
    let mut config = TrainConfig {
        seed: config.seed.wrapping_add(index),
        ..config.clone()
    };
    config.local.hidden = Some(hidden);
    let mut map = train_map(&all, anomalous, &config.local, &config, "map")?.map;
    quantize_map(&mut map)?;
    set_location_statistics(
        &mut map,
        &all,
        config.local.location_prior,
        config.local.per_location,
    )?;
    crate::export::bundle::map_graph(&map, features)
}

/// Replaces the per-location normalisation of a product map's INT8 twin `model` by one
/// measured on `train` (the device's features of the product's training images), through
/// the twin itself: quantization moves the raw disagreement, and the FP32 statistics would
/// read that shift as a defect everywhere. A map trained without per-location statistics
/// (all scales equal) keeps map-wide ones.
pub(super) fn renormalize_map(
    model: &mut ModelProto,
    original: &ModelProto,
    train: &[Pass],
) -> Result<()> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::Quantization("map twin without a graph".into()))?;
    let affine = graph
        .node
        .iter()
        .find(|n| n.op_type == "Mul" && n.input.iter().any(|i| i == PIXEL_SCALE))
        .ok_or_else(|| Error::Quantization(format!("the map has no `{PIXEL_SCALE}` product")))?;
    let raw = affine
        .input
        .iter()
        .find(|i| *i != PIXEL_SCALE)
        .cloned()
        .unwrap_or_default();
    let per_location = original
        .graph
        .as_ref()
        .and_then(|g| crate::quant::graph::float_initializer(g, PIXEL_SCALE))
        .is_some_and(|(_, v)| v.iter().any(|&x| x != v[0]));

    let mut probe = model.clone();
    let g = crate::quant::graph::graph_mut(&mut probe, "map twin")?;
    g.output.push(crate::quant::observe::float_output(&raw));
    let scratch = tempfile::tempdir()?;
    let path = scratch.path().join("map.onnx");
    std::fs::write(&path, onnx::encode(&probe))?;
    let mut session = OrtSession::load(&path, &SessionConfig::default())?;
    let mut values = Vec::new();
    let mut locations = 0;
    for pass in train {
        let d = take(session.run(&[(FEATURES_IN, &pass.features)])?, &raw)?;
        locations = d.data.len();
        values.extend(d.data);
    }
    let prior = crate::train::local::LocalConfig::default().location_prior;
    let (scale, shift) =
        crate::train::local::location_statistics(&values, locations, prior, per_location);
    let g = crate::quant::graph::graph_mut(model, "map twin")?;
    for t in &mut g.initializer {
        let values = match t.name.as_str() {
            PIXEL_SCALE => &scale,
            PIXEL_SHIFT => &shift,
            _ => continue,
        };
        if t.raw_data.len() != 4 * values.len() {
            return Err(Error::Quantization(format!(
                "{}: {} statistics for {} values",
                t.name,
                values.len(),
                t.raw_data.len() / 4
            )));
        }
        t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    }
    Ok(())
}

/// Initializers of a product map's per-location normalisation (see
/// [`crate::model::local::ProductMap::forward`]).
const PIXEL_SCALE: &str = "pixel_norm.scale";
const PIXEL_SHIFT: &str = "pixel_norm.shift";
