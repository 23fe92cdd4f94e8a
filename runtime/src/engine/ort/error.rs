//! ONNX Runtime's errors: finding and loading its library, loading a graph into a session,
//! running one. They reach callers as [`crate::Error::Engine`], so nothing outside
//! `engine/ort` names an ONNX Runtime type; [`OrtError::of`] gets one back for a test or a
//! caller that needs the detail.

use std::path::PathBuf;

/// A failure inside the ONNX Runtime engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrtError {
    /// The library path given through the environment variable does not exist.
    #[error("{var} is set to `{}`, but no file exists there", path.display())]
    LibraryMissing {
        /// Name of the environment variable that was read.
        var: &'static str,
        /// The path it named.
        path: PathBuf,
    },

    /// Neither the environment variable nor the default location yielded a library.
    #[error(
        "ONNX Runtime library not found: {var} is not set and `{default}` does not exist in `{}` \
         or any of its parent directories; run `scripts/setup.sh` in the workspace to fetch it, \
         or set {var} to the path of libonnxruntime",
        searched_from.display()
    )]
    LibraryNotFound {
        /// Name of the environment variable that was checked.
        var: &'static str,
        /// The default path, relative to the workspace root.
        default: &'static str,
        /// The directory the upward search started from.
        searched_from: PathBuf,
    },

    /// The library file exists but could not be loaded or is an incompatible version.
    #[error("cannot load ONNX Runtime from `{}`: {reason}", path.display())]
    LibraryLoad {
        /// The library that was opened.
        path: PathBuf,
        /// Why the dynamic loader or `ort` refused it (the loader's own message included).
        reason: String,
    },

    /// The library loaded, but its version string could not be read.
    #[error("cannot read the ONNX Runtime version from `{}`: {reason}", path.display())]
    Version {
        /// The library that was opened.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },

    /// The process-wide ONNX Runtime environment could not be created.
    #[error("cannot create the ONNX Runtime environment")]
    Environment(#[source] ort::Error),

    /// ONNX Runtime refused a model file or a session option.
    #[error("cannot load model `{}`", path.display())]
    ModelLoad {
        /// The model file.
        path: PathBuf,
        /// The error reported by ONNX Runtime.
        #[source]
        source: ort::Error,
    },

    /// ONNX Runtime failed while running the model or handing over an output.
    #[error("inference with model `{}` failed", model.display())]
    Run {
        /// The model file.
        model: PathBuf,
        /// The error reported by ONNX Runtime.
        #[source]
        source: ort::Error,
    },
}

impl From<OrtError> for crate::Error {
    fn from(e: OrtError) -> Self {
        crate::Error::Engine(Box::new(e))
    }
}

impl OrtError {
    /// The ONNX Runtime error inside `err`, if it is one.
    pub fn of(err: &crate::Error) -> Option<&OrtError> {
        match err {
            crate::Error::Engine(inner) => inner.downcast_ref(),
            _ => None,
        }
    }
}
