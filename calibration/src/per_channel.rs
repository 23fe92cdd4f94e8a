//! The per-channel min/max observer for weights laid out `[out, in, ...]`: one range per
//! output channel (axis 0), as per-channel symmetric INT8 weight quantization needs.

use crate::channels::split_channels;
use crate::error::{Error, Result};
use crate::observer::Range;
use crate::params::PerChannelParams;

/// Tracks min and max of each output channel of a weight tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerChannelMinMaxObserver {
    ranges: Vec<Range>,
}

impl PerChannelMinMaxObserver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a weight tensor of `shape` (`[out, in, ...]`, row-major). Later tensors must
    /// have the same number of output channels; non-finite weights are rejected.
    pub fn observe(&mut self, weights: &[f32], shape: &[usize]) -> Result<()> {
        let (channels, inner) = split_channels(shape, weights.len())?;
        if !self.ranges.is_empty() && self.ranges.len() != channels {
            return Err(Error::ChannelMismatch {
                expected: self.ranges.len(),
                found: channels,
            });
        }
        if let Some(index) = weights.iter().position(|w| !w.is_finite()) {
            return Err(Error::NonFiniteWeight {
                index,
                value: weights[index],
            });
        }
        let fresh = self.ranges.is_empty();
        for (c, run) in weights.chunks(inner).enumerate() {
            let (lo, hi) = run
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &w| {
                    (lo.min(w), hi.max(w))
                });
            if fresh {
                self.ranges.push(Range { min: lo, max: hi });
            } else if let Some(r) = self.ranges.get_mut(c) {
                r.min = r.min.min(lo);
                r.max = r.max.max(hi);
            }
        }
        Ok(())
    }

    /// Number of output channels (0 before the first tensor).
    pub fn channels(&self) -> usize {
        self.ranges.len()
    }

    /// The range of each output channel.
    pub fn ranges(&self) -> Result<&[Range]> {
        if self.ranges.is_empty() {
            Err(Error::NothingObserved)
        } else {
            Ok(&self.ranges)
        }
    }

    /// The clipping magnitude of each output channel.
    pub fn amaxes(&self) -> Result<Vec<f32>> {
        Ok(self.ranges()?.iter().map(Range::amax).collect())
    }

    /// Symmetric signed INT8 parameters per output channel.
    pub fn symmetric_int8(&self) -> Result<PerChannelParams> {
        PerChannelParams::symmetric_int8(&self.amaxes()?)
    }

    /// Symmetric signed INT8 parameters per output channel over the reduced range, for
    /// weights that integer kernels multiply (see [`crate::REDUCED_WEIGHT_LEVEL`]).
    pub fn symmetric_int8_reduced(&self) -> Result<PerChannelParams> {
        PerChannelParams::symmetric_int8_reduced(&self.amaxes()?)
    }
}
