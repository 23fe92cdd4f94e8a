//! How a weight tensor laid out `[out, in, ...]` splits into output channels (axis 0): each
//! channel is one contiguous run of `in * ...` values.

use crate::error::{Error, Result};

/// Returns (channels, values per channel) for `shape`, checking it describes `len` values.
pub(crate) fn split_channels(shape: &[usize], len: usize) -> Result<(usize, usize)> {
    let fail = |reason| Error::InvalidShape {
        shape: shape.to_vec(),
        len,
        reason,
    };
    let (&channels, rest) = shape.split_first().ok_or_else(|| fail("shape is empty"))?;
    let inner = rest
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| fail("element count overflows"))?;
    if channels == 0 || inner == 0 {
        return Err(fail("shape has a zero dimension"));
    }
    if channels.checked_mul(inner) != Some(len) {
        return Err(fail("element count differs"));
    }
    Ok((channels, inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_conv_weights_on_axis_zero() {
        assert_eq!(split_channels(&[4, 3, 1, 1], 12).ok(), Some((4, 3)));
        assert_eq!(split_channels(&[5], 5).ok(), Some((5, 1)));
    }

    #[test]
    fn rejects_shapes_that_do_not_fit() {
        assert!(split_channels(&[], 0).is_err());
        assert!(split_channels(&[4, 3], 11).is_err());
        assert!(split_channels(&[4, 0], 0).is_err());
        assert!(split_channels(&[usize::MAX, 2], 4).is_err());
    }
}
