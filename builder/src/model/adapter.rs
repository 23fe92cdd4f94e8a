//! Residual 1x1-conv adapters (AdapTS, arXiv 2603.17530, eq. 2):
//! `y = x + W2 relu(BN(W1 x + b1)) + b2`.
//!
//! [`AdapterParams`] holds the trainable form (candle `Var`s, BatchNorm with batch statistics
//! while training); [`Adapter`] is the deployable form with BatchNorm folded into `W1`, run
//! through [`Graph`] so candle and the exported ONNX compute the same thing.

use candle_core::{DType, Device, Tensor, Var, D};

use super::graph::{Graph, Layer};
use super::nn::{Conv2d, Padding};
use crate::Result;

const BN_EPS: f64 = 1e-5;
/// torch's BatchNorm default momentum for the running statistics.
const BN_MOMENTUM: f64 = 0.1;

/// Latent width of an adapter relative to its stage's channels `C`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdapterKind {
    /// Latent width `C`.
    Linear,
    /// Latent width `C * E`.
    Expansion {
        /// The expansion factor `E`.
        factor: usize,
    },
    /// Latent width `max(1, floor(C * R))`.
    Bottleneck {
        /// The bottleneck ratio `R` (`bn25` is 0.25, `bn50` is 0.5).
        ratio: f32,
    },
}

impl AdapterKind {
    /// Parses `linear`, `expansion` (E = 2), `bn25`, `bn50`, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "linear" => Some(Self::Linear),
            "expansion" | "exp2" => Some(Self::Expansion { factor: 2 }),
            "bn25" | "bottleneck25" => Some(Self::Bottleneck { ratio: 0.25 }),
            "bn50" | "bottleneck50" => Some(Self::Bottleneck { ratio: 0.5 }),
            _ => None,
        }
    }

    /// Short name for reports: `linear`, `expansion{E}` or `bn{100 R}` (e.g. `bn25`).
    pub fn name(&self) -> String {
        match self {
            Self::Linear => "linear".into(),
            Self::Expansion { factor } => format!("expansion{factor}"),
            Self::Bottleneck { ratio } => format!("bn{}", (ratio * 100.0).round()),
        }
    }

    /// Latent width for a stage with `channels` channels.
    pub fn latent(&self, channels: usize) -> usize {
        match *self {
            Self::Linear => channels,
            Self::Expansion { factor } => channels * factor,
            Self::Bottleneck { ratio } => ((channels as f32 * ratio).floor() as usize).max(1),
        }
    }
}

/// Trainable adapter for one stage.
#[derive(Debug)]
pub struct AdapterParams {
    /// First 1x1 convolution weight, `[L, C]`.
    pub w1: Var,
    /// First convolution bias, `[L]`.
    pub b1: Var,
    /// BatchNorm scale on the latent features, `[L]`.
    pub gamma: Var,
    /// BatchNorm shift on the latent features, `[L]`.
    pub beta: Var,
    /// Second 1x1 convolution weight, `[C, L]`.
    pub w2: Var,
    /// Second convolution bias, `[C]`.
    pub b2: Var,
    running_mean: Tensor,
    running_var: Tensor,
}

impl AdapterParams {
    /// Orthogonal `W1 [L, C]`, `W2 [C, L]`, zero biases, BatchNorm at identity.
    pub fn new(channels: usize, kind: AdapterKind, rng: &mut impl rand::Rng) -> Result<Self> {
        let latent = kind.latent(channels);
        let dev = Device::Cpu;
        let w1 = Tensor::from_vec(orthogonal(latent, channels, rng), (latent, channels), &dev)?;
        let w2 = Tensor::from_vec(orthogonal(channels, latent, rng), (channels, latent), &dev)?;
        Ok(Self {
            w1: Var::from_tensor(&w1)?,
            b1: Var::zeros(latent, DType::F32, &dev)?,
            gamma: Var::ones(latent, DType::F32, &dev)?,
            beta: Var::zeros(latent, DType::F32, &dev)?,
            w2: Var::from_tensor(&w2)?,
            b2: Var::zeros(channels, DType::F32, &dev)?,
            running_mean: Tensor::zeros(latent, DType::F32, &dev)?,
            running_var: Tensor::ones(latent, DType::F32, &dev)?,
        })
    }

    /// The trainable variables (`w1`, `b1`, `gamma`, `beta`, `w2`, `b2`) for an optimiser.
    pub fn vars(&self) -> Vec<Var> {
        vec![
            self.w1.clone(),
            self.b1.clone(),
            self.gamma.clone(),
            self.beta.clone(),
            self.w2.clone(),
            self.b2.clone(),
        ]
    }

    /// Training forward on `[N, C, H, W]`: 1x1 convolutions as batched matrix products,
    /// BatchNorm on batch statistics; updates the running statistics.
    pub fn forward_train(&mut self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let x3 = x.reshape((n, c, h * w))?;
        let hid = self
            .w1
            .broadcast_matmul(&x3)?
            .broadcast_add(&self.b1.unsqueeze(1)?)?;
        let mean = hid.mean_keepdim(D::Minus1)?.mean_keepdim(0)?;
        let centred = hid.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?.mean_keepdim(0)?;
        let normed = centred.broadcast_div(&(var.clone() + BN_EPS)?.sqrt()?)?;
        let normed = normed
            .broadcast_mul(&self.gamma.unsqueeze(1)?)?
            .broadcast_add(&self.beta.unsqueeze(1)?)?;
        let out = self
            .w2
            .broadcast_matmul(&normed.relu()?)?
            .broadcast_add(&self.b2.unsqueeze(1)?)?;
        // Running statistics: torch keeps the unbiased variance.
        let count = (n * h * w) as f64;
        let batch_mean = mean.flatten_all()?.detach();
        let batch_var = (var.flatten_all()?.detach() * (count / (count - 1.0).max(1.0)))?;
        self.running_mean =
            ((&self.running_mean * (1.0 - BN_MOMENTUM))? + (batch_mean * BN_MOMENTUM)?)?;
        self.running_var =
            ((&self.running_var * (1.0 - BN_MOMENTUM))? + (batch_var * BN_MOMENTUM)?)?;
        Ok((x3 + out)?.reshape((n, c, h, w))?)
    }

    /// BatchNorm running `(mean, variance)` of the latent features.
    pub fn running_stats(&self) -> (Tensor, Tensor) {
        (self.running_mean.clone(), self.running_var.clone())
    }

    /// The deployable adapter: BatchNorm (running statistics) folded into `W1`, `b1`.
    /// Layer names are `{name}.conv1` and `{name}.conv2`. Its tensors are detached from the
    /// training variables: otherwise every tensor computed with them would keep its whole
    /// computation graph alive (scoring the validation set grew by 32 MB an image).
    pub fn to_inference(&self, name: &str) -> Result<Adapter> {
        let scale = (self.gamma.as_tensor() / (&self.running_var + BN_EPS)?.sqrt()?)?;
        let w1 = self.w1.as_tensor().broadcast_mul(&scale.unsqueeze(1)?)?;
        let b1 =
            ((self.b1.as_tensor() - &self.running_mean)? * &scale)?.add(self.beta.as_tensor())?;
        let (latent, channels) = w1.dims2()?;
        let conv = |suffix: &str, w: Tensor, b: Tensor| Conv2d {
            name: format!("{name}.{suffix}"),
            weight: w.detach(),
            bias: Some(b.detach()),
            stride: 1,
            padding: Padding::Symmetric(0),
            groups: 1,
            int8_scales: None,
        };
        Ok(Adapter {
            conv1: conv("conv1", w1.reshape((latent, channels, 1, 1))?, b1),
            conv2: conv(
                "conv2",
                self.w2.as_tensor().reshape((channels, latent, 1, 1))?,
                self.b2.as_tensor().clone(),
            ),
        })
    }
}

/// Deployable adapter: `y = x + conv2(relu(conv1(x)))`, both 1x1 with bias.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// 1x1 convolution `C -> L` with BatchNorm folded in.
    pub conv1: Conv2d,
    /// 1x1 convolution `L -> C`.
    pub conv2: Conv2d,
}

impl Adapter {
    /// `x + conv2(relu(conv1(x)))` on `[N, C, H, W]` features, on any [`Graph`] backend.
    pub fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        let h = self.conv1.forward(g, x)?;
        let h = g.relu(&h)?;
        let o = self.conv2.forward(g, &h)?;
        g.add(x, &o)
    }

    /// Number of weights and biases.
    pub fn parameter_count(&self) -> usize {
        [&self.conv1, &self.conv2]
            .iter()
            .map(|c| c.weight.elem_count() + c.bias.as_ref().map_or(0, Tensor::elem_count))
            .sum()
    }
}

/// A `rows x cols` matrix with orthonormal rows (rows <= cols) or columns (rows > cols), from
/// Gram-Schmidt on Gaussian samples (torch `nn.init.orthogonal_`).
pub fn orthogonal(rows: usize, cols: usize, rng: &mut impl rand::Rng) -> Vec<f32> {
    let (k, n) = if rows <= cols {
        (rows, cols)
    } else {
        (cols, rows)
    };
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(k);
    while basis.len() < k {
        let mut v: Vec<f64> = (0..n).map(|_| standard_normal(rng)).collect();
        for _ in 0..2 {
            // Two passes of modified Gram-Schmidt keep the basis orthogonal in f64.
            for b in &basis {
                let dot: f64 = v.iter().zip(b).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(b).for_each(|(a, b)| *a -= dot * b);
            }
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-6 {
            basis.push(v.into_iter().map(|a| a / norm).collect());
        }
    }
    let mut m = vec![0f32; rows * cols];
    for (i, b) in basis.iter().enumerate() {
        for (j, &v) in b.iter().enumerate() {
            if rows <= cols {
                m[i * cols + j] = v as f32;
            } else {
                m[j * cols + i] = v as f32;
            }
        }
    }
    m
}

/// A standard normal sample (Box-Muller).
fn standard_normal(rng: &mut impl rand::Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
