//! Graph clean-ups before quantization: BatchNormalization folded into the convolution that
//! feeds it, and (for uint8 activations) ReLU/ReLU6 folded into the range of the tensor
//! they alone consume. Both keep the float graph's results: folding BN is exact up to
//! rounding, and a removed activation's clamp is done by the uint8 quantization of a range
//! whose lower end is 0 (and whose upper end, for ReLU6, was observed after the clamp).

use crate::export::onnx::proto::{GraphProto, NodeProto};
use crate::quant::graph::{
    consumers, f32_tensor, float_initializer, is_graph_output, producer, scalar,
};
use crate::{Error, Result};

/// BatchNormalization epsilon when the node carries none (the ONNX default).
const DEFAULT_BN_EPS: f32 = 1e-5;

/// Folds every `Conv -> BatchNormalization` pair whose convolution output feeds only the BN
/// and whose parameters are float initializers. The convolution takes over the BN's output
/// name. Returns how many were folded.
pub fn fold_batch_norms(graph: &mut GraphProto) -> Result<usize> {
    let mut folded = 0;
    loop {
        let Some((conv, bn)) = next_foldable(graph) else {
            return Ok(folded);
        };
        fold_pair(graph, conv, bn)?;
        folded += 1;
    }
}

fn next_foldable(graph: &GraphProto) -> Option<(usize, usize)> {
    graph.node.iter().enumerate().find_map(|(bn, node)| {
        if node.op_type != "BatchNormalization" || node.input.len() != 5 {
            return None;
        }
        let conv = producer(graph, &node.input[0])?;
        let c = &graph.node[conv];
        let single =
            consumers(graph, &node.input[0]).len() == 1 && !is_graph_output(graph, &node.input[0]);
        let params_known = node.input[1..]
            .iter()
            .all(|p| float_initializer(graph, p).is_some())
            && float_initializer(graph, &c.input[1]).is_some();
        (c.op_type == "Conv" && single && params_known).then_some((conv, bn))
    })
}

fn fold_pair(graph: &mut GraphProto, conv: usize, bn: usize) -> Result<()> {
    let bn_node = graph.node[bn].clone();
    let conv_node = graph.node[conv].clone();
    let get = |name: &str| {
        float_initializer(graph, name)
            .map(|(_, v)| v)
            .ok_or_else(|| Error::Quantization(format!("BatchNormalization input {name}")))
    };
    let (gamma, beta, mean, var) = (
        get(&bn_node.input[1])?,
        get(&bn_node.input[2])?,
        get(&bn_node.input[3])?,
        get(&bn_node.input[4])?,
    );
    let eps = bn_node
        .attribute
        .iter()
        .find(|a| a.name == "epsilon")
        .map_or(DEFAULT_BN_EPS, |a| a.f);
    let (w_dims, mut w) = float_initializer(graph, &conv_node.input[1])
        .ok_or_else(|| Error::Quantization(format!("Conv weight {}", conv_node.input[1])))?;
    let out = w_dims[0] as usize;
    if gamma.len() != out || beta.len() != out || mean.len() != out || var.len() != out {
        return Err(Error::Quantization(format!(
            "{}: BatchNormalization of {} channels after a Conv of {out}",
            bn_node.name,
            gamma.len()
        )));
    }
    let mut b = match conv_node.input.get(2).filter(|s| !s.is_empty()) {
        Some(name) => get(name)?,
        None => vec![0.0; out],
    };
    let per = w.len() / out;
    for c in 0..out {
        let k = gamma[c] / (var[c] + eps).sqrt();
        for v in &mut w[c * per..(c + 1) * per] {
            *v *= k;
        }
        b[c] = (b[c] - mean[c]) * k + beta[c];
    }
    let w_name = format!("{}.folded_weight", conv_node.name);
    let b_name = format!("{}.folded_bias", conv_node.name);
    graph.initializer.push(f32_tensor(&w_name, &w_dims, &w));
    graph
        .initializer
        .push(f32_tensor(&b_name, &[out as i64], &b));
    let node = &mut graph.node[conv];
    node.input.truncate(1);
    node.input.push(w_name);
    node.input.push(b_name);
    node.output = bn_node.output.clone();
    graph.node.remove(bn);
    drop_unused_initializers(graph);
    Ok(())
}

/// Folds each ReLU, and each Clip with a lower bound of 0, that alone consumes the output of
/// a Conv or an Add into that output, where `quantized(graph, producer, activation)` says
/// that the output will be quantized (the quantization then does the clamp): the producer
/// takes over the activation's output name.
pub fn fold_activations(
    graph: &mut GraphProto,
    quantized: &dyn Fn(&GraphProto, usize, usize) -> bool,
) -> usize {
    let mut folded = 0;
    while let Some((producer_index, act)) = next_activation(graph, quantized) {
        let output = graph.node[act].output[0].clone();
        graph.node[producer_index].output[0] = output;
        graph.node.remove(act);
        folded += 1;
    }
    drop_unused_initializers(graph);
    folded
}

fn next_activation(
    graph: &GraphProto,
    quantized: &dyn Fn(&GraphProto, usize, usize) -> bool,
) -> Option<(usize, usize)> {
    graph.node.iter().enumerate().find_map(|(k, n)| {
        if !is_lower_clamp_at_zero(graph, n) {
            return None;
        }
        let p = producer(graph, &n.input[0])?;
        let kind = graph.node[p].op_type.as_str();
        let single =
            consumers(graph, &n.input[0]).len() == 1 && !is_graph_output(graph, &n.input[0]);
        (matches!(kind, "Conv" | "Add") && single && quantized(graph, p, k)).then_some((p, k))
    })
}

fn is_lower_clamp_at_zero(graph: &GraphProto, n: &NodeProto) -> bool {
    match n.op_type.as_str() {
        "Relu" => true,
        "Clip" => n
            .input
            .get(1)
            .and_then(|lo| scalar(graph, lo))
            .is_some_and(|lo| lo == 0.0),
        _ => false,
    }
}

/// Removes initializers no node reads any more.
pub fn drop_unused_initializers(graph: &mut GraphProto) {
    let used: std::collections::HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .collect();
    graph.initializer.retain(|t| used.contains(&t.name));
}
