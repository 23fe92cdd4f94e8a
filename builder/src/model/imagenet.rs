//! ImageNet-1k class names (torchvision's order) and top-k decoding of classifier logits.

/// The 1000 class names, index = class id.
pub fn class_names() -> impl Iterator<Item = &'static str> {
    include_str!("imagenet_classes.txt").lines()
}

/// Name of class `id`, if in range.
pub fn class_name(id: usize) -> Option<&'static str> {
    class_names().nth(id)
}

/// One prediction: class id, name and softmax probability.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// Index into the 1000 ImageNet-1k classes (torchvision's order).
    pub class_id: usize,
    /// Class name (`?` when the id is out of range).
    pub label: &'static str,
    /// Softmax probability of the class, in `[0, 1]`.
    pub probability: f32,
}

/// Softmax over `logits`, then the `k` most probable classes, best first.
pub fn top_k(logits: &[f32], k: usize) -> Vec<Prediction> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&l| f64::from(l - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| exp[b].total_cmp(&exp[a]));
    order
        .into_iter()
        .take(k)
        .map(|id| Prediction {
            class_id: id,
            label: class_name(id).unwrap_or("?"),
            probability: (exp[id] / sum) as f32,
        })
        .collect()
}
