//! The scoring head: per-stage distance maps between teacher and student features,
//! upsampled to the input size and multiplied; the image score is the map's maximum
//! (the AdapTS paper's inference rule).

use super::graph::Graph;
use crate::Result;

/// `d = sum_c (n(t) - n(s))^2`, `[N, 1, H, W]`.
pub fn distance_map<G: Graph>(g: &mut G, t: &G::Value, s: &G::Value) -> Result<G::Value> {
    let nt = g.l2_normalize_channels(t)?;
    let ns = g.l2_normalize_channels(s)?;
    let diff = g.sub(&nt, &ns)?;
    g.sum_square_channels(&diff)
}

/// Anomaly map `[N, 1, size, size]` and score `[N]` from `(teacher, student)` feature pairs
/// of the adapted stages.
pub fn score<G: Graph>(
    g: &mut G,
    pairs: &[(G::Value, G::Value)],
    size: usize,
) -> Result<(G::Value, G::Value)> {
    let mut map: Option<G::Value> = None;
    for (t, s) in pairs {
        let d = distance_map(g, t, s)?;
        let up = g.resize_bilinear(&d, size, size)?;
        map = Some(match map {
            Some(m) => g.mul(&m, &up)?,
            None => up,
        });
    }
    let map =
        map.ok_or_else(|| crate::Error::Config("score head needs at least one stage".into()))?;
    let score = g.max_per_image(&map)?;
    Ok((map, score))
}
