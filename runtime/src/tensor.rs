//! The tensor the runtime hands to and takes from its engines: a dense, row-major `f32`
//! buffer with its shape. Deliberately plain: images, features and score maps all travel as
//! this type, and engines copy in and out of it at their boundary.

use crate::error::{Error, Result};

/// A dense row-major `f32` tensor.
///
/// The invariant `data.len() == shape.iter().product()` is checked by [`Tensor::new`]; engines
/// check it again before a run, since the fields are public.
///
/// ```
/// # fn main() -> adapts_runtime::Result<()> {
/// use adapts_runtime::Tensor;
///
/// let t = Tensor::new(vec![2, 3], vec![0.0, -4.0, 1.0, 2.0, 3.0, 0.5])?;
/// assert_eq!(t.numel(), 6);
/// assert_eq!(t.max_abs(), 4.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub data: Vec<f32>,
}

impl Tensor {
    /// Builds a tensor, checking that `data` holds exactly as many values as `shape` describes.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let tensor = Self { shape, data };
        tensor.check_len()?;
        Ok(tensor)
    }

    /// A tensor of the given shape filled with zeros.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let numel = shape.iter().product();
        Self {
            shape,
            data: vec![0.0; numel],
        }
    }

    /// Number of elements the shape describes (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Largest absolute value, 0 for an empty tensor; NaN if any value is NaN.
    pub fn max_abs(&self) -> f32 {
        self.data.iter().fold(0.0_f32, |acc, v| {
            if v.is_nan() || acc.is_nan() {
                f32::NAN
            } else {
                acc.max(v.abs())
            }
        })
    }

    /// Checks the length invariant, for tensors assembled through the public fields.
    pub fn check_len(&self) -> Result<()> {
        let expected = self
            .shape
            .iter()
            .try_fold(1_usize, |acc, &d| acc.checked_mul(d));
        match expected {
            Some(expected) if expected == self.data.len() => Ok(()),
            _ => Err(Error::TensorLength {
                shape: self.shape.clone(),
                expected: expected.unwrap_or(usize::MAX),
                found: self.data.len(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rejects_wrong_length() {
        let err = Tensor::new(vec![2, 3], vec![0.0; 5]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor of shape [2, 3] needs 6 values, found 5"
        );
    }

    #[test]
    fn scalar_has_one_element() {
        let t = Tensor::new(vec![], vec![7.0]).unwrap();
        assert_eq!(t.numel(), 1);
        assert_eq!(t.rank(), 0);
    }

    #[test]
    fn max_abs_sees_negatives_and_nan() {
        assert_eq!(Tensor::zeros(vec![0]).max_abs(), 0.0);
        assert_eq!(
            Tensor::new(vec![3], vec![1.0, -5.0, 2.0])
                .unwrap()
                .max_abs(),
            5.0
        );
        assert!(Tensor::new(vec![2], vec![f32::NAN, 1.0])
            .unwrap()
            .max_abs()
            .is_nan());
    }
}
