//! INT8 post-training quantization for AdapTS edge bundles.
//!
//! The builder streams f32 activations of normal images through observers, turns the observed
//! ranges into quantization parameters, and writes them either as explicit
//! QuantizeLinear/DequantizeLinear (Q/DQ) nodes in the ONNX graphs (ONNX Runtime, TensorRT
//! 10+) or, for JetPack 5 (TensorRT 8.5), as a TensorRT calibration cache.
//!
//! - Observers ([`Observer`]): [`MinMaxObserver`] and the histogram-based
//!   [`PercentileObserver`] and [`EntropyObserver`] (TensorRT's KL rule) for activations
//!   (per tensor), [`PerChannelMinMaxObserver`] for
//!   weights laid out `[out, in, ...]` (channel axis 0).
//! - Parameters: [`QuantParams`] (symmetric signed INT8 with zero point 0 and
//!   scale = amax / 127, or asymmetric uint8) and [`PerChannelParams`].
//! - Arithmetic with ONNX QuantizeLinear semantics (round half to even, then add the zero
//!   point, then saturate): [`quantize`], [`dequantize`], [`fake_quantize`] and their
//!   per-channel forms.
//! - [`CalibrationCache`]: TensorRT's text cache (`TRT-8502-EntropyCalibration2`, then
//!   `tensor: <hex of the f32 scale's bits>` per line).
//!
//! ```
//! use adapts_calibration::{fake_quantize, MinMaxObserver, Observer, PercentileObserver};
//!
//! # fn main() -> adapts_calibration::Result<()> {
//! let batches = [vec![0.0_f32, 0.5, -1.0], vec![2.0, 0.25, -0.75]];
//! let mut minmax = MinMaxObserver::new();
//! let mut percentile = PercentileObserver::new(99.99)?;
//! for batch in &batches {
//!     minmax.observe(batch)?;
//!     percentile.observe(batch)?;
//! }
//! let params = minmax.symmetric_int8()?; // amax 2.0 -> scale 2/127, zero point 0
//! assert_eq!(params.zero_point(), 0);
//! assert_eq!(params.scale(), 2.0 / 127.0);
//! assert_eq!(fake_quantize(&[2.0, 1.0], &params), vec![2.0, 64.0 * (2.0 / 127.0)]);
//! assert!(percentile.amax()? <= 2.0);
//! # Ok(())
//! # }
//! ```

mod channels;
mod entropy;
mod error;
mod histogram;
mod minmax;
mod observer;
mod params;
mod per_channel;
mod quantize;
mod trt_cache;

pub use entropy::{EntropyObserver, ENTROPY_BINS};
pub use error::{Error, Result};
pub use histogram::{PercentileObserver, DEFAULT_BINS};
pub use minmax::MinMaxObserver;
pub use observer::{Observer, Range};
pub use params::{PerChannelParams, QuantDtype, QuantParams, REDUCED_WEIGHT_LEVEL};
pub use per_channel::PerChannelMinMaxObserver;
pub use quantize::{
    dequantize, dequantize_per_channel, dequantize_value, fake_quantize, fake_quantize_per_channel,
    quantize, quantize_per_channel, quantize_value, Quantized,
};
pub use trt_cache::{tensorrt_version_tag, CalibrationAlgorithm, CalibrationCache};
