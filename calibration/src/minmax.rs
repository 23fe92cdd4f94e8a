//! The min/max activation observer: the clipping range is exactly the observed extremes.

use crate::error::{Error, Result};
use crate::observer::{check_finite, Observer, Range};

/// Tracks the smallest and largest activation seen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MinMaxObserver {
    range: Option<Range>,
    count: u64,
    batches: u64,
}

impl MinMaxObserver {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Observer for MinMaxObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        check_finite(batch, self.batches)?;
        self.batches += 1;
        for &x in batch {
            let r = self.range.get_or_insert(Range { min: x, max: x });
            r.min = r.min.min(x);
            r.max = r.max.max(x);
        }
        self.count += batch.len() as u64;
        Ok(())
    }

    fn count(&self) -> u64 {
        self.count
    }

    fn range(&self) -> Result<Range> {
        self.range.ok_or(Error::NothingObserved)
    }

    fn amax(&self) -> Result<f32> {
        self.range().map(|r| r.amax())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_extremes_across_batches() {
        let mut obs = MinMaxObserver::new();
        assert!(matches!(obs.range(), Err(Error::NothingObserved)));
        obs.observe(&[0.5, -0.25]).expect("finite");
        obs.observe(&[]).expect("empty batch is fine");
        obs.observe(&[3.0, -4.5, 1.0]).expect("finite");
        assert_eq!(
            obs.range().ok(),
            Some(Range {
                min: -4.5,
                max: 3.0
            })
        );
        assert_eq!(obs.amax().ok(), Some(4.5));
        assert_eq!(obs.count(), 5);
    }

    #[test]
    fn rejects_non_finite_batches_whole() {
        let mut obs = MinMaxObserver::new();
        obs.observe(&[1.0]).expect("finite");
        let err = obs.observe(&[100.0, f32::NAN]).expect_err("NaN");
        assert!(
            matches!(
                err,
                Error::NonFinite {
                    batch: 1,
                    index: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(obs.range().ok(), Some(Range { min: 1.0, max: 1.0 }));
        assert_eq!(obs.count(), 1);
    }

    #[test]
    fn all_zero_input_gives_scale_one() {
        let mut obs = MinMaxObserver::new();
        obs.observe(&[0.0; 16]).expect("finite");
        let p = obs.symmetric_int8().expect("params");
        assert_eq!((p.scale(), p.zero_point()), (1.0, 0));
        let p = obs.asymmetric_uint8().expect("params");
        assert_eq!((p.scale(), p.zero_point()), (1.0, 0));
    }
}
