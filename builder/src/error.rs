//! The builder library's error type.

use std::path::PathBuf;

/// Everything the builder library can fail with; variants carry the file, key or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },
    #[error("{}: missing key `{key}` (expected shape {expected:?})", path.display())]
    MissingKey {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
    },
    #[error("{}: unexpected key `{key}` (shape {found:?}) is not part of the architecture", path.display())]
    UnexpectedKey {
        path: PathBuf,
        key: String,
        found: Vec<usize>,
    },
    #[error("{}: key `{key}` has shape {found:?}, expected {expected:?}", path.display())]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("unknown stage `{stage}` (available: {available})")]
    UnknownStage { stage: String, available: String },
    #[error("unknown trunk `{0}` (available: wrn50-2, effnet-lite0)")]
    UnknownTrunk(String),
    #[error("{}: {message}", path.display())]
    Image { path: PathBuf, message: String },
    #[error("onnx export: {0}")]
    Onnx(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Runtime(#[from] adapts_runtime::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
