//! The percentile activation observer: a fixed-size histogram over a zero-centred range
//! [-R, R] that grows by powers of two, so outliers beyond a chosen percentile are clipped.
//!
//! R starts at the first non-zero batch's max |x| (or at a range given up front). When a
//! later batch exceeds it, R doubles as often as needed and every 2^k neighbouring bins
//! merge into one: with an even bin count and a zero-centred range the old bin edges are a
//! subset of the new ones, so regrowing loses no information beyond the coarser bins.
//! Symmetric bins also let one histogram answer both signed percentiles (asymmetric range)
//! and percentiles of |x| (symmetric amax) by folding the negative half onto the positive.

use crate::error::{Error, Result};
use crate::observer::{check_finite, Observer, Range};

/// Default number of histogram bins.
pub const DEFAULT_BINS: usize = 2048;

/// Histogram-based observer clipping at a percentile of the observed values.
#[derive(Clone, Debug, PartialEq)]
pub struct PercentileObserver {
    percentile: f64,
    counts: Vec<u64>,
    /// R, the histogram covers [-R, R]; 0 until a non-zero value arrives.
    half_range: f64,
    /// Zeros seen while R was still 0; they join the histogram once R is known.
    pending_zeros: u64,
    min: f32,
    max: f32,
    count: u64,
    batches: u64,
}

impl PercentileObserver {
    /// An observer with [`DEFAULT_BINS`] bins clipping at `percentile` (in (0, 100];
    /// 99.99 is a common choice, 100 keeps the extremes).
    pub fn new(percentile: f64) -> Result<Self> {
        Self::with_bins(percentile, DEFAULT_BINS)
    }

    /// An observer with `bins` bins (even, at least 2).
    pub fn with_bins(percentile: f64, bins: usize) -> Result<Self> {
        if !(percentile > 0.0 && percentile <= 100.0) {
            return Err(Error::InvalidPercentile {
                percentile,
                allowed: "(0, 100]",
            });
        }
        if bins < 2 || !bins.is_multiple_of(2) {
            return Err(Error::InvalidBinCount { bins });
        }
        Ok(Self {
            percentile,
            counts: vec![0; bins],
            half_range: 0.0,
            pending_zeros: 0,
            min: 0.0,
            max: 0.0,
            count: 0,
            batches: 0,
        })
    }

    /// Starts the histogram at [-half_range, half_range] instead of the first batch's range
    /// (useful when the range is known, e.g. normalised images). Only before observing.
    pub fn with_initial_range(mut self, half_range: f32) -> Result<Self> {
        if !(half_range.is_finite() && half_range > 0.0) || self.count > 0 {
            return Err(Error::InvalidInitialRange { half_range });
        }
        self.half_range = f64::from(half_range);
        Ok(self)
    }

    /// The clipping percentile.
    pub fn percentile(&self) -> f64 {
        self.percentile
    }

    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    /// R: the histogram covers [-R, R].
    pub fn half_range(&self) -> f32 {
        self.half_range as f32
    }

    /// Width of one bin, 2R / bins.
    pub fn bin_width(&self) -> f32 {
        self.width() as f32
    }

    /// The smallest and largest value observed.
    pub fn observed(&self) -> Result<Range> {
        if self.count == 0 {
            return Err(Error::NothingObserved);
        }
        Ok(Range {
            min: self.min,
            max: self.max,
        })
    }

    /// Bin counts from -R upwards (zeros seen before any non-zero value are not yet binned).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The `p`-th percentile (p in [0, 100]) of the signed values, interpolated linearly
    /// inside its bin and kept within the observed [min, max]. Accurate to one bin width.
    pub fn percentile_value(&self, p: f64) -> Result<f32> {
        let target = self.target(p)?;
        if self.half_range == 0.0 {
            return Ok(0.0);
        }
        let value = interpolate(&self.counts, target, -self.half_range, self.width());
        Ok((value as f32).clamp(self.min, self.max))
    }

    /// The `p`-th percentile (p in [0, 100]) of |x|, accurate to one bin width.
    pub fn abs_percentile(&self, p: f64) -> Result<f32> {
        let target = self.target(p)?;
        if self.half_range == 0.0 {
            return Ok(0.0);
        }
        let half = self.counts.len() / 2;
        let folded: Vec<u64> = (0..half)
            .map(|j| self.counts[half + j] + self.counts[half - 1 - j])
            .collect();
        let value = interpolate(&folded, target, 0.0, self.width());
        let amax = self.min.abs().max(self.max.abs());
        Ok((value as f32).clamp(0.0, amax))
    }

    fn width(&self) -> f64 {
        2.0 * self.half_range / self.counts.len() as f64
    }

    /// Rank (in values) that the percentile asks for.
    fn target(&self, p: f64) -> Result<f64> {
        if !(0.0..=100.0).contains(&p) {
            return Err(Error::InvalidPercentile {
                percentile: p,
                allowed: "[0, 100]",
            });
        }
        if self.count == 0 {
            return Err(Error::NothingObserved);
        }
        Ok(p / 100.0 * self.count as f64)
    }

    /// Grows R by powers of two until it covers `needed`, merging bins to match.
    fn grow(&mut self, needed: f64) {
        if self.half_range == 0.0 {
            self.half_range = needed;
            let zero_bin = self.counts.len() / 2;
            self.counts[zero_bin] += std::mem::take(&mut self.pending_zeros);
            return;
        }
        let mut doublings = 0u32;
        while self.half_range < needed {
            self.half_range *= 2.0;
            doublings += 1;
        }
        if doublings == 0 {
            return;
        }
        let n = self.counts.len();
        let half = (n / 2) as i64;
        // Merging more than n bins at once is the same as merging n.
        let factor = if doublings < 62 {
            (1i64 << doublings).min(n as i64)
        } else {
            n as i64
        };
        let mut merged = vec![0u64; n];
        for (i, &c) in self.counts.iter().enumerate() {
            let j = (i as i64 - half).div_euclid(factor) + half;
            merged[j as usize] += c;
        }
        self.counts = merged;
    }

    fn bin_of(&self, x: f32) -> usize {
        let last = self.counts.len() - 1;
        let position = ((f64::from(x) + self.half_range) / self.width()).floor();
        if position <= 0.0 {
            0
        } else {
            (position as usize).min(last)
        }
    }
}

impl Observer for PercentileObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        check_finite(batch, self.batches)?;
        self.batches += 1;
        if batch.is_empty() {
            return Ok(());
        }
        let batch_amax = batch.iter().fold(0.0f64, |m, &x| m.max(f64::from(x.abs())));
        if batch_amax > self.half_range {
            self.grow(batch_amax);
        }
        if self.half_range == 0.0 {
            self.pending_zeros += batch.len() as u64;
        } else {
            for &x in batch {
                let bin = self.bin_of(x);
                self.counts[bin] += 1;
            }
        }
        let (lo, hi) = batch
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        if self.count == 0 {
            (self.min, self.max) = (lo, hi);
        } else {
            (self.min, self.max) = (self.min.min(lo), self.max.max(hi));
        }
        self.count += batch.len() as u64;
        Ok(())
    }

    fn count(&self) -> u64 {
        self.count
    }

    /// [percentile(100 - p), percentile(p)] of the signed values.
    fn range(&self) -> Result<Range> {
        Ok(Range {
            min: self.percentile_value(100.0 - self.percentile)?,
            max: self.percentile_value(self.percentile)?,
        })
    }

    /// The p-th percentile of |x|.
    fn amax(&self) -> Result<f32> {
        self.abs_percentile(self.percentile)
    }
}

/// The value at rank `target` of a histogram whose first bin starts at `start`, assuming
/// values spread evenly inside each bin.
fn interpolate(counts: &[u64], target: f64, start: f64, width: f64) -> f64 {
    let mut before = 0u64;
    for (bin, &c) in counts.iter().enumerate() {
        let after = before + c;
        if c > 0 && after as f64 >= target {
            let fraction = ((target - before as f64) / c as f64).clamp(0.0, 1.0);
            return start + (bin as f64 + fraction) * width;
        }
        before = after;
    }
    start + counts.len() as f64 * width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_configuration() {
        assert!(PercentileObserver::new(0.0).is_err());
        assert!(PercentileObserver::new(100.5).is_err());
        assert!(PercentileObserver::new(f64::NAN).is_err());
        assert!(PercentileObserver::with_bins(99.0, 3).is_err());
        assert!(PercentileObserver::with_bins(99.0, 0).is_err());
        assert!(PercentileObserver::new(99.0)
            .and_then(|o| o.with_initial_range(0.0))
            .is_err());
    }

    #[test]
    fn hundredth_percentile_is_the_extreme() {
        let mut obs = PercentileObserver::new(100.0).expect("valid");
        obs.observe(&[0.1, -0.7, 0.3]).expect("finite");
        obs.observe(&[2.5, -1.0]).expect("finite");
        assert_eq!(obs.amax().ok(), Some(2.5));
        assert_eq!(
            obs.range().ok(),
            Some(Range {
                min: -1.0,
                max: 2.5
            })
        );
    }

    #[test]
    fn zeros_before_the_first_nonzero_value_are_kept() {
        let mut obs = PercentileObserver::with_bins(50.0, 8).expect("valid");
        obs.observe(&[0.0; 6]).expect("finite");
        assert_eq!(obs.amax().ok(), Some(0.0));
        obs.observe(&[4.0, -4.0]).expect("finite");
        assert_eq!(obs.counts().iter().sum::<u64>(), 8);
        // Six of eight values are zero: the median of |x| lies in the first bin.
        let median = obs.abs_percentile(50.0).expect("observed");
        assert!(median <= obs.bin_width(), "{median}");
    }

    #[test]
    fn survives_range_jumps_of_hundreds_of_doublings() {
        let mut obs = PercentileObserver::with_bins(99.0, 8).expect("valid");
        obs.observe(&[1e-30, -1e-30]).expect("finite");
        obs.observe(&[1e30]).expect("finite");
        assert_eq!(obs.counts().iter().sum::<u64>(), 3);
        assert_eq!(obs.counts()[3] + obs.counts()[4], 2, "{:?}", obs.counts());
        assert_eq!(obs.abs_percentile(100.0).ok(), Some(1e30));

        // Exactly 63 doublings: 2^63 does not fit a positive i64.
        let mut obs = PercentileObserver::with_bins(99.0, 8)
            .and_then(|o| o.with_initial_range(1.0))
            .expect("valid");
        obs.observe(&[0.9, -0.9]).expect("finite");
        obs.observe(&[2f32.powi(63)]).expect("finite");
        assert_eq!(obs.half_range(), 2f32.powi(63));
        assert_eq!(obs.counts(), &[0, 0, 0, 1, 1, 0, 0, 1]);
    }

    #[test]
    fn all_zero_input_gives_scale_one() {
        let mut obs = PercentileObserver::new(99.9).expect("valid");
        obs.observe(&[0.0; 64]).expect("finite");
        let p = obs.symmetric_int8().expect("params");
        assert_eq!((p.scale(), p.zero_point()), (1.0, 0));
        assert!(!p.scale().is_nan());
    }
}
