//! The networks: the frozen ImageNet trunks, the per-product adapters and the scoring head,
//! each written once against the operator vocabulary of [`graph`], plus the trunk weights
//! that feed them.
//!
//! - [`graph`]: the [`Graph`](graph::Graph) trait every forward pass is written against, and
//!   [`Eval`](graph::Eval), its candle backend (the ONNX backend lives in
//!   [`crate::export::onnx`]);
//! - [`nn`]: layers with parameters (convolution, batch norm, linear);
//! - [`Trunk`], [`efficientnet_lite`], [`wide_resnet`]: the shared trunks, truncated at a
//!   [`Cut`];
//! - [`adapter`]: the residual 1x1-conv adapters a product trains;
//! - [`head`]: distance maps, upsampling and the image score;
//! - [`weights`]: checkpoint files checked against an architecture, and seeded random
//!   weights;
//! - [`check`], [`imagenet`]: `backbone check`, which labels a photo to show that weights
//!   loaded right.

pub mod adapter;
pub mod check;
mod depthwise;
pub mod efficientnet_lite;
pub mod graph;
pub mod head;
pub mod imagenet;
pub mod local;
pub mod nn;
mod trunk;
pub mod weights;
pub mod wide_resnet;

pub use efficientnet_lite::{EfficientNetLite, EfficientNetLiteConfig};
pub use trunk::{Arch, Cut, Trunk, TrunkKind, TrunkOutput};
pub use wide_resnet::{WideResNet, WideResNetConfig};
