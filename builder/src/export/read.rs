//! Reading a product's model back from its exported graph (the inverse of
//! [`super::bundle::adapter_graph`] and [`super::bundle::map_graph`]), for scoring a bundle
//! with candle as an independent reference for the runtime. INT8 weights are dequantised
//! exactly as the graph does.

use candle_core::{Device, Tensor};

use super::onnx::proto::{data_type, GraphProto, ModelProto, TensorProto};
use crate::model::adapter::Adapter;
use crate::model::local::ProductMap;
use crate::model::nn::{Conv2d, Padding};
use crate::{Error, Result};

/// The paper recipe's adapter for `stage` from its graph.
pub fn read_adapter(model: &ModelProto, stage: &str) -> Result<Adapter> {
    let graph = graph(model)?;
    Ok(Adapter {
        conv1: read_conv(graph, &format!("{stage}.conv1"))?,
        conv2: read_conv(graph, &format!("{stage}.conv2"))?,
    })
}

/// A local product map from its graph.
pub fn read_map(model: &ModelProto) -> Result<ProductMap> {
    let graph = graph(model)?;
    let tensor = |name: &str| -> Result<Tensor> {
        let t = find(graph, name)?;
        let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        Ok(Tensor::from_vec(floats(t), dims.as_slice(), &Device::Cpu)?)
    };
    Ok(ProductMap {
        conv1: read_conv(graph, "map.conv1")?,
        conv2: read_conv(graph, "map.conv2")?,
        head: read_conv(graph, "map.head")?,
        pixel_scale: tensor("pixel_norm.scale")?,
        pixel_shift: tensor("pixel_norm.shift")?,
    })
}

fn graph(model: &ModelProto) -> Result<&GraphProto> {
    model
        .graph
        .as_ref()
        .ok_or_else(|| Error::Onnx("the model has no graph".into()))
}

fn find<'a>(graph: &'a GraphProto, name: &str) -> Result<&'a TensorProto> {
    graph
        .initializer
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::Onnx(format!("the graph lacks `{name}`")))
}

fn floats(t: &TensorProto) -> Vec<f32> {
    t.raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A 1x1 convolution with bias named `name`: FP32 weights, or INT8 levels with per-channel
/// scales.
fn read_conv(graph: &GraphProto, name: &str) -> Result<Conv2d> {
    let bias = find(graph, &format!("{name}.bias"))?;
    let float_weight = find(graph, &format!("{name}.weight")).ok();
    let (dims, values, scales) = match float_weight {
        Some(w) => (w.dims.clone(), floats(w), None),
        None => {
            let q = find(graph, &format!("{name}.weight_int8"))?;
            let s = floats(find(graph, &format!("{name}.weight_scale"))?);
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
        }
    };
    let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
    Ok(Conv2d {
        name: name.to_string(),
        weight: Tensor::from_vec(values, dims.as_slice(), &Device::Cpu)?,
        bias: Some(Tensor::from_vec(floats(bias), dims[0], &Device::Cpu)?),
        stride: 1,
        padding: Padding::Symmetric(0),
        groups: 1,
        int8_scales: scales,
    })
}
