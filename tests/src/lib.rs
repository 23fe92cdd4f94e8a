//! Shared helpers for the cross-crate end-to-end tests in `tests/tests/`.

use adapts_runtime::Tensor as RtTensor;
use candle_core::Tensor;

/// Converts a candle tensor to the runtime's plain tensor.
pub fn to_runtime(t: &Tensor) -> RtTensor {
    let data = t
        .flatten_all()
        .and_then(|f| f.to_vec1::<f32>())
        .expect("f32 tensor");
    RtTensor::new(t.dims().to_vec(), data).expect("consistent shape")
}

/// `max |a - b| / max |b|`: the parity metric between an exported graph and candle.
pub fn relative_error(a: &RtTensor, b: &RtTensor) -> f32 {
    assert_eq!(a.shape, b.shape, "shapes differ");
    let scale = b.max_abs().max(f32::MIN_POSITIVE);
    let max_diff = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    max_diff / scale
}
