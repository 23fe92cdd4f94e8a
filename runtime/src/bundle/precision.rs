//! Which of a graph's two forms runs: the FP32 graph as trained, or its calibrated INT8
//! twin (QuantizeLinear/DequantizeLinear around integer kernels) that `adapts-builder
//! calibrate` writes beside it as `NAME.int8.onnx`. A twin exists only if the manifest lists
//! it, so it is checksummed (and signed) like every other file.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::bundle::Manifest;
use crate::error::{Error, Result};

/// The precision a pipeline loads its graphs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphPrecision {
    /// The INT8 twin of every graph that has one, FP32 for the rest.
    #[default]
    Auto,
    /// Every graph in FP32.
    Fp32,
    /// INT8 twins; an error when the bundle has none.
    Int8,
}

impl FromStr for GraphPrecision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "fp32" => Ok(Self::Fp32),
            "int8" => Ok(Self::Int8),
            other => Err(format!("unknown precision `{other}` (auto, fp32 or int8)")),
        }
    }
}

impl fmt::Display for GraphPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Fp32 => "fp32",
            Self::Int8 => "int8",
        })
    }
}

/// The path of the INT8 twin of the graph at `rel` (`trunk.onnx` -> `trunk.int8.onnx`).
pub fn int8_twin(rel: &str) -> String {
    match rel.strip_suffix(".onnx") {
        Some(stem) => format!("{stem}.int8.onnx"),
        None => format!("{rel}.int8"),
    }
}

/// The path of the TensorRT calibration cache of the graph at `rel`
/// (`trunk.onnx` -> `calibration/trunk.cache`).
pub fn tensorrt_cache(rel: &str) -> String {
    let stem = rel.strip_suffix(".onnx").unwrap_or(rel);
    format!("calibration/{stem}.cache")
}

impl Manifest {
    /// Whether the manifest lists the file at `rel`.
    pub fn has_file(&self, rel: &str) -> bool {
        self.files.iter().any(|f| f.path == rel)
    }

    /// Every graph of the bundle: trunk, later stages, features (local scoring), head and
    /// each product's graphs.
    pub fn graphs(&self) -> Vec<&str> {
        let mut out = vec![self.trunk_graph.as_str()];
        out.extend(self.later_stages.iter().map(|s| s.graph.as_str()));
        if let crate::bundle::manifest::Scoring::Local(local) = &self.scoring {
            out.push(local.features_graph.as_str());
        }
        out.push(self.head_graph.as_str());
        for p in &self.products {
            out.extend(p.adapters.iter().map(String::as_str));
        }
        out
    }

    /// The size of the file at `rel` as the manifest lists it (0 when it is not listed).
    pub fn file_bytes(&self, rel: &str) -> u64 {
        self.files
            .iter()
            .find(|f| f.path == rel)
            .map_or(0, |f| f.bytes)
    }

    /// Bytes of the graph files a pipeline in `precision` loads.
    pub fn graph_bytes(&self, precision: GraphPrecision) -> u64 {
        self.graphs()
            .into_iter()
            .map(|g| self.file_bytes(&self.graph_file(g, precision)))
            .sum()
    }

    /// The graphs that have an INT8 twin.
    pub fn int8_graphs(&self) -> Vec<&str> {
        self.graphs()
            .into_iter()
            .filter(|g| self.has_file(&int8_twin(g)))
            .collect()
    }

    /// The file to load for the graph at `rel` under `precision`.
    pub fn graph_file(&self, rel: &str, precision: GraphPrecision) -> String {
        let twin = int8_twin(rel);
        match precision {
            GraphPrecision::Fp32 => rel.to_string(),
            GraphPrecision::Auto | GraphPrecision::Int8 if self.has_file(&twin) => twin,
            _ => rel.to_string(),
        }
    }

    /// Checks that `precision` can be served: INT8 needs at least one twin.
    pub fn check_precision(&self, precision: GraphPrecision) -> Result<()> {
        if precision == GraphPrecision::Int8 && self.int8_graphs().is_empty() {
            return Err(Error::InvalidBundle {
                path: "(manifest)".into(),
                reason: "--precision int8: the bundle has no INT8 graphs; calibrate it first \
                         with `adapts-builder calibrate`"
                    .into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_and_caches_sit_beside_their_graphs() {
        assert_eq!(int8_twin("trunk.onnx"), "trunk.int8.onnx");
        assert_eq!(int8_twin("products/a/map.onnx"), "products/a/map.int8.onnx");
        assert_eq!(
            tensorrt_cache("stages/layer3.onnx"),
            "calibration/stages/layer3.cache"
        );
        assert_eq!("int8".parse::<GraphPrecision>(), Ok(GraphPrecision::Int8));
        assert!("fp16"
            .parse::<GraphPrecision>()
            .unwrap_err()
            .contains("fp16"));
    }
}
