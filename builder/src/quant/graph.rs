//! Small queries and builders over an ONNX [`GraphProto`]: who produces and who consumes a
//! tensor, float initializers, and typed initializer constructors.

use crate::export::onnx::proto::{data_type, GraphProto, NodeProto, TensorProto};
use crate::{Error, Result};

/// ONNX element type of uint8 tensors.
pub const UINT8: i32 = 2;
/// ONNX element type of int32 tensors.
pub const INT32: i32 = 6;

/// Index of the node producing `tensor`.
pub fn producer(graph: &GraphProto, tensor: &str) -> Option<usize> {
    graph
        .node
        .iter()
        .position(|n| n.output.iter().any(|o| o == tensor))
}

/// Indices of the nodes reading `tensor`.
pub fn consumers(graph: &GraphProto, tensor: &str) -> Vec<usize> {
    graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.input.iter().any(|i| i == tensor))
        .map(|(k, _)| k)
        .collect()
}

/// Whether `tensor` is one of the graph's declared outputs.
pub fn is_graph_output(graph: &GraphProto, tensor: &str) -> bool {
    graph.output.iter().any(|o| o.name == tensor)
}

/// Whether `tensor` is an initializer.
pub fn is_initializer(graph: &GraphProto, tensor: &str) -> bool {
    graph.initializer.iter().any(|t| t.name == tensor)
}

/// The dims and values of a float initializer.
pub fn float_initializer(graph: &GraphProto, name: &str) -> Option<(Vec<i64>, Vec<f32>)> {
    let t = graph
        .initializer
        .iter()
        .find(|t| t.name == name && t.data_type == data_type::FLOAT)?;
    let values = t
        .raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Some((t.dims.clone(), values))
}

/// The value of a float scalar (or one-element) initializer.
pub fn scalar(graph: &GraphProto, name: &str) -> Option<f32> {
    let (_, v) = float_initializer(graph, name)?;
    (v.len() == 1).then(|| v[0])
}

/// A float initializer.
pub fn f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        name: name.to_string(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// An integer initializer of ONNX element type `data_type` (INT8, UINT8 or INT32), values
/// already in range.
pub fn int_tensor(name: &str, dims: &[i64], data_type: i32, values: &[i32]) -> TensorProto {
    let raw_data = match data_type {
        INT32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        _ => values.iter().map(|&v| v as u8).collect(),
    };
    TensorProto {
        dims: dims.to_vec(),
        data_type,
        name: name.to_string(),
        raw_data,
    }
}

/// A node with no attributes.
pub fn plain_node(op_type: &str, name: String, inputs: Vec<String>, output: String) -> NodeProto {
    NodeProto {
        input: inputs,
        output: vec![output],
        name,
        op_type: op_type.into(),
        attribute: Vec::new(),
        domain: String::new(),
    }
}

/// The graph of a model, or an error naming `what`.
pub fn graph_mut<'a>(
    model: &'a mut crate::export::onnx::proto::ModelProto,
    what: &str,
) -> Result<&'a mut GraphProto> {
    model
        .graph
        .as_mut()
        .ok_or_else(|| Error::Quantization(format!("{what}: the model has no graph")))
}
