//! ONNX export: a [`Graph`] backend that records nodes instead of computing.
//!
//! Running a model's forward pass on [`OnnxGraph`] yields the same computation as a graph of
//! standard ONNX operators (opset [`OPSET`]). Parameters become initializers named by their
//! checkpoint keys. Shapes are tracked per value (batch symbolic), which also gives the
//! multiply-accumulate count of the graph.

pub mod proto;

use std::collections::HashSet;

use adapts_runtime::bundle::manifest::MACS_KEY;
use candle_core::{DType, Tensor};
use prost::Message;

use crate::model::graph::{interpolation_matrix, Graph, NORM_EPS};
use crate::model::nn::{BatchNorm2d, Conv2d, Linear};
use crate::{Error, Result};
use proto::*;

/// Operator set the exporter targets.
pub const OPSET: i64 = 17;
/// IR version matching [`OPSET`] (ONNX 1.12+).
pub const IR_VERSION: i64 = 8;
/// Name of the symbolic batch dimension.
pub const BATCH_DIM: &str = "batch";

/// A named value in the graph under construction. `shape[0]` is the symbolic batch (kept as 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// Tensor name in the ONNX graph (input, initializer or node output).
    pub name: String,
    /// Traced shape; `shape[0]` stands for the symbolic batch and is kept as 1.
    pub shape: Vec<usize>,
}

/// Records a forward pass as ONNX nodes.
#[derive(Debug, Default)]
pub struct OnnxGraph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    initializer_names: HashSet<String>,
    inputs: Vec<Value>,
    next_id: usize,
    macs: u64,
}

impl OnnxGraph {
    /// `rows x X x cols_t` per channel (two MatMuls), `x` of `[n, c, h, w]` to
    /// `[n, c, height, width]`, counting its multiply-accumulates.
    fn row_column_product(
        &mut self,
        x: &Value,
        rows: String,
        cols_t: String,
        height: usize,
        width: usize,
    ) -> Value {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        self.macs += (c * height * h * w + c * height * w * width) as u64;
        let y = self.node(
            "MatMul",
            vec![rows, x.name.clone()],
            vec![],
            vec![n, c, height, w],
        );
        self.node(
            "MatMul",
            vec![y.name, cols_t],
            vec![],
            vec![n, c, height, width],
        )
    }

    /// An empty graph: no inputs, nodes or initializers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a graph input; `shape[0]` is exported as the symbolic batch dimension.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> Value {
        let v = Value {
            name: name.to_string(),
            shape: shape.to_vec(),
        };
        self.inputs.push(v.clone());
        v
    }

    /// Multiply-accumulates per image of everything recorded so far.
    pub fn macs(&self) -> u64 {
        self.macs
    }

    /// Closes the graph with named outputs (an `Identity` per output). The metadata gets
    /// [`MACS_KEY`] besides `metadata`.
    pub fn finish(
        mut self,
        graph_name: &str,
        outputs: &[(&str, &Value)],
        metadata: &[(&str, String)],
    ) -> ModelProto {
        let mut output_infos = Vec::with_capacity(outputs.len());
        for (name, value) in outputs {
            self.nodes.push(NodeProto {
                input: vec![value.name.clone()],
                output: vec![name.to_string()],
                name: format!("output/{name}"),
                op_type: "Identity".into(),
                ..Default::default()
            });
            output_infos.push(value_info(name, &value.shape));
        }
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "adapts-builder".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: String::new(),
            graph: Some(GraphProto {
                node: self.nodes,
                name: graph_name.to_string(),
                initializer: self.initializers,
                input: self
                    .inputs
                    .iter()
                    .map(|v| value_info(&v.name, &v.shape))
                    .collect(),
                output: output_infos,
            }),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .chain([(MACS_KEY.to_string(), self.macs.to_string())])
                .map(|(key, value)| StringStringEntryProto { key, value })
                .collect(),
        }
    }

    fn initializer(&mut self, name: &str, tensor: &Tensor) -> Result<String> {
        if self.initializer_names.insert(name.to_string()) {
            let data = tensor
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            self.initializers.push(TensorProto {
                dims: tensor.dims().iter().map(|&d| d as i64).collect(),
                data_type: data_type::FLOAT,
                name: name.to_string(),
                raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            });
        }
        Ok(name.to_string())
    }

    fn scalar(&mut self, name: &str, value: f32) -> Result<String> {
        if self.initializer_names.insert(name.to_string()) {
            self.initializers.push(TensorProto {
                dims: vec![],
                data_type: data_type::FLOAT,
                name: name.to_string(),
                raw_data: value.to_le_bytes().to_vec(),
            });
        }
        Ok(name.to_string())
    }

    /// INT8 weight initializer + per-channel scale + `DequantizeLinear` (axis 0). The weight
    /// tensor must hold `q * scale` exactly; `q` is recovered by rounding.
    fn dequantized_weight(
        &mut self,
        name: &str,
        weight: &Tensor,
        scales: &[f32],
    ) -> Result<String> {
        let dims = weight.dims().to_vec();
        let per_channel = weight.elem_count() / dims[0];
        let values = weight.flatten_all()?.to_vec1::<f32>()?;
        let mut q = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let s = scales[i / per_channel];
            let level = (v / s).round();
            if !(-128.0..=127.0).contains(&level) || (level * s - v).abs() > 1e-6 * v.abs().max(s) {
                return Err(Error::Onnx(format!(
                    "{name}.weight[{i}] = {v} is not an INT8 level of scale {s}"
                )));
            }
            q.push(level as i8);
        }
        let q_name = format!("{name}.weight_int8");
        let s_name = format!("{name}.weight_scale");
        let z_name = format!("{name}.weight_zero_point");
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type::INT8,
            name: q_name.clone(),
            raw_data: q.iter().map(|&v| v as u8).collect(),
        });
        self.initializers.push(TensorProto {
            dims: vec![scales.len() as i64],
            data_type: data_type::FLOAT,
            name: s_name.clone(),
            raw_data: scales.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        self.initializers.push(TensorProto {
            dims: vec![scales.len() as i64],
            data_type: data_type::INT8,
            name: z_name.clone(),
            raw_data: vec![0u8; scales.len()],
        });
        let deq = self.node(
            "DequantizeLinear",
            vec![q_name, s_name, z_name],
            vec![int("axis", 0)],
            dims,
        );
        Ok(deq.name)
    }

    /// A constant `rows x cols` matrix initializer, built once per name.
    fn matrix(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
        build: impl FnOnce(usize, usize) -> Vec<f32>,
    ) -> Result<String> {
        if self.initializer_names.insert(name.to_string()) {
            let data = build(rows, cols);
            self.initializers.push(TensorProto {
                dims: vec![rows as i64, cols as i64],
                data_type: data_type::FLOAT,
                name: name.to_string(),
                raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            });
        }
        Ok(name.to_string())
    }

    fn node(
        &mut self,
        op_type: &str,
        inputs: Vec<String>,
        attribute: Vec<AttributeProto>,
        shape: Vec<usize>,
    ) -> Value {
        self.next_id += 1;
        let name = format!("{op_type}_{}", self.next_id);
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![name.clone()],
            name: name.clone(),
            op_type: op_type.into(),
            attribute,
            domain: String::new(),
        });
        Value { name, shape }
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: value,
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f: value,
        ..Default::default()
    }
}

fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| Dimension {
            value: Some(if i == 0 {
                dimension::Value::DimParam(BATCH_DIM.into())
            } else {
                dimension::Value::DimValue(d as i64)
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

fn same_shape(op: &str, a: &Value, b: &Value) -> Result<()> {
    if a.shape == b.shape {
        Ok(())
    } else {
        Err(Error::Onnx(format!(
            "{op} of {} {:?} and {} {:?}",
            a.name, a.shape, b.name, b.shape
        )))
    }
}

/// Row-major transpose of a `rows x cols` matrix.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

fn dims4(v: &Value) -> Result<[usize; 4]> {
    v.shape.as_slice().try_into().map_err(|_| {
        Error::Onnx(format!(
            "{}: expected a 4-D value, got {:?}",
            v.name, v.shape
        ))
    })
}

impl Graph for OnnxGraph {
    type Value = Value;

    fn conv2d(&mut self, x: &Value, conv: &Conv2d) -> Result<Value> {
        let [n, _, h, w] = dims4(x)?;
        let [top, left, bottom, right] = conv.pads(h, w);
        let (oh, ow) = conv.output_size(h, w);
        let k = conv.kernel();
        let weight = match &conv.int8_scales {
            Some(scales) => self.dequantized_weight(&conv.name, &conv.weight, scales)?,
            None => self.initializer(&format!("{}.weight", conv.name), &conv.weight)?,
        };
        let mut inputs = vec![x.name.clone(), weight];
        if let Some(b) = &conv.bias {
            inputs.push(self.initializer(&format!("{}.bias", conv.name), b)?);
        }
        let out_c = conv.out_channels();
        self.macs += (conv.weight.elem_count() * oh * ow) as u64;
        Ok(self.node(
            "Conv",
            inputs,
            vec![
                ints("kernel_shape", &[k, k]),
                ints("strides", &[conv.stride, conv.stride]),
                ints("pads", &[top, left, bottom, right]),
                ints("dilations", &[1, 1]),
                int("group", conv.groups as i64),
            ],
            vec![n, out_c, oh, ow],
        ))
    }

    fn batch_norm(&mut self, x: &Value, bn: &BatchNorm2d) -> Result<Value> {
        let inputs = vec![
            x.name.clone(),
            self.initializer(&format!("{}.weight", bn.name), &bn.weight)?,
            self.initializer(&format!("{}.bias", bn.name), &bn.bias)?,
            self.initializer(&format!("{}.running_mean", bn.name), &bn.running_mean)?,
            self.initializer(&format!("{}.running_var", bn.name), &bn.running_var)?,
        ];
        Ok(self.node(
            "BatchNormalization",
            inputs,
            vec![float("epsilon", bn.eps as f32)],
            x.shape.clone(),
        ))
    }

    fn linear(&mut self, x: &Value, lin: &Linear) -> Result<Value> {
        let (out_f, in_f) = lin.weight.dims2()?;
        let mut inputs = vec![
            x.name.clone(),
            self.initializer(&format!("{}.weight", lin.name), &lin.weight)?,
        ];
        if let Some(b) = &lin.bias {
            inputs.push(self.initializer(&format!("{}.bias", lin.name), b)?);
        }
        self.macs += (in_f * out_f) as u64;
        Ok(self.node(
            "Gemm",
            inputs,
            vec![int("transB", 1)],
            vec![x.shape[0], out_f],
        ))
    }

    fn relu(&mut self, x: &Value) -> Result<Value> {
        Ok(self.node("Relu", vec![x.name.clone()], vec![], x.shape.clone()))
    }

    fn relu6(&mut self, x: &Value) -> Result<Value> {
        let lo = self.scalar("const.zero", 0.0)?;
        let hi = self.scalar("const.six", 6.0)?;
        Ok(self.node(
            "Clip",
            vec![x.name.clone(), lo, hi],
            vec![],
            x.shape.clone(),
        ))
    }

    fn add(&mut self, a: &Value, b: &Value) -> Result<Value> {
        same_shape("Add", a, b)?;
        Ok(self.node(
            "Add",
            vec![a.name.clone(), b.name.clone()],
            vec![],
            a.shape.clone(),
        ))
    }

    fn max_pool2d(&mut self, x: &Value, kernel: usize, stride: usize, pad: usize) -> Result<Value> {
        let [n, c, h, w] = dims4(x)?;
        let out = |s: usize| (s + 2 * pad - kernel) / stride + 1;
        Ok(self.node(
            "MaxPool",
            vec![x.name.clone()],
            vec![
                ints("kernel_shape", &[kernel, kernel]),
                ints("strides", &[stride, stride]),
                ints("pads", &[pad, pad, pad, pad]),
            ],
            vec![n, c, out(h), out(w)],
        ))
    }

    fn sub(&mut self, a: &Value, b: &Value) -> Result<Value> {
        same_shape("Sub", a, b)?;
        Ok(self.node(
            "Sub",
            vec![a.name.clone(), b.name.clone()],
            vec![],
            a.shape.clone(),
        ))
    }

    fn mul(&mut self, a: &Value, b: &Value) -> Result<Value> {
        same_shape("Mul", a, b)?;
        Ok(self.node(
            "Mul",
            vec![a.name.clone(), b.name.clone()],
            vec![],
            a.shape.clone(),
        ))
    }

    fn l2_normalize_channels(&mut self, x: &Value) -> Result<Value> {
        let [n, _, h, w] = dims4(x)?;
        let norm = self.node(
            "ReduceL2",
            vec![x.name.clone()],
            vec![ints("axes", &[1]), int("keepdims", 1)],
            vec![n, 1, h, w],
        );
        let eps = self.scalar("const.norm_eps", NORM_EPS)?;
        let floor = self.node("Max", vec![norm.name, eps], vec![], vec![n, 1, h, w]);
        Ok(self.node(
            "Div",
            vec![x.name.clone(), floor.name],
            vec![],
            x.shape.clone(),
        ))
    }

    fn sum_square_channels(&mut self, x: &Value) -> Result<Value> {
        let [n, _, h, w] = dims4(x)?;
        Ok(self.node(
            "ReduceSumSquare",
            vec![x.name.clone()],
            vec![ints("axes", &[1]), int("keepdims", 1)],
            vec![n, 1, h, w],
        ))
    }

    fn resize_bilinear(&mut self, x: &Value, height: usize, width: usize) -> Result<Value> {
        let [_, _, h, w] = dims4(x)?;
        if (h, w) == (height, width) {
            return Ok(x.clone());
        }
        let rows = self.matrix(&format!("resize.rows_{height}x{h}"), height, h, |o, i| {
            interpolation_matrix(o, i)
        })?;
        let cols_t = self.matrix(&format!("resize.cols_t_{w}x{width}"), w, width, |i, o| {
            transpose(&interpolation_matrix(o, i), o, i)
        })?;
        Ok(self.row_column_product(x, rows, cols_t, height, width))
    }

    fn max_per_image(&mut self, x: &Value) -> Result<Value> {
        let axes: Vec<usize> = (1..x.shape.len()).collect();
        Ok(self.node(
            "ReduceMax",
            vec![x.name.clone()],
            vec![ints("axes", &axes), int("keepdims", 0)],
            vec![x.shape[0]],
        ))
    }

    fn avg_pool3x3(&mut self, x: &Value) -> Result<Value> {
        dims4(x)?;
        Ok(self.node(
            "AveragePool",
            vec![x.name.clone()],
            vec![
                ints("kernel_shape", &[3, 3]),
                ints("strides", &[1, 1]),
                ints("pads", &[1, 1, 1, 1]),
                int("count_include_pad", 0),
            ],
            x.shape.clone(),
        ))
    }

    fn concat(&mut self, xs: &[Value]) -> Result<Value> {
        let first = xs
            .first()
            .ok_or_else(|| Error::Onnx("Concat of no values".into()))?;
        let mut shape = first.shape.clone();
        shape[1] = 0;
        for x in xs {
            if x.shape.len() != shape.len()
                || x.shape
                    .iter()
                    .enumerate()
                    .any(|(i, &d)| i != 1 && d != shape[i])
            {
                return Err(Error::Onnx(format!(
                    "Concat of {} {:?} with {:?}",
                    x.name, x.shape, first.shape
                )));
            }
            shape[1] += x.shape[1];
        }
        Ok(self.node(
            "Concat",
            xs.iter().map(|x| x.name.clone()).collect(),
            vec![int("axis", 1)],
            shape,
        ))
    }

    fn softplus(&mut self, x: &Value) -> Result<Value> {
        Ok(self.node("Softplus", vec![x.name.clone()], vec![], x.shape.clone()))
    }

    fn affine(&mut self, x: &Value, name: &str, scale: &Tensor, shift: &Tensor) -> Result<Value> {
        let scale = self.initializer(&format!("{name}.scale"), scale)?;
        let shift = self.initializer(&format!("{name}.shift"), shift)?;
        let y = self.node("Mul", vec![x.name.clone(), scale], vec![], x.shape.clone());
        Ok(self.node("Add", vec![y.name, shift], vec![], x.shape.clone()))
    }

    fn separable(
        &mut self,
        x: &Value,
        name: &str,
        rows: &[f32],
        cols: &[f32],
        height: usize,
        width: usize,
    ) -> Result<Value> {
        let [_, _, h, w] = dims4(x)?;
        if rows.len() != height * h || cols.len() != width * w {
            return Err(Error::Onnx(format!(
                "{name}: matrices of {} and {} values for {h}x{w} -> {height}x{width}",
                rows.len(),
                cols.len()
            )));
        }
        let rows = self.matrix(&format!("{name}.rows"), height, h, |_, _| rows.to_vec())?;
        let cols_t = self.matrix(&format!("{name}.cols_t"), w, width, |_, _| {
            transpose(cols, width, w)
        })?;
        Ok(self.row_column_product(x, rows, cols_t, height, width))
    }

    fn global_avg_pool(&mut self, x: &Value) -> Result<Value> {
        let [n, c, _, _] = dims4(x)?;
        let pooled = self.node(
            "GlobalAveragePool",
            vec![x.name.clone()],
            vec![],
            vec![n, c, 1, 1],
        );
        Ok(self.node(
            "Flatten",
            vec![pooled.name],
            vec![int("axis", 1)],
            vec![n, c],
        ))
    }
}

/// Serialises a model to protobuf bytes.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Parses protobuf bytes (any ONNX model; fields outside [`proto`] are skipped).
pub fn decode(bytes: &[u8]) -> Result<ModelProto> {
    ModelProto::decode(bytes).map_err(|e| Error::Onnx(format!("not an ONNX model: {e}")))
}
