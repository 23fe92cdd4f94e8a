//! The entropy activation observer: the clipping magnitude that TensorRT's entropy
//! calibrator picks, the threshold whose 128-level quantized distribution of |x| loses the
//! least information (KL divergence) against the observed one.
//!
//! The values go into the same growing, zero-centred histogram as [`PercentileObserver`]
//! (4096 signed bins, 2048 after folding onto |x|, the bin at zero levelled with its
//! neighbour as NVIDIA's calibrators do). For every candidate threshold `i` bins
//! wide, from 128 to 2048, the reference distribution P is the first `i` bins with
//! everything beyond added to the last one, and Q is those `i` bins merged into 128 levels
//! and spread back evenly over the bins that P fills; empty bins of both are smoothed (as
//! MXNet's calibrator does) so the divergence stays finite. The threshold with the smallest
//! KL(P || Q) wins; its clipping magnitude is the threshold bin's upper edge.

use crate::error::Result;
use crate::histogram::PercentileObserver;
use crate::observer::{Observer, Range};

/// Signed bins of the underlying histogram (2048 after folding, as TensorRT uses).
pub const ENTROPY_BINS: usize = 4096;
/// Quantization levels of |x| for signed INT8: 0..=127.
const LEVELS: usize = 128;

/// Histogram observer clipping where the KL divergence of the INT8 quantized distribution
/// is smallest (TensorRT's `EntropyCalibration2` rule).
#[derive(Clone, Debug, PartialEq)]
pub struct EntropyObserver {
    histogram: PercentileObserver,
}

impl Default for EntropyObserver {
    fn default() -> Self {
        Self::new()
    }
}

impl EntropyObserver {
    /// An observer with [`ENTROPY_BINS`] bins.
    pub fn new() -> Self {
        let histogram = PercentileObserver::with_bins(100.0, ENTROPY_BINS)
            .expect("100 is a valid percentile and 4096 an even bin count");
        Self { histogram }
    }

    /// The folded |x| histogram: bin `j` counts values with |x| in `[j w, (j + 1) w)`,
    /// except that the first bin takes the second one's count: after a ReLU most values are
    /// exactly 0, and that spike would otherwise make a narrow range look loss-free.
    fn folded(&self) -> Vec<u64> {
        let counts = self.histogram.counts();
        let half = counts.len() / 2;
        let mut folded: Vec<u64> = (0..half)
            .map(|j| counts[half + j] + counts[half - 1 - j])
            .collect();
        if folded.len() > 1 {
            folded[0] = folded[1];
        }
        folded
    }
}

/// The number of folded bins, at least [`LEVELS`] and at most `folded.len()`, whose
/// threshold minimises KL(P || Q). Exposed for tests through [`EntropyObserver`].
fn best_threshold_bins(folded: &[u64]) -> usize {
    let n = folded.len();
    if n <= LEVELS {
        return n;
    }
    let mut best = (f64::INFINITY, n);
    let mut beyond: u64 = folded.iter().sum();
    for &c in &folded[..LEVELS] {
        beyond -= c;
    }
    for i in LEVELS..=n {
        let kl = divergence(&folded[..i], beyond);
        if kl < best.0 {
            best = (kl, i);
        }
        if i < n {
            beyond -= folded[i];
        }
    }
    best.1
}

/// Replaces empty bins of a normalised distribution by `SMOOTHING` and takes that mass from
/// the filled bins evenly, so that KL(P || Q) stays finite where one of them is empty.
const SMOOTHING: f64 = 1e-4;

fn smooth(mut d: Vec<f64>) -> Vec<f64> {
    let total: f64 = d.iter().sum();
    if total == 0.0 {
        return d;
    }
    let zeros = d.iter().filter(|&&v| v == 0.0).count();
    let filled = d.len() - zeros;
    if zeros == 0 || filled == 0 {
        return d.into_iter().map(|v| v / total).collect();
    }
    let take = SMOOTHING * zeros as f64 / filled as f64;
    for v in &mut d {
        *v = if *v == 0.0 {
            SMOOTHING
        } else {
            *v / total - take
        };
    }
    d
}

/// KL(P || Q) for the first bins `head` and the count beyond them: P is `head` with the
/// count beyond added to its last bin; Q merges `head` into 128 levels and spreads each
/// level's count evenly over the level's bins that P fills. Both are smoothed first.
fn divergence(head: &[u64], beyond: u64) -> f64 {
    let i = head.len();
    let mut p: Vec<f64> = head.iter().map(|&c| c as f64).collect();
    p[i - 1] += beyond as f64;
    let mut q = vec![0f64; i];
    for level in 0..LEVELS {
        let start = level * i / LEVELS;
        let end = if level + 1 == LEVELS {
            i
        } else {
            (level + 1) * i / LEVELS
        };
        let total: u64 = head[start..end].iter().sum();
        let filled = p[start..end].iter().filter(|&&c| c > 0.0).count();
        if filled == 0 {
            continue;
        }
        let share = total as f64 / filled as f64;
        for k in start..end {
            if p[k] > 0.0 {
                q[k] = share;
            }
        }
    }
    if p.iter().all(|&v| v == 0.0) {
        return 0.0;
    }
    if q.iter().all(|&v| v == 0.0) {
        return f64::INFINITY;
    }
    let (p, q) = (smooth(p), smooth(q));
    p.iter()
        .zip(&q)
        .filter(|(&pk, _)| pk > 0.0)
        .map(|(&pk, &qk)| pk * (pk / qk).ln())
        .sum()
}

impl Observer for EntropyObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        self.histogram.observe(batch)
    }

    fn count(&self) -> u64 {
        self.histogram.count()
    }

    /// `[max(min, -amax), min(max, amax)]`: the observed range clipped at the entropy
    /// magnitude, so a non-negative activation keeps its zero lower bound.
    fn range(&self) -> Result<Range> {
        let amax = self.amax()?;
        let seen = self.histogram.observed()?;
        Ok(Range {
            min: seen.min.max(-amax),
            max: seen.max.min(amax),
        })
    }

    fn amax(&self) -> Result<f32> {
        let seen = self.histogram.observed()?;
        let folded = self.folded();
        let bins = best_threshold_bins(&folded);
        let width = f64::from(self.histogram.bin_width());
        let amax = (bins as f64 * width) as f32;
        Ok(amax.min(seen.amax()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_when_the_levels_lose_nothing() {
        // 128 bins, one level each: Q equals P.
        let head: Vec<u64> = (1..=128).collect();
        assert!(divergence(&head, 0).abs() < 1e-12);
    }

    #[test]
    fn kl_hand_computed_for_two_bins_per_level() {
        // 256 bins: level 0 merges bins 0 and 1 (counts 3 and 1) into 2 and 2; every other
        // level holds two bins of 1. P = (3, 1, 1, ...), Q = (2, 2, 1, ...), both over 258.
        let mut head = vec![1u64; 256];
        head[0] = 3;
        let total = 258.0f64;
        let expected = 3.0 / total * ((3.0 / total) / (2.0 / total)).ln()
            + 1.0 / total * ((1.0 / total) / (2.0 / total)).ln();
        assert!((divergence(&head, 0) - expected).abs() < 1e-12);
    }

    #[test]
    fn outliers_alone_in_the_last_level_cost_a_finite_divergence() {
        let mut head = vec![0u64; 256];
        head[0] = 10;
        let kl = divergence(&head, 5);
        assert!(kl.is_finite() && kl > 0.0, "{kl}");
    }
}
