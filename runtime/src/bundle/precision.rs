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

    /// Refuses a bundle whose graph files, in `precision`, exceed `budget_mib` (a board
    /// profile's `memory_budget_mb`). The files are a floor: loading them takes about three
    /// times as much (measured with ONNX Runtime on the CPU).
    pub fn check_memory_budget(
        &self,
        origin: &std::path::Path,
        precision: GraphPrecision,
        board: &str,
        budget_mib: u64,
    ) -> Result<()> {
        self.check_memory_budget_with_plans(origin, precision, board, budget_mib, 0)
    }

    /// [`Manifest::check_memory_budget`] for TensorRT, which holds each graph's plan
    /// (`plan_bytes` in all) beside the graph it was built from.
    pub fn check_memory_budget_with_plans(
        &self,
        origin: &std::path::Path,
        precision: GraphPrecision,
        board: &str,
        budget_mib: u64,
        plan_bytes: u64,
    ) -> Result<()> {
        let mib = |bytes: u64| bytes as f64 / (1u64 << 20) as f64;
        let graphs = mib(self.graph_bytes(precision));
        let total = graphs + mib(plan_bytes);
        if total > budget_mib as f64 {
            let plans = if plan_bytes > 0 {
                format!(" and their TensorRT plans {:.1} MiB", mib(plan_bytes))
            } else {
                String::new()
            };
            return Err(Error::InvalidBundle {
                path: origin.to_path_buf(),
                reason: format!(
                    "its graphs take {graphs:.1} MiB at --precision {precision}{plans}, over the \
                     {budget_mib} MiB memory budget of board `{board}`; calibrate it to INT8 \
                     (`adapts-builder calibrate --trunk`) or serve fewer products"
                ),
            });
        }
        Ok(())
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

    /// The sample manifest with each graph `bytes` long, and an INT8 trunk of `twin` bytes.
    fn sized(bytes: u64, twin: Option<u64>) -> Manifest {
        let mut m = crate::bundle::tests::sample_manifest(&["a", "b"]);
        for f in &mut m.files {
            f.bytes = bytes;
        }
        if let Some(b) = twin {
            m.files.push(crate::bundle::manifest::FileEntry {
                path: int8_twin(&m.trunk_graph),
                sha256: String::new(),
                bytes: b,
            });
        }
        m
    }

    #[test]
    fn graphs_over_the_board_budget_are_refused_in_the_precision_that_runs() {
        let mib = 1u64 << 20;
        let m = sized(20 * mib, Some(5 * mib));
        let graphs = m.graphs().len() as u64;
        assert_eq!(m.graph_bytes(GraphPrecision::Fp32), graphs * 20 * mib);
        assert_eq!(
            m.graph_bytes(GraphPrecision::Auto),
            (graphs - 1) * 20 * mib + 5 * mib
        );
        let fp32_mib = graphs * 20;
        let here = std::path::Path::new("bundle");
        m.check_memory_budget(here, GraphPrecision::Fp32, "nano", fp32_mib)
            .unwrap();
        let err = m
            .check_memory_budget(here, GraphPrecision::Fp32, "nano", fp32_mib - 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("board `nano`") && err.contains("--precision fp32"),
            "{err}"
        );
        // The INT8 trunk fits where the FP32 one does not.
        m.check_memory_budget(here, GraphPrecision::Auto, "nano", fp32_mib - 1)
            .unwrap();
        // TensorRT's plans count beside their graphs.
        m.check_memory_budget_with_plans(here, GraphPrecision::Fp32, "nano", fp32_mib, 0)
            .unwrap();
        let err = m
            .check_memory_budget_with_plans(here, GraphPrecision::Fp32, "nano", fp32_mib, 2 * mib)
            .unwrap_err()
            .to_string();
        assert!(err.contains("TensorRT plans 2.0 MiB"), "{err}");
    }

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
