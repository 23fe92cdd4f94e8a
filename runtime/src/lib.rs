//! The AdapTS edge device runtime.
//!
//! Everything the inspection-station binary `adapts-runtime` does lives here, behind a thin
//! command line: locating ONNX Runtime ([`ort_runtime`]), loading a bundle graph into an
//! engine ([`OrtSession`]) and running it on row-major `f32` [`Tensor`]s addressed by the
//! graph's tensor names. The runtime never links the training stack.
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

mod engine;
mod error;
mod ort_env;
pub mod preprocess;
mod tensor;

pub use engine::{GraphOptimization, OrtSession, SessionConfig, TensorInfo};
pub use error::{Error, Result};
pub use ort_env::{
    ort_runtime, resolve_library, resolve_library_path, OrtRuntime, DEFAULT_LIBRARY, ORT_DYLIB_ENV,
};
pub use tensor::Tensor;
