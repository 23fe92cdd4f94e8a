//! Training losses: STFPM feature matching and the segmentation head's focal + L1 loss.

use candle_core::Tensor;

use crate::model::graph::{Eval, Graph};
use crate::Result;

/// `sum_l 0.5 / (H_l W_l) * sum ||n(t_l) - n(s_l)||^2` (sum over batch, channels, pixels).
pub fn stfpm(teacher: &[Tensor], student: &[Tensor]) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for (t, s) in teacher.iter().zip(student) {
        let (_, _, h, w) = t.dims4()?;
        let d = per_channel_sq_diff(t, s)?.sum_all()?;
        let term = (d * (0.5 / (h * w) as f64))?;
        total = Some(match total {
            Some(acc) => (acc + term)?,
            None => term,
        });
    }
    total.ok_or_else(|| crate::Error::Config("no adapted stage".into()))
}

/// `(n(t) - n(s))^2` per channel, `[N, C, H, W]`.
pub fn per_channel_sq_diff(t: &Tensor, s: &Tensor) -> Result<Tensor> {
    let nt = Eval.l2_normalize_channels(t)?;
    let ns = Eval.l2_normalize_channels(s)?;
    Ok((nt - ns)?.sqr()?)
}

/// Focal loss (gamma 4) plus L1, both averaged over pixels, on probabilities `p` and a binary
/// target of the same shape.
pub fn focal_l1(p: &Tensor, target: &Tensor, gamma: f64) -> Result<Tensor> {
    let eps = 1e-6;
    let pc = p.clamp(eps, 1.0 - eps)?;
    let one_minus_t = target.affine(-1.0, 1.0)?;
    let one_minus_p = pc.affine(-1.0, 1.0)?;
    let ce = ((target * pc.log()?)? + (&one_minus_t * one_minus_p.log()?)?)?.neg()?;
    let p_t = ((&pc * target)? + (&one_minus_p * &one_minus_t)?)?;
    let focal = (ce * p_t.affine(-1.0, 1.0)?.powf(gamma)?)?.mean_all()?;
    let l1 = (p - target)?.abs()?.mean_all()?;
    Ok((focal + l1)?)
}
