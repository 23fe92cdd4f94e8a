//! Observing activations: the prepared float graph, with the tensors of interest added to
//! its outputs, runs in ONNX Runtime over calibration inputs, and every tensor's values go
//! to its own observer.

use std::collections::HashMap;

use adapts_calibration::{CalibrationAlgorithm, CalibrationCache, Observer, QuantParams};
use adapts_runtime::{OrtSession, SessionConfig, Tensor};

use crate::export::onnx::proto::{data_type, TensorTypeProto, TypeProto, ValueInfoProto};
use crate::export::onnx::{self};
use crate::quant::graph::graph_mut;
use crate::quant::{Method, Prepared, Scheme};
use crate::{Error, Result};

/// A graph under observation.
pub struct Observation {
    session: OrtSession,
    inputs: Vec<String>,
    observers: Vec<(String, Box<dyn Observer>)>,
    _scratch: tempfile::TempDir,
}

impl std::fmt::Debug for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observation")
            .field("tensors", &self.observers.len())
            .finish_non_exhaustive()
    }
}

impl Observation {
    /// Observes every float tensor of `prepared`'s float graph (node outputs other than
    /// dequantized constants, and the graph inputs): the calibrated tensors and all the
    /// others a TensorRT calibration cache lists.
    pub fn new(prepared: &Prepared, method: Method) -> Result<Self> {
        let mut model = prepared.observed.clone();
        let graph = graph_mut(&mut model, "observation")?;
        let inputs: Vec<String> = graph.input.iter().map(|i| i.name.clone()).collect();
        let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        let mut names = inputs.clone();
        for node in &graph.node {
            if node.op_type == "DequantizeLinear" {
                continue;
            }
            names.extend(node.output.iter().cloned());
        }
        for name in &names {
            if !inputs.contains(name) && !outputs.contains(name) {
                graph.output.push(float_output(name));
            }
        }
        let scratch = tempfile::tempdir()?;
        let path = scratch.path().join("observed.onnx");
        std::fs::write(&path, onnx::encode(&model))?;
        let session = OrtSession::load(&path, &SessionConfig::default())?;
        let observers = names.into_iter().map(|n| (n, method.observer())).collect();
        Ok(Self {
            session,
            inputs,
            observers,
            _scratch: scratch,
        })
    }

    /// Runs the graph on one set of named inputs and observes every tensor.
    pub fn feed(&mut self, inputs: &[(&str, &Tensor)]) -> Result<()> {
        let outputs = self.session.run(inputs)?;
        let by_name: HashMap<&str, &Tensor> = outputs
            .iter()
            .map(|(n, t)| (n.as_str(), t))
            .chain(inputs.iter().map(|(n, t)| (*n, *t)))
            .collect();
        for (name, observer) in &mut self.observers {
            let tensor = by_name.get(name.as_str()).ok_or_else(|| {
                Error::Quantization(format!("observation: tensor `{name}` was not computed"))
            })?;
            observer
                .observe(&tensor.data)
                .map_err(|e| Error::Quantization(format!("tensor `{name}`: {e}")))?;
        }
        Ok(())
    }

    /// The graph's input names.
    pub fn input_names(&self) -> &[String] {
        &self.inputs
    }

    /// Parameters of every calibrated tensor of `prepared` under `scheme`.
    pub fn params(
        &self,
        prepared: &Prepared,
        scheme: Scheme,
    ) -> Result<HashMap<String, QuantParams>> {
        let mut out = HashMap::new();
        for name in prepared.calibrated_tensors() {
            let observer = self.observer(name)?;
            let params = match scheme {
                Scheme::Uint8 => observer.asymmetric_uint8(),
                Scheme::Int8 => observer.symmetric_int8(),
            }
            .map_err(|e| Error::Quantization(format!("tensor `{name}`: {e}")))?;
            out.insert(name.to_string(), params);
        }
        Ok(out)
    }

    /// A TensorRT calibration cache of every observed tensor (symmetric scales), for a
    /// TensorRT build of the float graph; `None` for the percentile method, which TensorRT
    /// has no calibrator for.
    pub fn tensorrt_cache(
        &self,
        method: Method,
        tensorrt_version: u32,
    ) -> Result<Option<CalibrationCache>> {
        let algorithm = match method {
            Method::Entropy => CalibrationAlgorithm::Entropy2,
            Method::MinMax => CalibrationAlgorithm::MinMax,
            Method::Percentile => return Ok(None),
        };
        let mut cache = CalibrationCache::new(tensorrt_version, algorithm);
        for (name, observer) in &self.observers {
            let params = observer
                .symmetric_int8()
                .map_err(|e| Error::Quantization(format!("tensor `{name}`: {e}")))?;
            cache
                .insert(name, &params)
                .map_err(|e| Error::Quantization(format!("tensor `{name}`: {e}")))?;
        }
        Ok(Some(cache))
    }

    fn observer(&self, name: &str) -> Result<&dyn Observer> {
        self.observers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.as_ref())
            .ok_or_else(|| Error::Quantization(format!("tensor `{name}` was not observed")))
    }
}

/// A graph output of element type float and unknown shape.
pub fn float_output(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: None,
            }),
        }),
    }
}
