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

pub use adapts_runtime::smoothing::smoothed_interpolation;

use super::graph::{Graph, Layer};
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
}
