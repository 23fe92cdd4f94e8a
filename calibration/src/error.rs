//! The crate's error type: every failure carries the values that explain it (batch and index
//! of a bad activation, shape and length, cache line number and content).

use std::path::{Path, PathBuf};

/// Result alias for calibration operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors from observing, computing parameters, quantizing, or cache I/O.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An observed batch holds NaN or an infinity; calibration data must be finite.
    #[error("batch {batch}: value at index {index} is {value}; calibration data must be finite")]
    NonFinite {
        batch: u64,
        index: usize,
        value: f32,
    },
    /// A weight tensor holds NaN or an infinity.
    #[error("weight at index {index} is {value}; weights must be finite")]
    NonFiniteWeight { index: usize, value: f32 },
    /// Parameters were asked of an observer that has seen no values.
    #[error("the observer has seen no values")]
    NothingObserved,
    /// A clipping magnitude that is negative or not finite.
    #[error("amax {amax} must be finite and non-negative")]
    InvalidAmax { amax: f32 },
    /// A range whose bounds are not finite or are out of order.
    #[error("range [{min}, {max}] must be finite with min <= max")]
    InvalidRange { min: f32, max: f32 },
    /// A scale that is not a positive normal f32.
    #[error("scale {scale} must be a positive, finite, normal f32")]
    InvalidScale { scale: f32 },
    /// A zero point outside the integer type's range.
    #[error("zero point {zero_point} is outside the {dtype} range")]
    InvalidZeroPoint {
        zero_point: i32,
        dtype: &'static str,
    },
    /// A percentile outside its allowed interval.
    #[error("percentile {percentile} must lie in {allowed}")]
    InvalidPercentile {
        percentile: f64,
        allowed: &'static str,
    },
    /// A histogram bin count that is zero or odd.
    #[error("histogram bin count {bins} must be even and at least 2")]
    InvalidBinCount { bins: usize },
    /// An initial histogram range that is not positive and finite.
    #[error("initial half range {half_range} must be positive and finite")]
    InvalidInitialRange { half_range: f32 },
    /// A weight shape that does not describe the given values.
    #[error("shape {shape:?} does not fit {len} values: {reason}")]
    InvalidShape {
        shape: Vec<usize>,
        len: usize,
        reason: &'static str,
    },
    /// Per-channel data whose channel count differs from what came before.
    #[error("expected {expected} output channels, found {found}")]
    ChannelMismatch { expected: usize, found: usize },
    /// Quantized data of one integer type met parameters of another.
    #[error("quantized data is {found}, parameters are {expected}")]
    DtypeMismatch {
        expected: &'static str,
        found: &'static str,
    },
    /// The TensorRT cache holds only symmetric INT8 scales.
    #[error("tensor `{name}`: a TensorRT calibration cache holds symmetric INT8 scales only")]
    NotSymmetricInt8 { name: String },
    /// A tensor name that cannot be written on one cache line.
    #[error("tensor name {name:?} cannot be written to a calibration cache: {reason}")]
    InvalidTensorName { name: String, reason: &'static str },
    /// A cache scale that TensorRT would not accept.
    #[error("tensor `{name}`: scale {scale} must be finite and non-negative")]
    InvalidCacheScale { name: String, scale: f32 },
    /// A calibration cache line that does not parse.
    #[error("{}line {line}: {reason}: {content:?}", path_prefix(path.as_deref()))]
    CacheParse {
        path: Option<PathBuf>,
        /// 1-based line number.
        line: usize,
        /// The line as found.
        content: String,
        reason: String,
    },
    /// Reading a cache file failed (the cause is chained, not repeated in the message).
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn path_prefix(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}
