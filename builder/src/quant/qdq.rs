//! Placing QuantizeLinear/DequantizeLinear pairs: which tensors get one ([`prepare`]) and
//! the rewrite with observed parameters ([`apply`]).

use std::collections::{HashMap, HashSet};

use adapts_calibration::{quantize_per_channel, PerChannelMinMaxObserver, QuantParams, Quantized};

use crate::export::onnx::proto::{data_type, AttributeProto, GraphProto, ModelProto, NodeProto};
use crate::quant::fold::{drop_unused_initializers, fold_activations, fold_batch_norms};
use crate::quant::graph::{
    consumers, f32_tensor, float_initializer, graph_mut, int_tensor, is_graph_output,
    is_initializer, plain_node, producer, INT32, UINT8,
};
use crate::quant::Scheme;
use crate::{Error, Result};

/// A graph made ready for quantization.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The float graph the observer runs: BatchNorm folded, activations still in place.
    pub observed: ModelProto,
    /// The graph the pairs go into: `observed` with ReLU/ReLU6 folded (uint8 scheme).
    target: ModelProto,
    /// Tensors that get a pair, in graph order, each with the tensor whose parameters it
    /// shares (itself, or a MaxPool's input for its output).
    tensors: Vec<(String, String)>,
    /// Convolutions whose weights and bias become integers.
    convs: Vec<String>,
    /// Of those, the ones whose output stays float (no pair after them).
    float_outputs: Vec<String>,
    scheme: Scheme,
}

impl Prepared {
    /// Names of the tensors whose ranges must be observed.
    pub fn calibrated_tensors(&self) -> Vec<&str> {
        self.tensors
            .iter()
            .filter(|(t, source)| t == source)
            .map(|(t, _)| t.as_str())
            .collect()
    }

    /// Number of tensors that get a Q/DQ pair.
    pub fn pair_count(&self) -> usize {
        self.tensors.len()
    }

    /// Number of convolutions with integer weights.
    pub fn conv_count(&self) -> usize {
        self.convs.len()
    }

    /// Number of those whose output stays float.
    pub fn float_output_count(&self) -> usize {
        self.float_outputs.len()
    }
}

/// How one convolution is quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvRule {
    /// Input, weights, bias and output in integers.
    Int8,
    /// Input, weights and bias in integers, the output float: for a value whose range grows
    /// with abnormality, which a range observed on normal images would clip.
    Int8FloatOutput,
    /// Left in FP32.
    Float,
}

/// Which [`ConvRule`] a convolution gets, from the name of its weight initializer (the INT8
/// one when the weight is already dequantized in the graph) and the weight's dims
/// `[out, in / groups, kh, kw]`.
pub type ConvPolicy<'a> = &'a dyn Fn(&str, &[i64]) -> ConvRule;

/// Every convolution in integers.
pub fn all_int8(_: &str, _: &[i64]) -> ConvRule {
    ConvRule::Int8
}

/// Folds the graph and chooses the tensors to quantize: the activation inputs and the outputs
/// of every Conv (as `policy` says), Add and MaxPool.
pub fn prepare(model: &ModelProto, scheme: Scheme, policy: ConvPolicy) -> Result<Prepared> {
    let mut observed = model.clone();
    fold_batch_norms(graph_mut(&mut observed, "quantization")?)?;
    let mut target = observed.clone();
    let graph = graph_mut(&mut target, "quantization")?;
    // A tensor the graph returns keeps its float range: on a defect it may leave the range
    // observed on normal images, and the next graph (or the score) needs that excess.
    let returned: HashSet<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Identity" && is_graph_output(graph, &n.output[0]))
        .map(|n| n.input[0].clone())
        .collect();
    let rule_of = |g: &GraphProto, conv: &NodeProto| -> ConvRule {
        match weight_source(g, &conv.input[1]) {
            Some(_) if is_initializer(g, &conv.input[0]) => ConvRule::Float,
            Some((weight, dims)) => policy(&weight, &dims),
            None => ConvRule::Float,
        }
    };
    // What an FP32 convolution reads stays float: fed a dequantized tensor, ONNX Runtime
    // quantizes the convolution's float weights itself, per tensor, which ruins a depthwise
    // layer.
    let read_by_float: HashSet<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Conv" && rule_of(graph, n) == ConvRule::Float)
        .map(|n| n.input[0].clone())
        .collect();
    if scheme == Scheme::Uint8 {
        // Only where the output gets a pair: its quantization does the clamp.
        fold_activations(graph, &|g, p, a| {
            let producer = &g.node[p];
            let out = &g.node[a].output[0];
            !returned.contains(out)
                && !read_by_float.contains(out)
                && match producer.op_type.as_str() {
                    "Conv" => rule_of(g, producer) == ConvRule::Int8,
                    "Add" => producer.input.iter().all(|i| !is_initializer(g, i)),
                    _ => false,
                }
        });
    }
    let mut tensors: Vec<(String, String)> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |t: &str, source: &str, tensors: &mut Vec<(String, String)>| {
        if !read_by_float.contains(t) && seen.insert(t.to_string()) {
            tensors.push((t.to_string(), source.to_string()));
        }
    };
    let mut convs = Vec::new();
    let mut float_outputs = Vec::new();
    for node in &graph.node {
        match node.op_type.as_str() {
            "Conv" => {
                let rule = rule_of(graph, node);
                if rule == ConvRule::Float {
                    continue;
                }
                add(&node.input[0], &node.input[0], &mut tensors);
                let out = &node.output[0];
                if rule == ConvRule::Int8 && !returned.contains(out) && !read_by_float.contains(out)
                {
                    add(&node.output[0], &node.output[0], &mut tensors);
                } else {
                    float_outputs.push(node.name.clone());
                }
                convs.push(node.name.clone());
            }
            "Add" if node.input.iter().all(|i| !is_initializer(graph, i)) => {
                for i in &node.input {
                    add(i, i, &mut tensors);
                }
                let out = &node.output[0];
                if !returned.contains(out) && !read_by_float.contains(out) {
                    add(out, out, &mut tensors);
                }
            }
            "MaxPool" => {
                add(&node.input[0], &node.input[0], &mut tensors);
                let source = tensors
                    .iter()
                    .find(|(t, _)| *t == node.input[0])
                    .map(|(_, s)| s.clone())
                    .unwrap_or_else(|| node.input[0].clone());
                add(&node.output[0], &source, &mut tensors);
            }
            _ => {}
        }
    }
    Ok(Prepared {
        observed,
        target,
        tensors,
        convs,
        float_outputs,
        scheme,
    })
}

/// The initializer behind a convolution weight (itself, or the INT8 input of the
/// DequantizeLinear producing it) and its dims.
fn weight_source(graph: &GraphProto, weight: &str) -> Option<(String, Vec<i64>)> {
    if let Some((dims, _)) = float_initializer(graph, weight) {
        return Some((weight.to_string(), dims));
    }
    let dq = &graph.node[producer(graph, weight)?];
    if dq.op_type != "DequantizeLinear" {
        return None;
    }
    graph
        .initializer
        .iter()
        .find(|t| t.name == dq.input[0])
        .map(|t| (t.name.clone(), t.dims.clone()))
}

/// Inserts the Q/DQ pairs with `params` (one per calibrated tensor, see
/// [`Prepared::calibrated_tensors`]) and turns the chosen convolutions' weights into
/// per-channel INT8 and their biases into INT32.
pub fn apply(prepared: &Prepared, params: &HashMap<String, QuantParams>) -> Result<ModelProto> {
    let mut model = prepared.target.clone();
    let graph = graph_mut(&mut model, "quantization")?;
    let lookup = |t: &str| {
        params.get(t).copied().ok_or_else(|| {
            Error::Quantization(format!("no calibration parameters for tensor `{t}`"))
        })
    };
    let mut tensor_params: HashMap<String, QuantParams> = HashMap::new();
    for (t, source) in &prepared.tensors {
        let p = lookup(source)?;
        check_scheme(t, &p, prepared.scheme)?;
        tensor_params.insert(t.clone(), p);
    }
    for name in &prepared.convs {
        // A convolution whose output stays float runs as a float one on dequantized weights;
        // the others run integer kernels, whose weights must be of the reduced range.
        let range = if prepared.float_outputs.contains(name) {
            WeightRange::Full
        } else {
            WeightRange::Reduced
        };
        quantize_conv(graph, name, &tensor_params, range)?;
    }
    insert_pairs(graph, &prepared.tensors, &tensor_params);
    drop_unused_initializers(graph);
    Ok(model)
}

fn check_scheme(tensor: &str, p: &QuantParams, scheme: Scheme) -> Result<()> {
    let ok = match scheme {
        Scheme::Uint8 => p.dtype() == adapts_calibration::QuantDtype::Uint8,
        Scheme::Int8 => p.is_symmetric_int8(),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Quantization(format!(
            "tensor `{tensor}`: parameters of type {} do not fit the {scheme} scheme",
            p.dtype()
        )))
    }
}

/// Name suffixes of the pair of `tensor`.
fn dq_name(tensor: &str) -> String {
    format!("{tensor}.dq")
}

fn insert_pairs(
    graph: &mut GraphProto,
    tensors: &[(String, String)],
    params: &HashMap<String, QuantParams>,
) {
    let quantized: HashSet<&str> = tensors.iter().map(|(t, _)| t.as_str()).collect();
    // Every reader of a quantized tensor reads its dequantized copy instead.
    for node in &mut graph.node {
        for input in &mut node.input {
            if quantized.contains(input.as_str()) {
                *input = dq_name(input);
            }
        }
    }
    let pair = |graph: &mut GraphProto, t: &str| -> [NodeProto; 2] {
        let p = params[t];
        let (scale, zero) = (format!("{t}.scale"), format!("{t}.zero_point"));
        let zero_type = match p.dtype() {
            adapts_calibration::QuantDtype::Uint8 => UINT8,
            adapts_calibration::QuantDtype::Int8 => data_type::INT8,
        };
        graph
            .initializer
            .push(f32_tensor(&scale, &[], &[p.scale()]));
        graph
            .initializer
            .push(int_tensor(&zero, &[], zero_type, &[p.zero_point()]));
        let q = format!("{t}.q");
        [
            plain_node(
                "QuantizeLinear",
                format!("{t}/quantize"),
                vec![t.to_string(), scale.clone(), zero.clone()],
                q.clone(),
            ),
            plain_node(
                "DequantizeLinear",
                format!("{t}/dequantize"),
                vec![q, scale, zero],
                dq_name(t),
            ),
        ]
    };
    let inputs: Vec<String> = graph.input.iter().map(|i| i.name.clone()).collect();
    let mut nodes = Vec::with_capacity(graph.node.len() + 2 * tensors.len());
    for t in inputs.iter().filter(|t| quantized.contains(t.as_str())) {
        nodes.extend(pair(graph, t));
    }
    let old = std::mem::take(&mut graph.node);
    for node in old {
        let outputs: Vec<String> = node.output.clone();
        nodes.push(node);
        for o in outputs.iter().filter(|o| quantized.contains(o.as_str())) {
            nodes.extend(pair(graph, o));
        }
    }
    graph.node = nodes;
}

/// The levels a convolution's INT8 weights use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeightRange {
    /// [-127, 127]: weights that only a DequantizeLinear reads.
    Full,
    /// [-63, 63]: weights that ONNX Runtime's integer kernels multiply, which saturate on x86
    /// CPUs without VNNI otherwise (see [`adapts_calibration::REDUCED_WEIGHT_LEVEL`]).
    Reduced,
}

impl WeightRange {
    /// Weights `[out, ...]` as INT8 levels per output channel in this range, and each
    /// channel's scale.
    fn quantize(self, values: &[f32], shape: &[usize]) -> Result<(Vec<i8>, Vec<f32>)> {
        let mut observer = PerChannelMinMaxObserver::new();
        observer.observe(values, shape).map_err(quant_err)?;
        let params = match self {
            WeightRange::Full => observer.symmetric_int8(),
            WeightRange::Reduced => observer.symmetric_int8_reduced(),
        }
        .map_err(quant_err)?;
        match quantize_per_channel(values, shape, &params).map_err(quant_err)? {
            Quantized::Int8(levels) => Ok((levels, params.scales())),
            Quantized::Uint8(_) => unreachable!("symmetric parameters are signed"),
        }
    }
}

/// Weight per output channel to symmetric INT8 behind a DequantizeLinear (axis 0), the bias
/// to INT32 at scale `input scale x weight scale`. A weight already stored as INT8 keeps its
/// levels where `range` allows them, and is quantized again from them otherwise.
fn quantize_conv(
    graph: &mut GraphProto,
    conv_name: &str,
    params: &HashMap<String, QuantParams>,
    range: WeightRange,
) -> Result<()> {
    let position = |graph: &GraphProto| {
        graph
            .node
            .iter()
            .position(|n| n.name == conv_name)
            .ok_or_else(|| Error::Quantization(format!("Conv {conv_name} vanished")))
    };
    let node = graph.node[position(graph)?].clone();
    let input_scale = params
        .get(&node.input[0])
        .map(QuantParams::scale)
        .ok_or_else(|| Error::Quantization(format!("{conv_name}: its input is not quantized")))?;
    let weight_scales = match float_initializer(graph, &node.input[1]) {
        Some((dims, values)) => {
            let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
            let (levels, scales) = range.quantize(&values, &shape)?;
            let ints: Vec<i32> = levels.into_iter().map(i32::from).collect();
            let index = position(graph)?;
            let stored = Stored {
                name: &node.input[1],
                suffix: "int8",
                dims: &dims,
                data_type: data_type::INT8,
            };
            dequantized_input(graph, index, 1, stored, &ints, &scales);
            scales
        }
        None => existing_weight_scales(graph, &node.input[1], range)?,
    };
    if let Some(bias) = node.input.get(2).filter(|b| !b.is_empty()) {
        let (_, values) = float_initializer(graph, bias).ok_or_else(|| {
            Error::Quantization(format!(
                "{conv_name}: bias {bias} is not a float initializer"
            ))
        })?;
        if values.len() != weight_scales.len() {
            return Err(Error::Quantization(format!(
                "{conv_name}: {} bias values for {} output channels",
                values.len(),
                weight_scales.len()
            )));
        }
        let scales: Vec<f32> = weight_scales.iter().map(|s| s * input_scale).collect();
        let ints: Vec<i32> = values
            .iter()
            .zip(&scales)
            .map(|(&b, &s)| {
                (f64::from(b) / f64::from(s))
                    .round()
                    .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
            })
            .collect();
        let index = position(graph)?;
        let stored = Stored {
            name: bias,
            suffix: "int32",
            dims: &[scales.len() as i64],
            data_type: INT32,
        };
        dequantized_input(graph, index, 2, stored, &ints, &scales);
    }
    Ok(())
}

/// An integer initializer that replaces the float one `name`.
struct Stored<'a> {
    name: &'a str,
    suffix: &'a str,
    dims: &'a [i64],
    data_type: i32,
}

/// Stores `ints` as `stored` with per-channel `scales` (zero points 0), and feeds input `slot`
/// of the node at `index` through a DequantizeLinear (axis 0) inserted before it.
fn dequantized_input(
    graph: &mut GraphProto,
    index: usize,
    slot: usize,
    stored: Stored,
    ints: &[i32],
    scales: &[f32],
) {
    let base = stored.name;
    let (qn, sn, zn) = (
        format!("{base}.{}", stored.suffix),
        format!("{base}.scale"),
        format!("{base}.zero_point"),
    );
    let channels = [scales.len() as i64];
    graph
        .initializer
        .push(int_tensor(&qn, stored.dims, stored.data_type, ints));
    graph.initializer.push(f32_tensor(&sn, &channels, scales));
    graph.initializer.push(int_tensor(
        &zn,
        &channels,
        stored.data_type,
        &vec![0; scales.len()],
    ));
    let dq_out = format!("{base}.dq");
    let mut dq = plain_node(
        "DequantizeLinear",
        format!("{base}/dequantize"),
        vec![qn, sn, zn],
        dq_out.clone(),
    );
    dq.attribute.push(axis_zero());
    graph.node.insert(index, dq);
    graph.node[index + 1].input[slot] = dq_out;
}

/// Per-channel scales of a weight that already comes out of a DequantizeLinear. For the
/// reduced range, its INT8 levels are dequantized and quantized again (in place) first.
fn existing_weight_scales(
    graph: &mut GraphProto,
    weight: &str,
    range: WeightRange,
) -> Result<Vec<f32>> {
    let dq = producer(graph, weight)
        .map(|k| graph.node[k].clone())
        .filter(|n| n.op_type == "DequantizeLinear")
        .ok_or_else(|| Error::Quantization(format!("weight {weight}: neither float nor INT8")))?;
    let (scale_dims, scales) = float_initializer(graph, &dq.input[1])
        .ok_or_else(|| Error::Quantization(format!("weight {weight}: scales not found")))?;
    if consumers(graph, weight).len() != 1 {
        return Err(Error::Quantization(format!(
            "weight {weight} is shared between nodes"
        )));
    }
    if range == WeightRange::Full {
        return Ok(scales);
    }
    let levels = graph
        .initializer
        .iter_mut()
        .find(|t| t.name == dq.input[0] && t.data_type == data_type::INT8)
        .ok_or_else(|| Error::Quantization(format!("weight {weight}: INT8 levels not found")))?;
    let shape: Vec<usize> = levels.dims.iter().map(|&d| d as usize).collect();
    let per_channel = levels.raw_data.len() / scales.len().max(1);
    if scales.is_empty() || per_channel * scales.len() != levels.raw_data.len() {
        return Err(Error::Quantization(format!(
            "weight {weight}: {} INT8 levels for {} channel scales",
            levels.raw_data.len(),
            scales.len()
        )));
    }
    let values: Vec<f32> = levels
        .raw_data
        .iter()
        .enumerate()
        .map(|(i, &q)| f32::from(q as i8) * scales[i / per_channel])
        .collect();
    let (ints, scales) = range.quantize(&values, &shape)?;
    levels.raw_data = ints.iter().map(|&q| q as u8).collect();
    if let Some(t) = graph.initializer.iter_mut().find(|t| t.name == dq.input[1]) {
        *t = f32_tensor(&dq.input[1], &scale_dims, &scales);
    }
    Ok(scales)
}

fn axis_zero() -> AttributeProto {
    AttributeProto {
        name: "axis".into(),
        r#type: crate::export::onnx::proto::attribute_type::INT,
        i: 0,
        ..Default::default()
    }
}

fn quant_err(e: adapts_calibration::Error) -> Error {
    Error::Quantization(e.to_string())
}
