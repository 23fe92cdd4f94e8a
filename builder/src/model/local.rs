//! Local scoring, the default recipe: the teacher features of the tapped stages, each averaged
//! over its 3x3 neighbourhood (PatchCore's locally aware patch features) and stacked at the
//! first tap's resolution, go through one small per-product map:
//!
//! ```text
//! e = W2 relu(W1 x + b1) + b2          residual adapter: the student's disagreement with x
//! d = w . (e * e) + b                  per-channel squared disagreement, weighted (seg head)
//! m = softplus((d - mean_xy) / std_xy) normalised per location against normal images
//! ```
//!
//! `x` is the feature vector at one location, standardised and whitened per product; both are
//! folded into `W1`, `b1` when the map is deployed, so the graph is three 1x1 convolutions, a
//! per-location affine map and a softplus. The shared head upsamples `m` to the input size and
//! smooths it with a Gaussian in one separable product, and the image score is its maximum.
//! Every piece is written once against [`Graph`], so training, reference scoring and the
//! exported graphs compute the same thing.

use candle_core::{Device, Tensor};

use super::graph::{interpolation_matrix, Graph, Layer};
use super::nn::Conv2d;
use crate::Result;

/// Above this many stacked channels the features graph projects them down to this many with a
/// fixed orthogonal 1x1 convolution, so that per-product maps stay small on wide trunks.
pub const MAX_FEATURE_CHANNELS: usize = 256;

/// The shared features graph: 3x3-averaged taps, resized to the first tap's resolution and
/// stacked (then projected when [`MAX_FEATURE_CHANNELS`] is exceeded), and the routing vector
/// (each raw tap's global average, stacked). Returns `(features, pooled)`.
pub fn features<G: Graph>(
    g: &mut G,
    taps: &[G::Value],
    size: (usize, usize),
    projection: Option<&Conv2d>,
) -> Result<(G::Value, G::Value)> {
    let mut local = Vec::with_capacity(taps.len());
    let mut pooled = Vec::with_capacity(taps.len());
    for t in taps {
        let a = g.avg_pool3x3(t)?;
        local.push(g.resize_bilinear(&a, size.0, size.1)?);
        pooled.push(g.global_avg_pool(t)?);
    }
    let stacked = single_or_concat(g, local)?;
    let features = match projection {
        Some(p) => p.forward(g, &stacked)?,
        None => stacked,
    };
    Ok((features, single_or_concat(g, pooled)?))
}

fn single_or_concat<G: Graph>(g: &mut G, mut xs: Vec<G::Value>) -> Result<G::Value> {
    if xs.len() == 1 {
        Ok(xs.remove(0))
    } else {
        g.concat(&xs)
    }
}

/// The fixed projection for `channels` stacked channels, `None` when they fit
/// [`MAX_FEATURE_CHANNELS`]: orthogonal rows, seeded, so every product of a bundle sees the
/// same projected features.
pub fn projection(channels: usize) -> Result<Option<Conv2d>> {
    if channels <= MAX_FEATURE_CHANNELS {
        return Ok(None);
    }
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(PROJECTION_SEED);
    let w = super::adapter::orthogonal(MAX_FEATURE_CHANNELS, channels, &mut rng);
    Ok(Some(conv1x1(
        "features.projection",
        Tensor::from_vec(w, (MAX_FEATURE_CHANNELS, channels, 1, 1), &Device::Cpu)?,
        None,
    )))
}

/// Seed of the features projection.
const PROJECTION_SEED: u64 = 0x10ca_1f3a;

/// A 1x1 convolution from weights `[out, in, 1, 1]`.
pub fn conv1x1(name: &str, weight: Tensor, bias: Option<Tensor>) -> Conv2d {
    Conv2d {
        name: name.to_string(),
        weight,
        bias,
        stride: 1,
        padding: super::nn::Padding::Symmetric(0),
        groups: 1,
        int8_scales: None,
    }
}

/// One product's deployable map: features `[N, C, h, w]` -> anomaly map `[N, 1, h, w]`.
#[derive(Debug, Clone)]
pub struct ProductMap {
    /// `C -> L` with the standardisation and whitening folded in.
    pub conv1: Conv2d,
    /// `L -> C`: the adapter's residual, the student's disagreement with the features.
    pub conv2: Conv2d,
    /// `C -> 1`: weights of the squared disagreement per channel.
    pub head: Conv2d,
    /// Per-location scale `1 / std_xy`, `[1, 1, h, w]`.
    pub pixel_scale: Tensor,
    /// Per-location shift `-mean_xy / std_xy`, `[1, 1, h, w]`.
    pub pixel_shift: Tensor,
}

impl ProductMap {
    /// The raw disagreement score `d = w . e^2 + b`, `[N, 1, h, w]` (before the per-location
    /// normalisation).
    pub fn disagreement<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        let z = self.conv1.forward(g, x)?;
        let h = g.relu(&z)?;
        let e = self.conv2.forward(g, &h)?;
        let e2 = g.mul(&e, &e)?;
        self.head.forward(g, &e2)
    }

    /// The anomaly map `softplus((d - mean_xy) / std_xy)`, `[N, 1, h, w]`, positive.
    pub fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        let d = self.disagreement(g, x)?;
        let z = g.affine(&d, "pixel_norm", &self.pixel_scale, &self.pixel_shift)?;
        g.softplus(&z)
    }

    /// Stored values (weights, biases, per-location statistics).
    pub fn parameter_count(&self) -> usize {
        [&self.conv1, &self.conv2, &self.head]
            .iter()
            .map(|c| c.weight.elem_count() + c.bias.as_ref().map_or(0, Tensor::elem_count))
            .sum::<usize>()
            + self.pixel_scale.elem_count()
            + self.pixel_shift.elem_count()
    }
}

/// The local head: the product map upsampled to `size x size` and smoothed with a Gaussian of
/// `sigma` pixels (in one separable product), and its maximum. Returns `(map, score)`.
pub fn head<G: Graph>(
    g: &mut G,
    map: &G::Value,
    (h, w): (usize, usize),
    size: usize,
    sigma: f32,
) -> Result<(G::Value, G::Value)> {
    let rows = smoothed_interpolation(size, h, sigma);
    let cols = smoothed_interpolation(size, w, sigma);
    let up = g.separable(map, "head.smooth", &rows, &cols, size, size)?;
    let score = g.max_per_image(&up)?;
    Ok((up, score))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::graph::Eval;

    #[test]
    fn average_pooling_counts_only_positions_inside() {
        // 3x3 map 0..8: the corner averages its 2x2 neighbourhood, the centre all nine.
        let x = Tensor::from_vec(
            (0..9).map(|v| v as f32).collect(),
            (1, 1, 3, 3),
            &Device::Cpu,
        )
        .unwrap();
        let y: Vec<f32> = Eval
            .avg_pool3x3(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(y[0], (0.0 + 1.0 + 3.0 + 4.0) / 4.0);
        assert_eq!(y[1], (0.0 + 1.0 + 2.0 + 3.0 + 4.0 + 5.0) / 6.0);
        assert_eq!(y[4], 4.0);
    }

    #[test]
    fn softplus_is_stable_and_exact() {
        let x = Tensor::new(&[-100f32, -1.0, 0.0, 1.0, 100.0], &Device::Cpu).unwrap();
        let y: Vec<f32> = Eval.softplus(&x).unwrap().to_vec1().unwrap();
        let want = [
            0.0,
            (1.0f64 + (-1.0f64).exp()).ln(),
            2f64.ln(),
            (1.0 + 1f64.exp()).ln(),
            100.0,
        ];
        for (a, b) in y.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-6, "{y:?}");
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
}
