//! The local head's smoothing, and the image score computed from the feature-resolution map.
//!
//! Local scoring's head upsamples a product's `h x w` anomaly map to the input size and blurs
//! it with a Gaussian, both folded into one separable product `R m Cᵀ` (the builder writes it
//! as the head graph from [`smoothed_interpolation`]), and the image score is the largest
//! value. A station needs only that score to answer; the full-resolution map is for heatmaps.
//! [`SmoothedMax`] finds the exact maximum of `R m Cᵀ` without forming it: `R` and `C` are
//! banded with non-negative entries, so every output row is bounded by the largest value of
//! its `R m` row, and only rows whose bound beats the best row so far are computed.

/// Row-stochastic `[out, in]` matrix of 1-D bilinear interpolation with half-pixel centres
/// (source coordinates clamped at the border, as torch's `align_corners=False`).
pub fn interpolation_matrix(out: usize, input: usize) -> Vec<f32> {
    let mut m = vec![0f32; out * input];
    let scale = input as f64 / out as f64;
    for i in 0..out {
        let src = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(input - 1);
        let i1 = (i0 + 1).min(input - 1);
        let w1 = (src - i0 as f64).clamp(0.0, 1.0) as f32;
        m[i * input + i0] += 1.0 - w1;
        m[i * input + i1] += w1;
    }
    m
}

/// `[out, input]` row-major: bilinear interpolation (half-pixel centres) followed by a
/// Gaussian blur of `sigma` output pixels, truncated at 4 sigma, with the border reflected
/// (scipy's `gaussian_filter` default). `sigma <= 0` is plain interpolation.
pub fn smoothed_interpolation(out: usize, input: usize, sigma: f32) -> Vec<f32> {
    let up = interpolation_matrix(out, input);
    if sigma <= 0.0 {
        return up;
    }
    let blur = gaussian_matrix(out, f64::from(sigma));
    let mut m = vec![0f32; out * input];
    for i in 0..out {
        for k in 0..out {
            let b = blur[i * out + k];
            if b == 0.0 {
                continue;
            }
            for j in 0..input {
                m[i * input + j] += (b * f64::from(up[k * input + j])) as f32;
            }
        }
    }
    m
}

/// `[n, n]` row-major Gaussian blur matrix with reflected borders (`d c b a | a b c d | d c b
/// a`), kernel truncated at 4 sigma and normalised to sum 1.
fn gaussian_matrix(n: usize, sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as isize;
    let weights: Vec<f64> = (-radius..=radius)
        .map(|d| (-0.5 * (d as f64 / sigma).powi(2)).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut m = vec![0f64; n * n];
    let reflect = |mut j: isize| -> usize {
        let n = n as isize;
        loop {
            if j < 0 {
                j = -j - 1;
            } else if j >= n {
                j = 2 * n - j - 1;
            } else {
                return j as usize;
            }
        }
    };
    for i in 0..n {
        for (t, wgt) in weights.iter().enumerate() {
            let j = reflect(i as isize + t as isize - radius);
            m[i * n + j] += wgt / total;
        }
    }
    m
}

/// The non-zero span of each row of a non-negative `[out, input]` matrix.
#[derive(Debug, Clone)]
struct Banded {
    /// Per output index: first input index of its span.
    first: Vec<usize>,
    /// Per output index: `(offset, len)` of its weights in `weights`.
    span: Vec<(usize, usize)>,
    weights: Vec<f32>,
    /// Smallest and largest row sum.
    sum_range: (f32, f32),
}

impl Banded {
    fn new(dense: &[f32], out: usize, input: usize) -> Self {
        let mut first = Vec::with_capacity(out);
        let mut span = Vec::with_capacity(out);
        let mut weights = Vec::new();
        let mut sum_range = (f32::INFINITY, f32::NEG_INFINITY);
        for row in dense.chunks_exact(input) {
            let start = row.iter().position(|&v| v != 0.0).unwrap_or(0);
            let end = row.iter().rposition(|&v| v != 0.0).map_or(start, |e| e + 1);
            first.push(start);
            span.push((weights.len(), end - start));
            weights.extend_from_slice(&row[start..end]);
            let sum: f32 = row.iter().sum();
            sum_range = (sum_range.0.min(sum), sum_range.1.max(sum));
        }
        Self {
            first,
            span,
            weights,
            sum_range,
        }
    }

    /// Row `i`'s weights and the input index of the first.
    fn row(&self, i: usize) -> (usize, &[f32]) {
        let (offset, len) = self.span[i];
        (self.first[i], &self.weights[offset..offset + len])
    }
}

/// The exact maximum of the smoothed, upsampled map `R m Cᵀ` of an `h x w` map, where
/// `R = smoothed_interpolation(out_h, h, sigma)` and `C = smoothed_interpolation(out_w, w,
/// sigma)`: the local head's image score, without the full-resolution map.
#[derive(Debug, Clone)]
pub struct SmoothedMax {
    rows: Banded,
    cols: Banded,
    /// `(h, w)` of the maps it takes.
    input: (usize, usize),
    /// Scratch: `R m`, `[out_h, w]`.
    rm: Vec<f32>,
    /// Scratch: output rows ordered by their bound.
    order: Vec<(f32, usize)>,
}

/// Relative slack on a row's bound, above the rounding of the sums that make it.
const BOUND_SLACK: f32 = 1e-4;

impl SmoothedMax {
    /// For `h x w` maps smoothed and upsampled to `out_h x out_w`, with a Gaussian of
    /// `sigma` output pixels.
    pub fn new((h, w): (usize, usize), (out_h, out_w): (usize, usize), sigma: f32) -> Self {
        Self {
            rows: Banded::new(&smoothed_interpolation(out_h, h, sigma), out_h, h),
            cols: Banded::new(&smoothed_interpolation(out_w, w, sigma), out_w, w),
            input: (h, w),
            rm: vec![0.0; out_h * w],
            order: Vec::with_capacity(out_h),
        }
    }

    /// `(h, w)` of the maps it takes.
    pub fn input(&self) -> (usize, usize) {
        self.input
    }

    /// The largest value of `R m Cᵀ` for the row-major `h x w` map `m`: the same value as the
    /// maximum of the full product, up to the rounding of its sums. NaN when `m` has a
    /// value that is not finite, or does not have `h x w` values.
    pub fn max(&mut self, m: &[f32]) -> f32 {
        let (h, w) = self.input;
        if m.len() != h * w || m.iter().any(|v| !v.is_finite()) {
            return f32::NAN;
        }
        // R m, and each of its rows' bound on the output row: C's rows are non-negative, so
        // an output value is at most the row's largest value times a row sum of C.
        let (sum_min, sum_max) = self.cols.sum_range;
        self.order.clear();
        for (i, out) in self.rm.chunks_exact_mut(w).enumerate() {
            out.fill(0.0);
            let (k0, weights) = self.rows.row(i);
            for (k, &r) in weights.iter().enumerate() {
                let src = &m[(k0 + k) * w..(k0 + k + 1) * w];
                for (o, &v) in out.iter_mut().zip(src) {
                    *o += r * v;
                }
            }
            let top = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let bound = if top >= 0.0 {
                top * sum_max
            } else {
                top * sum_min
            };
            self.order.push((bound + top.abs() * BOUND_SLACK, i));
        }
        self.order
            .sort_unstable_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        let mut best = f32::NEG_INFINITY;
        for &(bound, i) in &self.order {
            if bound <= best {
                break;
            }
            let row = &self.rm[i * w..(i + 1) * w];
            for j in 0..self.cols.first.len() {
                let (l0, weights) = self.cols.row(j);
                let v: f32 = weights.iter().zip(&row[l0..]).map(|(c, a)| c * a).sum();
                best = best.max(v);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full product `R m Cᵀ`, dense, in f64.
    fn dense(m: &[f32], (h, w): (usize, usize), (oh, ow): (usize, usize), sigma: f32) -> Vec<f64> {
        let r = smoothed_interpolation(oh, h, sigma);
        let c = smoothed_interpolation(ow, w, sigma);
        let mut out = vec![0f64; oh * ow];
        for i in 0..oh {
            for j in 0..ow {
                let mut s = 0f64;
                for k in 0..h {
                    for l in 0..w {
                        s += f64::from(r[i * h + k])
                            * f64::from(m[k * w + l])
                            * f64::from(c[j * w + l]);
                    }
                }
                out[i * ow + j] = s;
            }
        }
        out
    }

    fn lcg(seed: u64) -> impl FnMut() -> f32 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / (1u64 << 24) as f32
        }
    }

    #[test]
    fn gaussian_rows_sum_to_one_and_match_the_reflected_kernel() {
        let n = 10;
        let m = gaussian_matrix(n, 1.5);
        for i in 0..n {
            let s: f64 = m[i * n..(i + 1) * n].iter().sum();
            assert!((s - 1.0).abs() < 1e-12);
        }
        // An inner row is the plain kernel: symmetric around its centre.
        let row = &m[5 * n..6 * n];
        assert!((row[4] - row[6]).abs() < 1e-12 && row[5] > row[4]);
        // Blurring a constant gives the constant, with upsampling too.
        let s = smoothed_interpolation(12, 3, 2.0);
        for i in 0..12 {
            let total: f32 = s[i * 3..(i + 1) * 3].iter().sum();
            assert!((total - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn the_bounded_search_finds_the_maximum_of_the_full_product() {
        let mut next = lcg(7);
        // (map size, output size, sigma): square and not, sizes that do not divide, no blur.
        let cases = [
            ((14, 14), (224, 224), 4.0),
            ((28, 28), (224, 224), 4.0),
            ((7, 9), (100, 61), 2.5),
            ((32, 32), (256, 256), 0.0),
            ((1, 1), (16, 16), 4.0),
        ];
        for ((h, w), out, sigma) in cases {
            let mut sm = SmoothedMax::new((h, w), out, sigma);
            let maps: Vec<Vec<f32>> = vec![
                (0..h * w).map(|_| next() * 3.0).collect(),
                (0..h * w).map(|_| next() - 0.7).collect(),
                vec![1.25; h * w],
                vec![-2.0; h * w],
                // One spike in a corner, then one in the middle.
                (0..h * w).map(|i| if i == 0 { 9.0 } else { 0.1 }).collect(),
                (0..h * w)
                    .map(|i| {
                        if i == (h / 2) * w + w / 2 {
                            5.0
                        } else {
                            next()
                        }
                    })
                    .collect(),
            ];
            for m in maps {
                let want = dense(&m, (h, w), out, sigma)
                    .into_iter()
                    .fold(f64::NEG_INFINITY, f64::max);
                let got = f64::from(sm.max(&m));
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{h}x{w} -> {out:?}, sigma {sigma}: {got} against {want}"
                );
            }
        }
    }

    #[test]
    fn a_map_that_is_not_finite_or_of_the_wrong_size_scores_nan() {
        let mut sm = SmoothedMax::new((2, 2), (8, 8), 1.0);
        assert!(sm.max(&[0.0, f32::NAN, 1.0, 2.0]).is_nan());
        assert!(sm.max(&[0.0, f32::INFINITY, 1.0, 2.0]).is_nan());
        assert!(sm.max(&[0.0; 3]).is_nan());
        assert!((sm.max(&[0.5; 4]) - 0.5).abs() < 1e-6);
    }
}
