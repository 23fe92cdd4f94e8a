//! Static INT8 quantization of a bundle's ONNX graphs: Q/DQ placement, activation
//! observation over normal images, and the TensorRT calibration cache.
//!
//! A graph is quantized in three steps:
//! 1. [`prepare`] folds every BatchNormalization into the convolution before it and, for
//!    uint8 activations, folds a ReLU or ReLU6 that alone consumes a convolution's or an
//!    addition's output into that tensor's range. It lists the tensors that get a
//!    QuantizeLinear/DequantizeLinear pair: the inputs and outputs of Conv, Add and MaxPool.
//! 2. [`observe::Observation`] runs the prepared float graph in ONNX Runtime over calibration
//!    inputs and feeds every listed tensor (and, for the TensorRT cache, every other one) to
//!    an observer of the chosen [`Method`].
//! 3. [`apply`] inserts the pairs with the observed parameters, stores convolution weights as
//!    per-output-channel symmetric INT8 and biases as INT32 (scale = input scale x weight
//!    scale), so ONNX Runtime runs integer kernels (QLinearConv, QLinearAdd) and TensorRT's
//!    explicit quantization can read the same pattern.
//!
//! Two activation schemes: [`Scheme::Uint8`] (asymmetric, ONNX Runtime's fast path on x86,
//! where signed activations run no faster than FP32) and [`Scheme::Int8`] (symmetric, zero
//! point 0, as TensorRT requires; activations are not folded then).

mod chain;
mod fold;
mod graph;
pub mod job;
mod map;
pub mod observe;
mod qdq;

use std::fmt;
use std::str::FromStr;

use adapts_calibration::{EntropyObserver, MinMaxObserver, Observer, PercentileObserver};

pub use qdq::{all_int8, apply, prepare, ConvPolicy, ConvRule, Prepared};

/// How an activation's clipping range is chosen from what the observer saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// The smallest and largest value seen (the default: on the measured datasets it kept
    /// anomaly scores closest to FP32, since a defect's activations lie beyond the normal
    /// images' bulk, where clipping rules cut).
    #[default]
    MinMax,
    /// The 99.999th percentile (and the 0.001st), from a histogram.
    Percentile,
    /// The threshold of least KL divergence, as TensorRT's entropy calibrator picks it.
    Entropy,
}

/// Percentile [`Method::Percentile`] clips at.
pub const PERCENTILE: f64 = 99.999;

impl Method {
    /// A fresh observer for one tensor.
    pub fn observer(self) -> Box<dyn Observer> {
        match self {
            Method::MinMax => Box::new(MinMaxObserver::new()),
            Method::Percentile => {
                Box::new(PercentileObserver::new(PERCENTILE).expect("a valid constant percentile"))
            }
            Method::Entropy => Box::new(EntropyObserver::new()),
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::MinMax => "minmax",
            Method::Percentile => "percentile",
            Method::Entropy => "entropy",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "minmax" => Ok(Method::MinMax),
            "percentile" => Ok(Method::Percentile),
            "entropy" => Ok(Method::Entropy),
            other => Err(format!(
                "unknown calibration method `{other}` (minmax, percentile or entropy)"
            )),
        }
    }
}

/// The integer type of activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// Asymmetric uint8 activations, ReLU/ReLU6 folded into the ranges (ONNX Runtime on
    /// the CPU).
    #[default]
    Uint8,
    /// Symmetric int8 activations with zero point 0 (TensorRT's explicit quantization).
    Int8,
}

impl FromStr for Scheme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "u8" | "uint8" => Ok(Scheme::Uint8),
            "s8" | "int8" => Ok(Scheme::Int8),
            other => Err(format!("unknown activation type `{other}` (u8 or s8)")),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Uint8 => "u8",
            Scheme::Int8 => "s8",
        })
    }
}

#[cfg(test)]
mod tests;
