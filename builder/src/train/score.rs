//! Reference scoring in candle: the deployable pipeline (trunk, adapters, head) exactly as
//! the bundle's graphs compute it. Thresholds are set with it, and the runtime is checked
//! against it.

use candle_core::Tensor;

use crate::model::adapter::Adapter;
use crate::model::graph::Eval;
use crate::model::head;
use crate::model::Trunk;
use crate::train::plan::Plan;
use crate::Result;

/// Scores, maps and routing vectors of a batch.
pub struct Scored {
    /// `[N]` image scores.
    pub scores: Vec<f32>,
    /// `[N, 1, S, S]` anomaly maps.
    pub maps: Tensor,
    /// `[N, D]` pooled teacher vectors of the deepest kept stage.
    pub pooled: Tensor,
}

/// Runs trunk, adapters and head on normalised images `[N, 3, S, S]`.
pub fn score_batch(
    trunk: &Trunk,
    plan: &Plan,
    adapters: &[Adapter],
    images: &Tensor,
) -> Result<Scored> {
    let mut g = Eval;
    let size = images.dim(3)?;
    let t_first = trunk.forward_to(&mut g, images, plan.first())?;
    let mut teacher = vec![t_first.clone()];
    let mut student = vec![adapters[0].forward(&mut g, &t_first)?];
    let (mut t, mut s) = (t_first, student[0].clone());
    let mut next = 1;
    for k in plan.first() + 1..=plan.last() {
        t = trunk.stage(&mut g, k, &t)?;
        s = trunk.stage(&mut g, k, &s)?;
        if plan.is_adapted(k) {
            s = adapters[next].forward(&mut g, &s)?;
            next += 1;
            teacher.push(t.clone());
            student.push(s.clone());
        }
    }
    let (pooled, _) = trunk.head(&mut g, &t)?;
    let pairs: Vec<(Tensor, Tensor)> = teacher.into_iter().zip(student).collect();
    let (maps, scores) = head::score(&mut g, &pairs, size)?;
    Ok(Scored {
        scores: scores.to_vec1::<f32>()?,
        maps,
        pooled,
    })
}
