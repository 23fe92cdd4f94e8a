//! What every activation observer offers: it takes f32 activations batch by batch and
//! reports a clipping range, from which quantization parameters follow.

use crate::error::{Error, Result};
use crate::params::QuantParams;

/// A real-valued clipping range [min, max].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

impl Range {
    /// The symmetric clipping magnitude max(|min|, |max|).
    pub fn amax(&self) -> f32 {
        self.min.abs().max(self.max.abs())
    }
}

/// An observer of one activation tensor, fed batch by batch.
pub trait Observer {
    /// Adds a batch of values (any layout; only the values matter). A batch holding NaN or
    /// an infinity is rejected whole and leaves the observer unchanged.
    fn observe(&mut self, batch: &[f32]) -> Result<()>;

    /// Number of values observed so far.
    fn count(&self) -> u64;

    /// Clipping range for asymmetric quantization.
    fn range(&self) -> Result<Range>;

    /// Clipping magnitude for symmetric quantization.
    fn amax(&self) -> Result<f32>;

    /// Symmetric signed INT8 parameters (zero point 0, scale = amax / 127).
    fn symmetric_int8(&self) -> Result<QuantParams> {
        QuantParams::symmetric_int8(self.amax()?)
    }

    /// Asymmetric uint8 parameters over [`Observer::range`].
    fn asymmetric_uint8(&self) -> Result<QuantParams> {
        let range = self.range()?;
        QuantParams::asymmetric_uint8(range.min, range.max)
    }
}

/// Rejects a batch holding a non-finite value, naming the first one.
pub(crate) fn check_finite(batch: &[f32], batch_index: u64) -> Result<()> {
    match batch.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            batch: batch_index,
            index,
            value: batch[index],
        }),
    }
}
