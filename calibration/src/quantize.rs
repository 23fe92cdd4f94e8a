//! Quantize, dequantize and fake-quantize with ONNX QuantizeLinear/DequantizeLinear
//! semantics, so that values computed here match what ONNX Runtime and TensorRT compute
//! from the exported Q/DQ nodes:
//!
//! - quantize: q = saturate(round_half_to_even(x / scale) + zero_point). The zero point is
//!   added after rounding, which matters for ties when the zero point is odd.
//! - dequantize: x = (q - zero_point) * scale.
//! - fake quantize: dequantize(quantize(x)), the values the INT8 graph actually sees.
//!
//! NaN quantizes to the zero point (it dequantizes to 0.0); infinities saturate.

use crate::channels::split_channels;
use crate::error::{Error, Result};
use crate::params::{PerChannelParams, QuantDtype, QuantParams};

/// Quantized values in their integer type, in the order they were given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Quantized {
    Int8(Vec<i8>),
    Uint8(Vec<u8>),
}

impl Quantized {
    pub fn dtype(&self) -> QuantDtype {
        match self {
            Quantized::Int8(_) => QuantDtype::Int8,
            Quantized::Uint8(_) => QuantDtype::Uint8,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Quantized::Int8(v) => v.len(),
            Quantized::Uint8(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `index` widened to i32.
    pub fn get(&self, index: usize) -> Option<i32> {
        match self {
            Quantized::Int8(v) => v.get(index).map(|&q| i32::from(q)),
            Quantized::Uint8(v) => v.get(index).map(|&q| i32::from(q)),
        }
    }

    /// All values widened to i32.
    pub fn to_i32(&self) -> Vec<i32> {
        match self {
            Quantized::Int8(v) => v.iter().map(|&q| i32::from(q)).collect(),
            Quantized::Uint8(v) => v.iter().map(|&q| i32::from(q)).collect(),
        }
    }

    /// One byte per value (two's complement for int8), the layout of an ONNX tensor's
    /// `raw_data`.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Quantized::Int8(v) => v.iter().map(|&q| q.to_le_bytes()[0]).collect(),
            Quantized::Uint8(v) => v.clone(),
        }
    }
}

/// Quantizes one value; the result lies in the parameters' integer range.
pub fn quantize_value(x: f32, params: &QuantParams) -> i32 {
    let dtype = params.dtype();
    if x.is_nan() {
        return params.zero_point();
    }
    let rounded = f64::from((x / params.scale()).round_ties_even());
    let shifted = rounded + f64::from(params.zero_point());
    shifted.clamp(f64::from(dtype.min()), f64::from(dtype.max())) as i32
}

/// Dequantizes one value.
pub fn dequantize_value(q: i32, params: &QuantParams) -> f32 {
    (q - params.zero_point()) as f32 * params.scale()
}

/// Quantizes a tensor with per-tensor parameters.
pub fn quantize(values: &[f32], params: &QuantParams) -> Quantized {
    let ints = values.iter().map(|&x| quantize_value(x, params));
    narrow(ints, params.dtype())
}

/// Dequantizes a tensor with per-tensor parameters of the same integer type.
pub fn dequantize(quantized: &Quantized, params: &QuantParams) -> Result<Vec<f32>> {
    same_dtype(quantized.dtype(), params.dtype())?;
    Ok(quantized
        .to_i32()
        .into_iter()
        .map(|q| dequantize_value(q, params))
        .collect())
}

/// Quantizes then dequantizes each value.
pub fn fake_quantize(values: &[f32], params: &QuantParams) -> Vec<f32> {
    values
        .iter()
        .map(|&x| fake_quantize_one(x, params))
        .collect()
}

/// Quantizes a weight tensor `[out, in, ...]` with one parameter set per output channel.
pub fn quantize_per_channel(
    values: &[f32],
    shape: &[usize],
    params: &PerChannelParams,
) -> Result<Quantized> {
    let inner = check_channels(shape, values.len(), params)?;
    let ints = values
        .chunks(inner)
        .zip(params.channels())
        .flat_map(|(run, p)| run.iter().map(move |&x| quantize_value(x, p)));
    Ok(narrow(ints, params.dtype()))
}

/// Dequantizes a weight tensor `[out, in, ...]` quantized per output channel.
pub fn dequantize_per_channel(
    quantized: &Quantized,
    shape: &[usize],
    params: &PerChannelParams,
) -> Result<Vec<f32>> {
    same_dtype(quantized.dtype(), params.dtype())?;
    let inner = check_channels(shape, quantized.len(), params)?;
    Ok(quantized
        .to_i32()
        .chunks(inner)
        .zip(params.channels())
        .flat_map(|(run, p)| run.iter().map(move |&q| dequantize_value(q, p)))
        .collect())
}

/// Quantizes then dequantizes a weight tensor `[out, in, ...]` per output channel.
pub fn fake_quantize_per_channel(
    values: &[f32],
    shape: &[usize],
    params: &PerChannelParams,
) -> Result<Vec<f32>> {
    let inner = check_channels(shape, values.len(), params)?;
    Ok(values
        .chunks(inner)
        .zip(params.channels())
        .flat_map(|(run, p)| run.iter().map(move |&x| fake_quantize_one(x, p)))
        .collect())
}

fn fake_quantize_one(x: f32, params: &QuantParams) -> f32 {
    dequantize_value(quantize_value(x, params), params)
}

/// Checks the shape against the values and the parameters; returns values per channel.
fn check_channels(shape: &[usize], len: usize, params: &PerChannelParams) -> Result<usize> {
    let (channels, inner) = split_channels(shape, len)?;
    if channels != params.len() {
        return Err(Error::ChannelMismatch {
            expected: params.len(),
            found: channels,
        });
    }
    Ok(inner)
}

fn same_dtype(data: QuantDtype, params: QuantDtype) -> Result<()> {
    if data == params {
        Ok(())
    } else {
        Err(Error::DtypeMismatch {
            expected: params.name(),
            found: data.name(),
        })
    }
}

/// Stores in-range integers in their type (values are already saturated).
fn narrow(ints: impl Iterator<Item = i32>, dtype: QuantDtype) -> Quantized {
    match dtype {
        QuantDtype::Int8 => Quantized::Int8(
            ints.map(|q| q.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8)
                .collect(),
        ),
        QuantDtype::Uint8 => Quantized::Uint8(
            ints.map(|q| q.clamp(i32::from(u8::MIN), i32::from(u8::MAX)) as u8)
                .collect(),
        ),
    }
}
