//! Detection metrics, computed exactly by sorting (ties handled as scikit-learn does).
//!
//! [`auroc`] suits image scores (thousands). Pixel AUROC runs over every pixel of every test
//! image of a product (MVTec AD at 256 px: about 110 M pixels), so [`PixelScores`] keeps only
//! the scores, 4 bytes a pixel: positives fill one buffer from the front and negatives from the
//! back, each half is sorted in place, and one merge walk counts the pairs a positive wins
//! (ties count half). No index permutation, no per-pixel label storage.

/// Area under the ROC curve of `scores` for binary `labels` (true = anomalous): the
/// Mann-Whitney statistic with average ranks for ties, equal to scikit-learn's
/// `roc_auc_score`. `None` when one class is absent.
pub fn auroc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let avg = (i + j + 2) as f64 / 2.0;
        rank_sum += avg * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Scores of pixels split by ground truth, for an exact AUROC over many millions of pixels.
///
/// One buffer holds positives (defect pixels) at the front and negatives at the back, so a
/// buffer sized with [`PixelScores::with_capacity`] to the exact pixel count never reallocates:
/// peak memory is 4 bytes a pixel. `-0.0` is stored as `0.0` and every NaN as one NaN, so
/// equal values tie exactly as scikit-learn's `roc_auc_score` ties them (NaN, which sklearn
/// refuses, orders above `+inf`).
#[derive(Debug, Clone, Default)]
pub struct PixelScores {
    buf: Vec<f32>,
    positives: usize,
    negatives: usize,
}

impl PixelScores {
    /// Room for `n` pixels without reallocating.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            buf: vec![0.0; n],
            positives: 0,
            negatives: 0,
        }
    }

    /// Number of positive (defect) pixels so far.
    pub fn positives(&self) -> usize {
        self.positives
    }

    /// Number of negative (normal) pixels so far.
    pub fn negatives(&self) -> usize {
        self.negatives
    }

    /// Adds one pixel's score and ground truth (true = defect).
    pub fn push(&mut self, score: f32, defect: bool) {
        if self.positives + self.negatives == self.buf.len() {
            self.grow();
        }
        let score = if score.is_nan() {
            f32::NAN
        } else {
            score + 0.0
        };
        if defect {
            self.buf[self.positives] = score;
            self.positives += 1;
        } else {
            self.negatives += 1;
            let at = self.buf.len() - self.negatives;
            self.buf[at] = score;
        }
    }

    /// Adds a map and its mask of the same length.
    pub fn extend(&mut self, scores: &[f32], defects: &[bool]) {
        for (&s, &d) in scores.iter().zip(defects) {
            self.push(s, d);
        }
    }

    /// Doubles the buffer, keeping positives at the front and negatives at the back.
    fn grow(&mut self) {
        let old = self.buf.len();
        let new = (2 * old).max(1024);
        let mut buf = vec![0.0; new];
        buf[..self.positives].copy_from_slice(&self.buf[..self.positives]);
        buf[new - self.negatives..].copy_from_slice(&self.buf[old - self.negatives..]);
        self.buf = buf;
    }

    /// The exact AUROC of the pixels pushed so far (sorts in place); `None` when one class is
    /// absent.
    pub fn auroc(&mut self) -> Option<f64> {
        use rayon::slice::ParallelSliceMut;
        if self.positives == 0 || self.negatives == 0 {
            return None;
        }
        let len = self.buf.len();
        let (front, rest) = self.buf.split_at_mut(self.positives);
        let back = &mut rest[len - self.positives - self.negatives..];
        front.par_sort_unstable_by(f32::total_cmp);
        back.par_sort_unstable_by(f32::total_cmp);
        // Walk the positives in runs of equal value; `below` negatives are strictly smaller
        // than the run, `equal` tie with it. Each pair counts 2 (win) or 1 (tie): integers,
        // so the sum is exact before the one division.
        let (mut doubled, mut below, mut i) = (0u128, 0usize, 0usize);
        while i < front.len() {
            let v = front[i];
            let mut j = i + 1;
            while j < front.len() && front[j].total_cmp(&v).is_eq() {
                j += 1;
            }
            while below < back.len() && back[below].total_cmp(&v).is_lt() {
                below += 1;
            }
            let mut equal = 0usize;
            while below + equal < back.len() && back[below + equal].total_cmp(&v).is_eq() {
                equal += 1;
            }
            doubled += (j - i) as u128 * (2 * below + equal) as u128;
            i = j;
        }
        let pairs = 2 * self.positives as u128 * self.negatives as u128;
        Some(doubled as f64 / pairs as f64)
    }
}

/// Exact AUROC of pixel `scores` against `defects` (true = defect pixel), equal to
/// scikit-learn's `roc_auc_score`, at 4 bytes of extra memory a pixel. `None` when one class
/// is absent or the lengths differ. See [`PixelScores`] to accumulate maps one at a time.
pub fn pixel_auroc(scores: &[f32], defects: &[bool]) -> Option<f64> {
    if scores.len() != defects.len() {
        return None;
    }
    let mut acc = PixelScores::with_capacity(scores.len());
    acc.extend(scores, defects);
    acc.auroc()
}

#[cfg(test)]
mod tests {
    use super::{auroc, pixel_auroc, PixelScores};

    #[test]
    fn perfect_inverse_and_chance() {
        assert_eq!(
            auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(auroc(&[0.5; 4], &[false, true, false, true]), Some(0.5));
        assert_eq!(auroc(&[0.5, 0.6], &[true, true]), None);
    }

    #[test]
    fn ties_count_half() {
        // sklearn.metrics.roc_auc_score([0, 1, 0, 1], [0.1, 0.4, 0.4, 0.8]) == 0.875
        let v = auroc(&[0.1, 0.4, 0.4, 0.8], &[false, true, false, true]).unwrap();
        assert!((v - 0.875).abs() < 1e-12, "{v}");
    }

    #[test]
    fn pixel_auroc_hand_computed() {
        // Perfect, inverse, and one swapped pair of 2 x 2 = 4 pairs.
        let labels = [false, false, true, true];
        assert_eq!(pixel_auroc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(pixel_auroc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(pixel_auroc(&[0.1, 0.85, 0.8, 0.9], &labels), Some(0.75));
        // sklearn.metrics.roc_auc_score([0, 1, 0, 1], [0.1, 0.4, 0.4, 0.8]) == 0.875:
        // pairs (0.4 vs 0.1) win, (0.4 vs 0.4) tie, (0.8 vs both) win -> 3.5 / 4.
        assert_eq!(
            pixel_auroc(&[0.1, 0.4, 0.4, 0.8], &[false, true, false, true]),
            Some(0.875)
        );
        // Ties across runs: positives {1, 1, 2}, negatives {0, 1, 1, 2}: 12 pairs, wins
        // 1+1+3 = 5, ties 2+2+1 = 5 -> (5 + 2.5) / 12.
        let v = pixel_auroc(
            &[1.0, 1.0, 2.0, 0.0, 1.0, 1.0, 2.0],
            &[true, true, true, false, false, false, false],
        )
        .unwrap();
        assert!((v - 7.5 / 12.0).abs() < 1e-15, "{v}");
    }

    #[test]
    fn pixel_auroc_all_equal_is_one_half_and_needs_both_classes() {
        assert_eq!(
            pixel_auroc(&[0.3; 7], &[true, false, false, true, false, false, false]),
            Some(0.5)
        );
        // -0.0 and 0.0 are the same score.
        assert_eq!(pixel_auroc(&[-0.0, 0.0], &[true, false]), Some(0.5));
        assert_eq!(pixel_auroc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(pixel_auroc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(pixel_auroc(&[], &[]), None);
        assert_eq!(pixel_auroc(&[0.1], &[true, false]), None);
    }

    #[test]
    fn pixel_auroc_matches_rank_auroc_on_tied_data_and_survives_growth() {
        // Scores on a coarse grid (many ties), labels from a fixed LCG.
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let n = 5000;
        let scores: Vec<f32> = (0..n).map(|_| (next() % 50) as f32 / 10.0).collect();
        let labels: Vec<bool> = scores
            .iter()
            .map(|&s| (next() % 100) as f32 / 10.0 < s + 2.0)
            .collect();
        let expected = auroc(&scores, &labels).unwrap();
        assert!((pixel_auroc(&scores, &labels).unwrap() - expected).abs() < 1e-12);
        // Pushed one at a time from an empty accumulator: the buffer grows several times.
        let mut acc = PixelScores::default();
        acc.extend(&scores, &labels);
        assert_eq!(acc.positives() + acc.negatives(), n);
        assert!((acc.auroc().unwrap() - expected).abs() < 1e-12);
    }

    /// Time and memory at the size of MVTec AD's test set (1,725 images at 256 x 256, about
    /// 113 M pixels): `/usr/bin/time -v cargo test --release -p adapts-builder --lib --
    /// --ignored pixel_auroc_at_mvtec_scale --nocapture` (peak RSS is about 4 bytes a pixel).
    #[test]
    #[ignore = "benchmark: 450 MB, seconds in release"]
    fn pixel_auroc_at_mvtec_scale() {
        let n = 1725 * 256 * 256;
        let start = std::time::Instant::now();
        let mut acc = PixelScores::with_capacity(n);
        let mut state = 7u64;
        for _ in 0..n {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 40) as u32; // 24 bits
            let defect = u.is_multiple_of(32);
            let score = (u >> 8) as f32 / 65536.0 + if defect { 0.5 } else { 0.0 };
            acc.push(score, defect);
        }
        let filled = start.elapsed();
        let v = acc.auroc().unwrap();
        eprintln!(
            "{n} pixels ({} defect): fill {:.2} s, auroc {:.2} s, AUROC {v:.6}",
            acc.positives(),
            filled.as_secs_f64(),
            (start.elapsed() - filled).as_secs_f64()
        );
        assert!(v > 0.5 && v < 1.0);
    }
}
