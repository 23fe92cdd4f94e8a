//! The AdapTS edge device runtime.
//!
//! Everything the inspection-station binary `adapts-runtime` does lives here, behind a thin
//! command line: locating ONNX Runtime ([`ort_runtime`]), opening and writing bundles
//! ([`bundle`]) and deciding which are trusted ([`trust`]), loading a bundle graph into an
//! engine ([`OrtSession`], driven through [`GraphRunner`]) and running it on row-major `f32`
//! [`Tensor`]s addressed by the graph's tensor names, routing a frame to its product
//! ([`route`]), judging it ([`pipeline`]), reading frames ([`source`]), writing one result line
//! per frame ([`results`]) and drawing heatmaps of rejected parts ([`heatmap`]). Inputs from
//! outside are size-limited before decoding ([`limits`]). The runtime never links the training
//! stack.
//!
//! The happy path is three calls:
//!
//! ```no_run
//! # fn main() -> adapts_runtime::Result<()> {
//! use std::path::Path;
//! use adapts_runtime::{pipeline::Pipeline, preprocess::load_rgb, SessionConfig};
//!
//! let mut pipeline = Pipeline::open(Path::new("bundle"), &SessionConfig::default())?;
//! let result = pipeline.infer(&load_rgb(Path::new("frame.png"))?, None);
//! println!("{:?}: {} ({:?})", result.product, result.verdict, result.reason);
//! # Ok(())
//! # }
//! ```
//!
//! One graph on its own:
//!
//! ```no_run
//! # fn main() -> adapts_runtime::Result<()> {
//! use std::path::Path;
//! use adapts_runtime::{OrtSession, SessionConfig, Tensor};
//!
//! // A trunk graph taking a batch of NCHW images, [N, 3, 224, 224].
//! let mut trunk = OrtSession::load(Path::new("bundle/trunk.onnx"), &SessionConfig::default())?;
//! let image = Tensor::zeros(vec![1, 3, 224, 224]);
//! let outputs = trunk.run(&[("image", &image)])?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

#[cfg(all(feature = "gpu", feature = "gpu-jetpack5"))]
compile_error!(
    "features `gpu` (CUDA 12.6, JetPack 6) and `gpu-jetpack5` (CUDA 11.4) exclude each other: pick one"
);

pub mod bundle;
pub mod camera;
mod engine;
mod error;
pub mod fsutil;
pub mod fuzzing;
pub mod gpu;
pub mod heatmap;
pub mod limits;
pub mod pipeline;
pub mod preprocess;
pub mod process;
pub mod results;
pub mod route;
pub mod smoothing;
pub mod source;
pub mod station;
mod tensor;
pub mod trust;

pub use engine::choice::{EngineKind, Provider};
pub use engine::ort::{
    ort_runtime, resolve_library, resolve_library_path, OrtError, OrtRuntime, DEFAULT_LIBRARY,
    ORT_DYLIB_ENV,
};
pub use engine::plans;
pub use engine::{
    BoxedRunner, Engine, GraphOptimization, GraphRunner, OrtEngine, OrtSession, SessionConfig,
    TensorInfo,
};
pub use error::{EngineUnavailable, Error, Result};
pub use tensor::Tensor;
