//! Quantization parameters: the (scale, zero point, integer type) triple that a
//! QuantizeLinear/DequantizeLinear pair carries, per tensor or per output channel.
//!
//! Symmetric signed INT8 (weights per channel, activations per tensor): zero point 0 and
//! scale = amax / 127, so [-amax, amax] maps onto [-127, 127]. Asymmetric uint8: the range
//! is first widened to contain 0, then scale = (max - min) / 255 and
//! zero point = round_half_even(-min / scale), as ONNX Runtime's quantizer computes them.
//! A range too small for a normal f32 scale (an all-zero tensor in particular) gets scale
//! 1.0: any positive scale represents zeros exactly, and 0 or a denormal scale would make
//! the division in QuantizeLinear blow up.

use std::fmt;

use crate::error::{Error, Result};

/// Scale used when the observed range is empty or too small for a normal f32 scale.
const EMPTY_RANGE_SCALE: f32 = 1.0;

/// The largest level of a reduced-range INT8 weight: [-amax, amax] maps onto [-63, 63].
///
/// x86 CPUs without VNNI multiply 8-bit activations by signed 8-bit weights with
/// `vpmaddubsw`, which adds two products into a saturating 16-bit sum: two full-range
/// products (2 x 255 x 127) overflow it and ONNX Runtime's integer convolutions then
/// compute wrong values, where two reduced-range ones (2 x 255 x 63) cannot. The price is
/// one bit of weight precision.
pub const REDUCED_WEIGHT_LEVEL: i32 = 63;

/// The integer type of quantized values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantDtype {
    /// Signed 8-bit, range [-128, 127].
    Int8,
    /// Unsigned 8-bit, range [0, 255].
    Uint8,
}

impl QuantDtype {
    /// Smallest representable value.
    pub const fn min(self) -> i32 {
        match self {
            QuantDtype::Int8 => i8::MIN as i32,
            QuantDtype::Uint8 => u8::MIN as i32,
        }
    }

    /// Largest representable value.
    pub const fn max(self) -> i32 {
        match self {
            QuantDtype::Int8 => i8::MAX as i32,
            QuantDtype::Uint8 => u8::MAX as i32,
        }
    }

    /// ONNX-style name (`int8`, `uint8`).
    pub const fn name(self) -> &'static str {
        match self {
            QuantDtype::Int8 => "int8",
            QuantDtype::Uint8 => "uint8",
        }
    }
}

impl fmt::Display for QuantDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-tensor quantization parameters: real = (q - zero_point) * scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    scale: f32,
    zero_point: i32,
    dtype: QuantDtype,
}

impl QuantParams {
    /// Parameters as given; the scale must be a positive normal f32 and the zero point must
    /// lie in the type's range.
    pub fn new(scale: f32, zero_point: i32, dtype: QuantDtype) -> Result<Self> {
        if !(scale.is_normal() && scale > 0.0) {
            return Err(Error::InvalidScale { scale });
        }
        if !(dtype.min()..=dtype.max()).contains(&zero_point) {
            return Err(Error::InvalidZeroPoint {
                zero_point,
                dtype: dtype.name(),
            });
        }
        Ok(Self {
            scale,
            zero_point,
            dtype,
        })
    }

    /// Symmetric signed INT8 for values clipped to [-amax, amax]: zero point 0,
    /// scale = amax / 127 (1.0 when amax is 0).
    pub fn symmetric_int8(amax: f32) -> Result<Self> {
        Self::symmetric(amax, 127.0)
    }

    /// Symmetric signed INT8 over the reduced range (see [`REDUCED_WEIGHT_LEVEL`]): zero
    /// point 0, scale = amax / 63 (1.0 when amax is 0).
    pub fn symmetric_int8_reduced(amax: f32) -> Result<Self> {
        Self::symmetric(amax, REDUCED_WEIGHT_LEVEL as f32)
    }

    /// Signed INT8, zero point 0, with `amax` on level `top`.
    fn symmetric(amax: f32, top: f32) -> Result<Self> {
        if !(amax.is_finite() && amax >= 0.0) {
            return Err(Error::InvalidAmax { amax });
        }
        Ok(Self {
            scale: usable_scale(amax / top),
            zero_point: 0,
            dtype: QuantDtype::Int8,
        })
    }

    /// Asymmetric uint8 covering [min, max] widened to contain 0.
    pub fn asymmetric_uint8(min: f32, max: f32) -> Result<Self> {
        if !(min.is_finite() && max.is_finite() && min <= max) {
            return Err(Error::InvalidRange { min, max });
        }
        let (low, high) = (f64::from(min.min(0.0)), f64::from(max.max(0.0)));
        let steps = f64::from(QuantDtype::Uint8.max() - QuantDtype::Uint8.min());
        let wide = ((high - low) / steps) as f32;
        if !wide.is_finite() {
            return Err(Error::InvalidRange { min, max });
        }
        let scale = usable_scale(wide);
        let zero_point = (-(low as f32) / scale).round_ties_even().clamp(
            QuantDtype::Uint8.min() as f32,
            QuantDtype::Uint8.max() as f32,
        ) as i32;
        Ok(Self {
            scale,
            zero_point,
            dtype: QuantDtype::Uint8,
        })
    }

    pub fn scale(&self) -> f32 {
        self.scale
    }

    pub fn zero_point(&self) -> i32 {
        self.zero_point
    }

    pub fn dtype(&self) -> QuantDtype {
        self.dtype
    }

    /// True for signed INT8 with zero point 0 (what TensorRT's INT8 and its calibration
    /// cache use).
    pub fn is_symmetric_int8(&self) -> bool {
        self.dtype == QuantDtype::Int8 && self.zero_point == 0
    }
}

/// Per-output-channel parameters for a weight tensor `[out, in, ...]` (ONNX axis 0).
#[derive(Clone, Debug, PartialEq)]
pub struct PerChannelParams {
    channels: Vec<QuantParams>,
}

impl PerChannelParams {
    /// Symmetric signed INT8 per channel from each channel's clipping magnitude.
    pub fn symmetric_int8(amaxes: &[f32]) -> Result<Self> {
        Self::each(amaxes, QuantParams::symmetric_int8)
    }

    /// Symmetric signed INT8 per channel over the reduced range (see
    /// [`REDUCED_WEIGHT_LEVEL`]).
    pub fn symmetric_int8_reduced(amaxes: &[f32]) -> Result<Self> {
        Self::each(amaxes, QuantParams::symmetric_int8_reduced)
    }

    /// `params` of each channel's clipping magnitude.
    fn each(amaxes: &[f32], params: fn(f32) -> Result<QuantParams>) -> Result<Self> {
        let channels = amaxes
            .iter()
            .map(|&amax| params(amax))
            .collect::<Result<Vec<_>>>()?;
        Self::from_channels(channels)
    }

    /// Parameters given channel by channel; all channels must share one integer type.
    pub fn from_channels(channels: Vec<QuantParams>) -> Result<Self> {
        let Some(first) = channels.first() else {
            return Err(Error::ChannelMismatch {
                expected: 1,
                found: 0,
            });
        };
        let dtype = first.dtype;
        if let Some(other) = channels.iter().find(|p| p.dtype != dtype) {
            return Err(Error::DtypeMismatch {
                expected: dtype.name(),
                found: other.dtype.name(),
            });
        }
        Ok(Self { channels })
    }

    /// The channel axis, as the ONNX `axis` attribute of Q/DQ nodes: always 0.
    pub fn axis(&self) -> usize {
        0
    }

    /// Number of output channels.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Always false: there is at least one channel.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    pub fn dtype(&self) -> QuantDtype {
        self.channels.first().map_or(QuantDtype::Int8, |p| p.dtype)
    }

    /// Parameters of one channel.
    pub fn channel(&self, index: usize) -> Option<&QuantParams> {
        self.channels.get(index)
    }

    /// All channels' parameters in order.
    pub fn channels(&self) -> &[QuantParams] {
        &self.channels
    }

    /// Scales in channel order (the ONNX `y_scale` initializer).
    pub fn scales(&self) -> Vec<f32> {
        self.channels.iter().map(|p| p.scale).collect()
    }

    /// Zero points in channel order (the ONNX `y_zero_point` initializer).
    pub fn zero_points(&self) -> Vec<i32> {
        self.channels.iter().map(|p| p.zero_point).collect()
    }
}

/// The scale itself when it is a positive normal f32, else the empty-range scale.
fn usable_scale(scale: f32) -> f32 {
    if scale.is_normal() && scale > 0.0 {
        scale
    } else {
        EMPTY_RANGE_SCALE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_scale_is_amax_over_127() {
        let p = QuantParams::symmetric_int8(127.0).expect("valid");
        assert_eq!(
            (p.scale(), p.zero_point(), p.dtype()),
            (1.0, 0, QuantDtype::Int8)
        );
        let p = QuantParams::symmetric_int8(2.54).expect("valid");
        assert_eq!(p.scale(), 2.54_f32 / 127.0);
    }

    #[test]
    fn zero_range_gives_a_usable_scale() {
        for p in [
            QuantParams::symmetric_int8(0.0),
            QuantParams::symmetric_int8(1e-43), // scale would be denormal
            QuantParams::asymmetric_uint8(0.0, 0.0),
        ] {
            let p = p.expect("valid");
            assert_eq!(p.scale(), 1.0);
            assert!(p.scale().is_normal());
        }
        assert_eq!(
            QuantParams::asymmetric_uint8(0.0, 0.0)
                .expect("valid")
                .zero_point(),
            0
        );
    }

    #[test]
    fn reduced_range_weights_stay_within_63_levels() {
        let p = QuantParams::symmetric_int8_reduced(2.52).expect("valid");
        assert_eq!(p.scale(), 2.52_f32 / 63.0);
        assert!(p.is_symmetric_int8());
        // amax lands on level 63; the worst pair a non-VNNI x86 kernel adds fits an i16.
        assert_eq!((2.52_f32 / p.scale()).round(), 63.0);
        assert!(2 * 255 * REDUCED_WEIGHT_LEVEL <= i32::from(i16::MAX));
        assert!(2 * 255 * 127 > i32::from(i16::MAX));
        let pc = PerChannelParams::symmetric_int8_reduced(&[63.0, 0.0]).expect("valid");
        assert_eq!(pc.scales(), vec![1.0, 1.0]);
        assert!(QuantParams::symmetric_int8_reduced(f32::NAN).is_err());
    }

    #[test]
    fn asymmetric_uint8_by_hand() {
        // [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64.
        let p = QuantParams::asymmetric_uint8(-1.0, 3.0).expect("valid");
        assert_eq!(p.scale(), (4.0_f64 / 255.0) as f32);
        assert_eq!(p.zero_point(), 64);
        // A positive-only range is widened to include 0: zero point 0.
        let p = QuantParams::asymmetric_uint8(2.0, 5.1).expect("valid");
        assert_eq!(
            (p.scale(), p.zero_point()),
            ((5.1_f32 as f64 / 255.0) as f32, 0)
        );
        // A negative-only range: zero point 255.
        let p = QuantParams::asymmetric_uint8(-2.55, -1.0).expect("valid");
        assert_eq!(p.zero_point(), 255);
    }

    #[test]
    fn rejects_bad_inputs() {
        assert!(QuantParams::symmetric_int8(-1.0).is_err());
        assert!(QuantParams::symmetric_int8(f32::NAN).is_err());
        assert!(QuantParams::symmetric_int8(f32::INFINITY).is_err());
        assert!(QuantParams::asymmetric_uint8(1.0, -1.0).is_err());
        assert!(QuantParams::asymmetric_uint8(-f32::MAX, f32::MAX).is_ok());
        assert!(QuantParams::new(0.0, 0, QuantDtype::Int8).is_err());
        assert!(QuantParams::new(1.0, 128, QuantDtype::Int8).is_err());
        assert!(QuantParams::new(1.0, -1, QuantDtype::Uint8).is_err());
        assert!(PerChannelParams::from_channels(Vec::new()).is_err());
    }

    #[test]
    fn per_channel_keeps_channel_order() {
        let p = PerChannelParams::symmetric_int8(&[127.0, 0.0, 254.0]).expect("valid");
        assert_eq!(p.scales(), vec![1.0, 1.0, 2.0]);
        assert_eq!(p.zero_points(), vec![0, 0, 0]);
        assert_eq!((p.len(), p.axis(), p.dtype()), (3, 0, QuantDtype::Int8));
    }
}
