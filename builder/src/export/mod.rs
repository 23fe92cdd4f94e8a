//! From trained networks to the deployable artifact: ONNX graphs traced from the very
//! definitions candle trains with, written into a bundle, and what that bundle costs.
//!
//! - [`onnx`]: a [`Graph`](crate::model::graph::Graph) backend that records ONNX nodes;
//! - [`trunk`]: a standalone trunk graph (`export-trunk`, benchmarks, parity tests);
//! - [`bundle`]: the bundle's shared graphs, each product's adapter graphs and the manifest;
//! - [`cost`]: parameter memory and multiply-accumulates of a bundle's graphs;
//! - [`read`]: a product's model read back from its graph, for reference scoring.

pub mod bundle;
pub mod cost;
pub mod onnx;
pub mod read;
pub mod trunk;
