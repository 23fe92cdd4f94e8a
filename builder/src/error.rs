//! The builder library's error type.
//!
//! One enum; each variant says what went wrong and carries the key, value or shape at fault.
//! The file or directory involved is added once, as context, with [`Error::with_path`] or
//! [`PathContext::with_path`], and renders as `path: cause` (as ripgrep's `ignore::Error`
//! does). Causes are chained once: a variant never repeats its source's text, so `{:#}` shows
//! each message a single time.

use std::fmt;
use std::path::{Path, PathBuf};

/// Result type of the builder library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the builder library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure concerning one file or directory, rendered `path: cause`.
    #[error(transparent)]
    WithPath(Box<WithPath>),
    /// The operating system refused a read, write or listing.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An image file could not be decoded or encoded.
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// A checkpoint file is not in a format the builder reads, or is malformed.
    #[error("{0}")]
    Checkpoint(String),
    /// A checkpoint lacks a tensor the architecture needs.
    #[error("missing key `{key}` (expected shape {expected:?})")]
    MissingKey {
        /// State-dict key.
        key: String,
        /// Shape the architecture expects.
        expected: Vec<usize>,
    },
    /// A checkpoint holds a tensor the architecture does not have.
    #[error("unexpected key `{key}` (shape {found:?}) is not part of the architecture")]
    UnexpectedKey {
        /// State-dict key.
        key: String,
        /// Its shape in the file.
        found: Vec<usize>,
    },
    /// A checkpoint tensor has the wrong shape.
    #[error("key `{key}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// State-dict key.
        key: String,
        /// Shape the architecture expects.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A stage name the trunk does not have.
    #[error("unknown stage `{stage}` (available: {available})")]
    UnknownStage {
        /// The name that was given.
        stage: String,
        /// The trunk's stage names, comma-separated.
        available: String,
    },
    /// A trunk name the builder does not know.
    #[error("unknown trunk `{0}` (available: wrn50-2, effnet-lite0)")]
    UnknownTrunk(String),
    /// An ONNX graph could not be traced, or a graph read back is not what the builder wrote.
    #[error("onnx: {0}")]
    Onnx(String),
    /// A dataset's files do not fit its layout (no training images, a defect image without a
    /// mask, a malformed split file, files named but missing).
    #[error("{0}")]
    Dataset(String),
    /// The products asked for do not match what the bundle and the dataset hold.
    #[error("{0}")]
    Selection(String),
    /// A setting or command-line value is out of range or inconsistent.
    #[error("{0}")]
    Config(String),
    /// The device pipeline could not judge an image, or returned something the evaluation
    /// cannot use.
    #[error("{0}")]
    Pipeline(String),
    /// A product that was already in a bundle changed when another was added.
    #[error("forgetting: {0}")]
    Forgetting(String),
    /// A benchmark's external baseline (Python onnxruntime) failed.
    #[error("{0}")]
    Baseline(String),
    /// INT8 quantisation of adapter weights failed.
    #[error("INT8 quantisation: {0}")]
    Quantization(String),
    /// JSON could not be written or read.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A candle tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    /// The device runtime (bundle format, ONNX Runtime) failed.
    #[error(transparent)]
    Runtime(#[from] adapts_runtime::Error),
}

/// An error about one file or directory.
#[derive(Debug)]
pub struct WithPath {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong with it.
    pub error: Error,
}

impl fmt::Display for WithPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for WithPath {
    // The inner error's text is already part of this one's: chain from its own cause on.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl Error {
    /// This error, about `path`. An error that already names a path keeps it, so the
    /// innermost (most specific) path is the one reported.
    pub fn with_path(self, path: impl Into<PathBuf>) -> Self {
        match self {
            Error::WithPath(_) => self,
            error => Error::WithPath(Box::new(WithPath {
                path: path.into(),
                error,
            })),
        }
    }

    /// The file or directory this error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::WithPath(w) => Some(&w.path),
            _ => None,
        }
    }

    /// The error without its path context.
    pub fn kind(&self) -> &Error {
        match self {
            Error::WithPath(w) => w.error.kind(),
            error => error,
        }
    }
}

/// Adds a path to the error of a fallible operation: `std::fs::read(p).with_path(p)?`.
pub trait PathContext<T> {
    /// On error, the error about `path` (see [`Error::with_path`]).
    fn with_path(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T, E: Into<Error>> PathContext<T> for std::result::Result<T, E> {
    fn with_path(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| e.into().with_path(path.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message of an error chain, as anyhow's `{:#}` prints them.
    fn chain(err: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![err.to_string()];
        let mut source = err.source();
        while let Some(cause) = source {
            out.push(cause.to_string());
            source = cause.source();
        }
        out
    }

    #[test]
    fn a_path_renders_once_with_its_cause_once() {
        let io =
            std::fs::read("/nonexistent/adapts/file.bin").with_path("/nonexistent/adapts/file.bin");
        let err = io.expect_err("no such file");
        let messages = chain(&err);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].starts_with("/nonexistent/adapts/file.bin: "),
            "{messages:?}"
        );
        assert!(messages[0].contains("No such file"), "{messages:?}");
        assert_eq!(err.path(), Some(Path::new("/nonexistent/adapts/file.bin")));
        assert!(matches!(err.kind(), Error::Io(_)));
    }

    #[test]
    fn the_innermost_path_wins() {
        let err = Error::Dataset("no training images".into())
            .with_path("data/screw")
            .with_path("data");
        assert_eq!(err.to_string(), "data/screw: no training images");
    }

    #[test]
    fn runtime_causes_chain_without_repeating() {
        let runtime = adapts_runtime::bundle::read_manifest(Path::new("/nonexistent/manifest"))
            .expect_err("missing manifest");
        let err = Error::from(runtime);
        let messages = chain(&err);
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(!messages[0].contains(&messages[1]), "{messages:?}");
    }
}
