//! `adapts-builder`: the host side of AdapTS edge.
//!
//! The folders follow the flow from images to a measured bundle:
//!
//! ```text
//! data ──► model ──► train ──► export ──► eval
//! images    trunks    adapters   ONNX graphs  the paper's metrics on the
//! layouts   adapters  prototypes bundle       device pipeline
//! synth     head      thresholds cost
//! anomalies weights
//! ```
//!
//! - [`data`]: dataset layouts (MVTec AD, VisA, MVTec 3D-AD, MTD, folders), ground-truth
//!   masks, synthetic products and the synthetic anomalies training learns from;
//! - [`model`]: the frozen trunks (WideResNet50-2, EfficientNet-Lite0), the adapters and the
//!   scoring head, written once against one operator vocabulary, and their weights;
//! - [`train`]: one product's adapters, prototype, routing radius and threshold from normal
//!   images; a training job writes or extends a bundle;
//! - [`export`]: ONNX graphs traced from the same definitions, the bundle writer, the cost of
//!   a bundle;
//! - [`quant`]: INT8 twins of a bundle's graphs (Q/DQ placement, activation observation,
//!   thresholds set on the INT8 scores), `calibrate`;
//! - [`eval`]: a bundle judged by the device pipeline on a labelled test set, in the paper's
//!   single, multi-class and continual settings;
//! - [`paper`]: the paper's experiment in one run; [`bench`](mod@bench): trunk and training
//!   benchmarks.
//!
//! The bundle format, the graph contract and the pipeline that runs a bundle belong to the
//! device crate, `adapts_runtime`; this crate writes what that one reads.
//!
//! ```no_run
//! use adapts_builder::model::{graph::Eval, weights, Cut, TrunkKind};
//! # fn main() -> adapts_builder::Result<()> {
//! let arch = TrunkKind::EffnetLite0.arch();
//! let trunk = weights::random_trunk(arch, Cut::Stage(2), 0)?;
//! let x = candle_core::Tensor::zeros((1, 3, 224, 224), candle_core::DType::F32, &candle_core::Device::Cpu)?;
//! let out = trunk.forward(&mut Eval, &x)?; // stride4, stride8, stride16 + pooled
//! assert_eq!(out.stages.len(), 3);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod bench;
pub mod data;
mod error;
pub mod eval;
pub mod export;
pub mod model;
pub mod paper;
pub mod quant;
pub mod train;

pub use error::{Error, PathContext, Result, WithPath};
