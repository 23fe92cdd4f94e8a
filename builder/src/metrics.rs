//! Detection metrics, computed exactly by sorting (ties handled as scikit-learn does).

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

#[cfg(test)]
mod tests {
    use super::auroc;

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
}
