//! Benchmarks a user runs from the command line (`bench-trunk`, `bench-train`). Every figure
//! in a report comes from one process run, so ratios compare like with like.
//!
//! - [`trunk`]: trunk latency, candle against ONNX Runtime (and Python onnxruntime when
//!   present);
//! - [`train`]: training throughput, the optimised step against plain candle.

pub mod train;
pub mod trunk;
