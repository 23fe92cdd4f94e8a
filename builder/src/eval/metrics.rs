//! Detection metrics, computed exactly by sorting (ties handled as scikit-learn does).
//!
//! [`auroc`], [`average_precision`] and [`f1_max`] suit image scores (thousands).
//! [`average_precision`] and [`f1_max`] walk the precision-recall curve of scikit-learn's
//! `precision_recall_curve`: one point per distinct score, all tied samples crossing the
//! threshold together. [`aupro`] is the per-region overlap of MVTec AD up to a false-positive
//! rate, from one sort of all pixels.
//!
//! Pixel metrics run over every pixel of every test image of a product (all of MVTec AD at
//! 256 px is about 113 M pixels), so [`PixelScores`] stores a normal pixel as its score alone
//! (4 bytes) and a defect pixel as score and region id (8 bytes); one descending sort of each
//! and one merge walk give P-ROC, P-AP, P-F1max and AUPRO together. No index permutation.

/// Area under the ROC curve of `scores` for binary `labels` (true = anomalous): the
/// Mann-Whitney statistic with average ranks for ties, equal to scikit-learn's
/// `roc_auc_score`. `None` when one class is absent.
pub fn auroc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 || scores.len() != labels.len() {
        return None;
    }
    // One NaN and one zero, so that equal values tie (as in [`PixelScores`]).
    let scores: Vec<f32> = scores.iter().map(|&s| tie_key(s)).collect();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]].total_cmp(&scores[order[i]]).is_eq() {
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

/// Every pixel of a product's test maps with its ground truth, for exact pixel metrics over
/// many millions of pixels: P-ROC, P-AP, P-F1max and AUPRO from one sort and one walk.
///
/// Normal pixels keep their score only (4 bytes); defect pixels keep score and the id of
/// their 8-connected ground-truth region (8 bytes), so MVTec AD's 113 M test pixels at
/// 256 px (about 3 % defect) take about 0.5 GB. `-0.0` is stored as `0.0` and every NaN as one
/// NaN, so equal values tie exactly as scikit-learn ties them (NaN, which scikit-learn
/// refuses, orders above `+inf`).
#[derive(Debug, Clone, Default)]
pub struct PixelScores {
    normal: Vec<f32>,
    defect: Vec<(f32, u32)>,
    region_sizes: Vec<u32>,
    /// Per-pixel region ids of the image being added (reused between images).
    scratch: Vec<u32>,
}

/// The pixel metrics of a [`PixelScores`]; `None` where a class is absent.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct PixelMetrics {
    /// Exact AUROC (scikit-learn's `roc_auc_score`).
    pub auroc: Option<f64>,
    /// Average precision (scikit-learn's `average_precision_score`).
    pub average_precision: Option<f64>,
    /// Best F1 over the precision-recall curve's thresholds.
    pub f1_max: Option<f64>,
    /// AUPRO up to the requested FPR, normalised by it (see [`aupro`]); `None` when the FPR
    /// limit is not in (0, 1].
    pub aupro: Option<f64>,
}

const NO_REGION: u32 = u32::MAX;

fn tie_key(score: f32) -> f32 {
    if score.is_nan() {
        f32::NAN
    } else {
        score + 0.0
    }
}

impl PixelScores {
    /// Room for `n` normal pixels without reallocating.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            normal: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Number of defect pixels so far.
    pub fn positives(&self) -> usize {
        self.defect.len()
    }

    /// Number of normal pixels so far.
    pub fn negatives(&self) -> usize {
        self.normal.len()
    }

    /// Number of ground-truth defect regions so far.
    pub fn regions(&self) -> usize {
        self.region_sizes.len()
    }

    /// Adds an image without defects.
    pub fn add_normal(&mut self, map: &[f32]) {
        self.normal.extend(map.iter().map(|&s| tie_key(s)));
    }

    /// Adds one image's map and mask (row-major `width x height`, true = defect); each
    /// 8-connected defect component of the mask becomes one region. An error when a length
    /// is not `width * height`.
    pub fn add_image(
        &mut self,
        map: &[f32],
        mask: &[bool],
        width: usize,
        height: usize,
    ) -> crate::Result<()> {
        let pixels = width * height;
        if map.len() != pixels || mask.len() != pixels {
            return Err(crate::Error::Pipeline(format!(
                "map of {} and mask of {} values for a {width}x{height} image",
                map.len(),
                mask.len()
            )));
        }
        let region_of = &mut self.scratch;
        region_of.clear();
        region_of.resize(pixels, NO_REGION);
        let mut stack = Vec::new();
        for start in 0..pixels {
            if !mask[start] || region_of[start] != NO_REGION {
                continue;
            }
            let id = u32::try_from(self.region_sizes.len())
                .ok()
                .filter(|&id| id < NO_REGION)
                .ok_or_else(|| crate::Error::Pipeline("more than 2^32 defect regions".into()))?;
            let mut size = 0u32;
            region_of[start] = id;
            stack.push(start);
            while let Some(p) = stack.pop() {
                size += 1;
                let (x, y) = (p % width, p / width);
                for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                        let q = ny * width + nx;
                        if mask[q] && region_of[q] == NO_REGION {
                            region_of[q] = id;
                            stack.push(q);
                        }
                    }
                }
            }
            self.region_sizes.push(size);
        }
        for (&s, &r) in map.iter().zip(region_of.iter()) {
            if r == NO_REGION {
                self.normal.push(tie_key(s));
            } else {
                self.defect.push((tie_key(s), r));
            }
        }
        Ok(())
    }

    /// The exact AUROC of the pixels added so far (sorts in place); `None` when one class is
    /// absent.
    pub fn auroc(&mut self) -> Option<f64> {
        self.metrics(1.0).auroc
    }

    /// Every pixel metric in one pass (sorts in place, highest score first). A run of equal
    /// scores is one threshold: AUROC counts a tied pair half (the Mann-Whitney statistic in
    /// integers, exact before the one division); AP and F1max walk scikit-learn's
    /// precision-recall points; AUPRO integrates (FPR, mean region overlap) up to `max_fpr`
    /// with the trapezoid rule, interpolated at `max_fpr`, divided by `max_fpr`.
    pub fn metrics(&mut self, max_fpr: f64) -> PixelMetrics {
        use rayon::slice::ParallelSliceMut;
        let (positives, negatives) = (self.defect.len(), self.normal.len());
        if positives == 0 || negatives == 0 {
            return PixelMetrics::default();
        }
        self.normal.par_sort_unstable_by(|a, b| b.total_cmp(a));
        self.defect.par_sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let regions = self.region_sizes.len() as f64;
        let (normal, defect) = (&self.normal, &self.defect);
        let (mut i, mut j) = (0usize, 0usize);
        let (mut tp, mut fp) = (0usize, 0usize);
        let mut doubled_wins = 0u128;
        let (mut ap, mut recall_before) = (0f64, 0f64);
        let mut f1_best = 0f64;
        let (mut area, mut fpr, mut pro) = (0f64, 0f64, 0f64);
        let valid_fpr = max_fpr > 0.0 && max_fpr <= 1.0;
        let mut aupro = None;
        while i < defect.len() || j < normal.len() {
            let threshold = match (defect.get(i), normal.get(j)) {
                (Some(d), Some(&n)) => {
                    if d.0.total_cmp(&n).is_ge() {
                        d.0
                    } else {
                        n
                    }
                }
                (Some(d), None) => d.0,
                (None, Some(&n)) => n,
                (None, None) => unreachable!("loop condition"),
            };
            let mut next_pro = pro;
            let mut dp = 0usize;
            while i < defect.len() && defect[i].0.total_cmp(&threshold).is_eq() {
                next_pro += 1.0 / (self.region_sizes[defect[i].1 as usize] as f64 * regions);
                dp += 1;
                i += 1;
            }
            let mut dn = 0usize;
            while j < normal.len() && normal[j].total_cmp(&threshold).is_eq() {
                dn += 1;
                j += 1;
            }
            // These positives beat every normal pixel below the run and tie the run's own.
            doubled_wins += dp as u128 * (2 * (negatives - fp - dn) + dn) as u128;
            tp += dp;
            fp += dn;
            let precision = tp as f64 / (tp + fp) as f64;
            let recall = tp as f64 / positives as f64;
            ap += (recall - recall_before) * precision;
            recall_before = recall;
            if precision + recall > 0.0 {
                f1_best = f1_best.max(2.0 * precision * recall / (precision + recall));
            }
            if valid_fpr && aupro.is_none() {
                let next_fpr = fp as f64 / negatives as f64;
                if next_fpr >= max_fpr {
                    let at = if next_fpr > fpr {
                        pro + (next_pro - pro) * (max_fpr - fpr) / (next_fpr - fpr)
                    } else {
                        next_pro
                    };
                    area += (max_fpr - fpr) * (pro + at) / 2.0;
                    aupro = Some(area / max_fpr);
                } else {
                    area += (next_fpr - fpr) * (pro + next_pro) / 2.0;
                    fpr = next_fpr;
                    pro = next_pro;
                }
            }
        }
        let pairs = 2 * positives as u128 * negatives as u128;
        PixelMetrics {
            auroc: Some(doubled_wins as f64 / pairs as f64),
            average_precision: Some(ap),
            f1_max: Some(f1_best),
            aupro: valid_fpr.then(|| aupro.unwrap_or(area / max_fpr)),
        }
    }
}

/// Exact AUROC of pixel `scores` against `defects` (true = defect pixel), equal to
/// scikit-learn's `roc_auc_score`. `None` when one class is absent or the lengths differ.
/// See [`PixelScores`] to accumulate maps one at a time.
pub fn pixel_auroc(scores: &[f32], defects: &[bool]) -> Option<f64> {
    if scores.len() != defects.len() {
        return None;
    }
    let mut acc = PixelScores::default();
    acc.add_image(scores, defects, scores.len(), 1).ok()?;
    acc.auroc()
}

/// One point of the precision-recall curve: a distinct score taken as the threshold
/// (`score >= threshold` is flagged anomalous) and the true and false positives it flags.
#[derive(Debug, Clone, Copy)]
struct PrPoint {
    threshold: f32,
    tp: usize,
    fp: usize,
}

/// The points of scikit-learn's `precision_recall_curve` from the highest threshold to the
/// lowest, and the number of positives. `None` when one class is absent or the lengths
/// differ. `-0.0` and `0.0` are one score; NaN (which scikit-learn refuses) orders highest.
fn pr_points(scores: &[f32], labels: &[bool]) -> Option<(Vec<PrPoint>, usize)> {
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 || positives == labels.len() || scores.len() != labels.len() {
        return None;
    }
    let key = |s: f32| if s.is_nan() { f32::NAN } else { s + 0.0 };
    let mut order: Vec<(f32, bool)> = scores
        .iter()
        .zip(labels)
        .map(|(&s, &l)| (key(s), l))
        .collect();
    // Highest score first; a run of equal scores is one threshold.
    order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let mut points = Vec::new();
    let (mut tp, mut fp, mut i) = (0usize, 0usize, 0usize);
    while i < order.len() {
        let threshold = order[i].0;
        while i < order.len() && order[i].0.total_cmp(&threshold).is_eq() {
            if order[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        points.push(PrPoint { threshold, tp, fp });
    }
    Some((points, positives))
}

/// Precision and recall of one curve point, as scikit-learn computes them.
fn precision_recall(point: &PrPoint, positives: usize) -> (f64, f64) {
    let flagged = point.tp + point.fp;
    let precision = if flagged == 0 {
        0.0
    } else {
        point.tp as f64 / flagged as f64
    };
    (precision, point.tp as f64 / positives as f64)
}

/// Average precision of `scores` for binary `labels` (true = anomalous), equal to
/// scikit-learn's `average_precision_score`: the step-wise sum `sum_n (R_n - R_{n-1}) P_n`
/// over distinct score thresholds, highest first (no interpolation). `None` when one class
/// is absent or the lengths differ.
pub fn average_precision(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let (points, positives) = pr_points(scores, labels)?;
    let mut ap = 0.0;
    let mut previous_recall = 0.0;
    for point in &points {
        let (precision, recall) = precision_recall(point, positives);
        ap += (recall - previous_recall) * precision;
        previous_recall = recall;
    }
    Some(ap)
}

/// The best F1 score `2PR / (P + R)` (0 where `P + R = 0`) over the thresholds of
/// scikit-learn's `precision_recall_curve`, with its threshold (`score >= threshold` is
/// anomalous). Among equal maxima the lowest threshold wins, as `numpy.argmax` picks over
/// scikit-learn's ascending thresholds. `None` when one class is absent or the lengths
/// differ.
pub fn f1_max(scores: &[f32], labels: &[bool]) -> Option<(f64, f32)> {
    let (points, positives) = pr_points(scores, labels)?;
    let mut best: Option<(f64, f32)> = None;
    for point in &points {
        let (precision, recall) = precision_recall(point, positives);
        let sum = precision + recall;
        let f1 = if sum == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / sum
        };
        // Points run from the highest threshold down, so `>=` keeps the lowest on ties.
        if best.is_none_or(|(b, _)| f1 >= b) {
            best = Some((f1, point.threshold));
        }
    }
    best
}

/// Area under the per-region-overlap (PRO) curve up to `max_fpr` false-positive rate,
/// normalised by `max_fpr` (the standard AUPRO of MVTec AD; the paper uses `max_fpr = 0.3`).
///
/// `maps[i]` and `masks[i]` are one image's scores and ground truth (true = defect), row-major
/// `width x height`. Each 8-connected defect component of each mask is one region. At a
/// threshold `t` (`score >= t` is anomalous) PRO is the mean over all regions of the share of
/// the region's pixels flagged, and FPR the share of all normal pixels flagged. The curve has
/// one point per distinct score (ties cross together), starts at (0, 0), and is integrated
/// with the trapezoid rule, interpolated linearly at `max_fpr`. Exact, through
/// [`PixelScores`]. `None` when there is no defect or no normal pixel, a map
/// or mask has the wrong length, the counts differ, or `max_fpr` is not in (0, 1].
pub fn aupro(
    maps: &[&[f32]],
    masks: &[&[bool]],
    width: usize,
    height: usize,
    max_fpr: f64,
) -> Option<f64> {
    if maps.len() != masks.len() {
        return None;
    }
    let mut acc = PixelScores::default();
    for (map, mask) in maps.iter().zip(masks) {
        acc.add_image(map, mask, width, height).ok()?;
    }
    acc.metrics(max_fpr).aupro
}

#[cfg(test)]
mod tests {
    use super::{aupro, auroc, average_precision, f1_max, pixel_auroc, PixelMetrics, PixelScores};

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
    fn nan_scores_tie_with_each_other_whatever_their_sign() {
        let neg_nan = -f32::NAN;
        // Two NaN (one negative-signed): they tie, and order above every number.
        let v = auroc(&[neg_nan, f32::NAN, 0.5], &[true, false, false]).unwrap();
        assert_eq!(v, 0.75);
        assert_eq!(auroc(&[-0.0, 0.0], &[true, false]), Some(0.5));
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
        for (s, l) in scores.chunks(100).zip(labels.chunks(100)) {
            acc.add_image(s, l, 10, 10).unwrap();
        }
        assert_eq!(acc.positives() + acc.negatives(), n);
        assert!((acc.auroc().unwrap() - expected).abs() < 1e-12);
        assert!(acc
            .add_image(&scores[..99], &labels[..100], 10, 10)
            .is_err());
    }

    /// The one-pass metrics of [`PixelScores`] equal the separate functions (AP and F1max
    /// are scikit-learn-checked in `tests/metrics_parity.rs`) on tied multi-image data.
    #[test]
    fn pixel_metrics_match_the_separate_functions() {
        let mut state = 99u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let (w, h, images) = (12, 9, 7);
        let mut maps = Vec::new();
        let mut masks = Vec::new();
        for k in 0..images {
            // Blobby masks: a rectangle or two per image (none in image 0).
            let mut mask = vec![false; w * h];
            for _ in 0..(k % 3) {
                let (x0, y0) = ((next() % 9) as usize, (next() % 6) as usize);
                for y in y0..y0 + 3 {
                    for x in x0..x0 + 2 + (next() % 2) as usize {
                        mask[y * w + x.min(w - 1)] = true;
                    }
                }
            }
            let map: Vec<f32> = mask
                .iter()
                .map(|&d| (next() % 20) as f32 / 4.0 + if d { 1.5 } else { 0.0 })
                .collect();
            maps.push(map);
            masks.push(mask);
        }
        let mut acc = PixelScores::default();
        for (map, mask) in maps.iter().zip(&masks) {
            if mask.iter().any(|&d| d) {
                acc.add_image(map, mask, w, h).unwrap();
            } else {
                acc.add_normal(map);
            }
        }
        let flat_scores: Vec<f32> = maps.concat();
        let flat_labels: Vec<bool> = masks.concat();
        let m = acc.metrics(0.3);
        let close = |a: Option<f64>, b: Option<f64>| (a.unwrap() - b.unwrap()).abs() < 1e-12;
        assert!(close(m.auroc, auroc(&flat_scores, &flat_labels)));
        assert!(close(
            m.average_precision,
            average_precision(&flat_scores, &flat_labels)
        ));
        assert!(close(
            m.f1_max,
            f1_max(&flat_scores, &flat_labels).map(|f| f.0)
        ));
        assert!(m.aupro.is_some_and(|v| (0.0..=1.0).contains(&v)));
        assert!(acc.regions() >= 4, "{} regions", acc.regions());
        // Empty or one-class accumulators have no metrics.
        let mut only_normal = PixelScores::default();
        only_normal.add_normal(&[0.1, 0.2]);
        assert_eq!(only_normal.metrics(0.3), PixelMetrics::default());
        // An FPR limit outside (0, 1] has no AUPRO (the other metrics stand).
        for bad in [0.0, 1.5, f64::NAN] {
            let m = acc.metrics(bad);
            assert!(m.aupro.is_none() && m.auroc.is_some(), "{bad}");
        }
    }

    #[test]
    fn average_precision_and_f1_max_hand_computed() {
        // sklearn: average_precision_score([0, 1, 0, 1], [0.1, 0.4, 0.4, 0.8]) == 0.8333...
        // thresholds 0.8 (P 1, R 1/2), 0.4 (P 2/3, R 1), 0.1 (P 1/2, R 1):
        // AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
        let labels = [false, true, false, true];
        let scores = [0.1, 0.4, 0.4, 0.8];
        let ap = average_precision(&scores, &labels).unwrap();
        assert!((ap - 5.0 / 6.0).abs() < 1e-15, "{ap}");
        // F1: 0.8 -> 2/3, 0.4 -> 0.8, 0.1 -> 2/3.
        let (f1, t) = f1_max(&scores, &labels).unwrap();
        assert!((f1 - 0.8).abs() < 1e-15 && t == 0.4, "{f1} {t}");
        // Perfect separation.
        assert_eq!(
            average_precision(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            f1_max(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some((1.0, 0.8))
        );
    }

    #[test]
    fn average_precision_all_equal_and_missing_class() {
        // One threshold flags everything: AP = prevalence, F1 = 2p / (1 + p).
        let labels = [true, false, false, true, false, false, false];
        assert_eq!(average_precision(&[0.3; 7], &labels), Some(2.0 / 7.0));
        let (f1, t) = f1_max(&[0.3; 7], &labels).unwrap();
        assert!((f1 - 4.0 / 9.0).abs() < 1e-15 && t == 0.3, "{f1}");
        assert_eq!(average_precision(&[-0.0, 0.0], &[true, false]), Some(0.5));
        assert_eq!(average_precision(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(f1_max(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(f1_max(&[], &[]), None);
        assert_eq!(average_precision(&[0.1], &[true, false]), None);
    }

    #[test]
    fn aupro_hand_computed_8_connected() {
        // 3 x 3, defects at (row, col) (0,0), (1,1), (1,2): one 8-connected region of 3
        // pixels (4-connectivity would give two). Scores: (0,0) 0.9, (1,1) and (1,2) 0.1;
        // normal pixels: one 0.5, five 0.0. Curve (FPR, PRO): (0,0) (0,1/3) (1/6,1/3)
        // (1/6,1) (1,1). Area to 0.3: 1/6 * 1/3 + (0.3 - 1/6) = 0.3 - 1/9; / 0.3 = 17/27.
        let mask = [true, false, false, false, true, true, false, false, false];
        let map = [0.9, 0.0, 0.5, 0.0, 0.1, 0.1, 0.0, 0.0, 0.0];
        let v = aupro(&[&map], &[&mask], 3, 3, 0.3).unwrap();
        assert!((v - 17.0 / 27.0).abs() < 1e-12, "{v}");
    }

    #[test]
    fn aupro_ties_across_images_and_interpolation() {
        // Two 2 x 2 images, 7 normal pixels, one 1-pixel region. At 0.5 the defect and two
        // normals cross together: a diagonal from (0,0) to (2/7,1), then PRO stays 1.
        let (map_a, mask_a) = ([0.5, 0.5, 0.2, 0.2], [true, false, false, false]);
        let (map_b, mask_b) = ([0.5, 0.1, 0.1, 0.1], [false; 4]);
        let (maps, masks): ([&[f32]; 2], [&[bool]; 2]) = ([&map_a, &map_b], [&mask_a, &mask_b]);
        // 0.3: triangle 1/7 plus (0.3 - 2/7) * 1 = 0.3 - 1/7; / 0.3 = 11/21.
        let v = aupro(&maps, &masks, 2, 2, 0.3).unwrap();
        assert!((v - 11.0 / 21.0).abs() < 1e-12, "{v}");
        // Cut inside the diagonal at 1/7: PRO 1/2 there, area 1/28; / (1/7) = 1/4.
        let v = aupro(&maps, &masks, 2, 2, 1.0 / 7.0).unwrap();
        assert!((v - 0.25).abs() < 1e-12, "{v}");
        // Perfect map; an all-equal map is one diagonal to (1,1): area 0.3^2 / 2, / 0.3.
        let perfect = [0.9, 0.1, 0.1, 0.1];
        assert_eq!(aupro(&[&perfect], &[&mask_a], 2, 2, 0.3), Some(1.0));
        let flat = [0.4; 4];
        let v = aupro(&[&flat], &[&mask_a], 2, 2, 0.3).unwrap();
        assert!((v - 0.15).abs() < 1e-12, "{v}");
        // No defect, no normal pixel, wrong sizes.
        assert_eq!(aupro(&[&map_b], &[&mask_b], 2, 2, 0.3), None);
        assert_eq!(aupro(&[&map_b], &[&[true; 4]], 2, 2, 0.3), None);
        assert_eq!(aupro(&[&map_b], &[&mask_a], 3, 1, 0.3), None);
        assert_eq!(aupro(&[&map_b], &[], 2, 2, 0.3), None);
    }

    /// Time and memory at the size of MVTec AD's test set (1,725 images at 256 x 256, about
    /// 113 M pixels): `/usr/bin/time -v cargo test --release -p adapts-builder --lib --
    /// --ignored pixel_auroc_at_mvtec_scale --nocapture` (peak RSS is about 4 bytes a normal and 8 a defect pixel).
    #[test]
    #[ignore = "benchmark: about 0.5 GB, seconds in release"]
    fn pixel_auroc_at_mvtec_scale() {
        let n = 1725 * 256 * 256;
        let start = std::time::Instant::now();
        let mut acc = PixelScores::with_capacity(n);
        let mut state = 7u64;
        let (mut map, mut mask) = (vec![0f32; 256 * 256], vec![false; 256 * 256]);
        for image in 0..1725 {
            for (p, (s, d)) in map.iter_mut().zip(mask.iter_mut()).enumerate() {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 40) as u32; // 24 bits
                                              // Defect images (2 in 3) carry a 40 x 40 square: about 3 % of all pixels.
                let (x, y) = (p % 256, p / 256);
                *d = image % 3 != 0 && (100..140).contains(&x) && (60..100).contains(&y);
                *s = (u >> 8) as f32 / 65536.0 + if *d { 0.5 } else { 0.0 };
            }
            acc.add_image(&map, &mask, 256, 256).unwrap();
        }
        let filled = start.elapsed();
        let m = acc.metrics(0.3);
        eprintln!(
            "{n} pixels ({} defect, {} regions): fill {:.2} s, metrics {:.2} s, {m:?}",
            acc.positives(),
            acc.regions(),
            filled.as_secs_f64(),
            (start.elapsed() - filled).as_secs_f64()
        );
        let v = m.auroc.unwrap();
        assert!(v > 0.5 && v < 1.0);
    }
}
