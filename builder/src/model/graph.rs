//! The operator vocabulary that model definitions are written in.
//!
//! Every trunk and adapter describes its forward pass once, against [`Graph`]. The same
//! definition then either computes with candle ([`Eval`]) or records an ONNX graph
//! ([`crate::export::onnx::OnnxGraph`]), so what the builder trains and what the device runs cannot
//! drift apart.

use candle_core::{Tensor, D};

use super::nn::{BatchNorm2d, Conv2d, Linear};
use crate::Result;

/// One backend for a model's forward pass: a value type plus the handful of ops trunks use.
pub trait Graph {
    /// A tensor handle: a candle tensor, or a named ONNX value.
    type Value: Clone;

    /// 2-D convolution (NCHW, OIHW weights, optional bias, groups, asymmetric padding).
    fn conv2d(&mut self, x: &Self::Value, conv: &Conv2d) -> Result<Self::Value>;
    /// Inference-mode batch normalisation with running statistics.
    fn batch_norm(&mut self, x: &Self::Value, bn: &BatchNorm2d) -> Result<Self::Value>;
    /// `x W^T + b` on a `[N, in]` value.
    fn linear(&mut self, x: &Self::Value, lin: &Linear) -> Result<Self::Value>;
    /// Elementwise `max(x, 0)`.
    fn relu(&mut self, x: &Self::Value) -> Result<Self::Value>;
    /// `min(max(x, 0), 6)`.
    fn relu6(&mut self, x: &Self::Value) -> Result<Self::Value>;
    /// Elementwise `a + b` of two values of the same shape.
    fn add(&mut self, a: &Self::Value, b: &Self::Value) -> Result<Self::Value>;
    /// Max pooling with square kernel, stride and symmetric zero-free padding (as torch).
    fn max_pool2d(
        &mut self,
        x: &Self::Value,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Self::Value>;
    /// Global average pooling `[N, C, H, W] -> [N, C]`.
    fn global_avg_pool(&mut self, x: &Self::Value) -> Result<Self::Value>;
    /// Elementwise `a - b` of two values of the same shape.
    fn sub(&mut self, a: &Self::Value, b: &Self::Value) -> Result<Self::Value>;
    /// Elementwise `a * b` of two values of the same shape.
    fn mul(&mut self, a: &Self::Value, b: &Self::Value) -> Result<Self::Value>;
    /// `x / max(||x||_2, 1e-12)` over the channel axis of `[N, C, H, W]`.
    fn l2_normalize_channels(&mut self, x: &Self::Value) -> Result<Self::Value>;
    /// `sum_c x^2`: `[N, C, H, W] -> [N, 1, H, W]`.
    fn sum_square_channels(&mut self, x: &Self::Value) -> Result<Self::Value>;
    /// Bilinear resize of `[N, C, h, w]` to `[N, C, height, width]` with half-pixel centres
    /// (torch `interpolate(mode="bilinear", align_corners=False)`), as two matrix products.
    fn resize_bilinear(
        &mut self,
        x: &Self::Value,
        height: usize,
        width: usize,
    ) -> Result<Self::Value>;
    /// Maximum over everything but the batch axis: `[N, ...] -> [N]`.
    fn max_per_image(&mut self, x: &Self::Value) -> Result<Self::Value>;
    /// Mean over each position's 3x3 neighbourhood, stride 1; at the border only the
    /// positions inside the map are averaged (ONNX `AveragePool`, `count_include_pad = 0`).
    fn avg_pool3x3(&mut self, x: &Self::Value) -> Result<Self::Value>;
    /// Stacks values along axis 1 (channels of `[N, C, H, W]`, features of `[N, D]`).
    fn concat(&mut self, xs: &[Self::Value]) -> Result<Self::Value>;
    /// `log(1 + exp(x))`, elementwise.
    fn softplus(&mut self, x: &Self::Value) -> Result<Self::Value>;
    /// `x * scale + shift` with constant tensors broadcast over `x`; `name` names them
    /// (`name.scale`, `name.shift`) in an exported graph.
    fn affine(
        &mut self,
        x: &Self::Value,
        name: &str,
        scale: &Tensor,
        shift: &Tensor,
    ) -> Result<Self::Value>;
    /// A separable linear map `[N, C, h, w] -> [N, C, height, width]`: `rows · x · colsᵀ`
    /// with constant row-major matrices `rows [height, h]` and `cols [width, w]`, named
    /// `name.rows` and `name.cols_t` in an exported graph.
    fn separable(
        &mut self,
        x: &Self::Value,
        name: &str,
        rows: &[f32],
        cols: &[f32],
        height: usize,
        width: usize,
    ) -> Result<Self::Value>;
}

/// A layer with parameters, applied through a backend: `conv.forward(g, &x)` records or
/// computes `g.conv2d(&x, &conv)`.
pub trait Layer {
    /// Applies the layer to `x`.
    fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value>;
}

impl Layer for Conv2d {
    fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        g.conv2d(x, self)
    }
}

impl Layer for BatchNorm2d {
    fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        g.batch_norm(x, self)
    }
}

impl Layer for Linear {
    fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        g.linear(x, self)
    }
}

/// Norm floor of [`Graph::l2_normalize_channels`] (torch `F.normalize`'s default eps).
pub const NORM_EPS: f32 = 1e-12;

pub use adapts_runtime::smoothing::interpolation_matrix;

/// Computes with candle tensors (CPU, f32). Stateless.
#[derive(Debug, Default, Clone, Copy)]
pub struct Eval;

impl Graph for Eval {
    type Value = Tensor;

    fn conv2d(&mut self, x: &Tensor, conv: &Conv2d) -> Result<Tensor> {
        let (x, pad) = pad_for_conv(x, conv)?;
        let y = if conv.groups > 1 && conv.groups == conv.in_channels() {
            super::depthwise::depthwise_conv2d(&x, &conv.weight, conv.stride, pad)?
        } else {
            x.conv2d(&conv.weight, pad, conv.stride, 1, conv.groups)?
        };
        Ok(match &conv.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?)?,
            None => y,
        })
    }

    fn batch_norm(&mut self, x: &Tensor, bn: &BatchNorm2d) -> Result<Tensor> {
        let (scale, shift) = bn.scale_shift()?;
        let c = scale.dim(0)?;
        Ok(x.broadcast_mul(&scale.reshape((1, c, 1, 1))?)?
            .broadcast_add(&shift.reshape((1, c, 1, 1))?)?)
    }

    fn linear(&mut self, x: &Tensor, lin: &Linear) -> Result<Tensor> {
        let y = x.matmul(&lin.weight.t()?)?;
        Ok(match &lin.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    fn relu(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(x.relu()?)
    }

    fn relu6(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(x.clamp(0f32, 6f32)?)
    }

    fn add(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok((a + b)?)
    }

    fn max_pool2d(
        &mut self,
        x: &Tensor,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Tensor> {
        // torch pads max pooling with -inf; after a ReLU every value is >= 0, but pad with the
        // true minimum so the op is right for any input.
        let x = if pad > 0 {
            let (n, c, h, w) = x.dims4()?;
            let fill = f32::MIN;
            let mut padded = Tensor::full(fill, (n, c, h + 2 * pad, w + 2 * pad), x.device())?;
            padded = padded.slice_assign(&[0..n, 0..c, pad..pad + h, pad..pad + w], x)?;
            padded
        } else {
            x.clone()
        };
        Ok(x.max_pool2d_with_stride(kernel, stride)?)
    }

    fn global_avg_pool(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(x.mean(D::Minus1)?.mean(D::Minus1)?)
    }

    fn sub(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok((a - b)?)
    }

    fn mul(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok((a * b)?)
    }

    fn l2_normalize_channels(&mut self, x: &Tensor) -> Result<Tensor> {
        let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(NORM_EPS)?;
        Ok(x.broadcast_div(&norm)?)
    }

    fn sum_square_channels(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(x.sqr()?.sum_keepdim(1)?)
    }

    fn resize_bilinear(&mut self, x: &Tensor, height: usize, width: usize) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        if (h, w) == (height, width) {
            return Ok(x.clone());
        }
        let rows = Tensor::from_vec(interpolation_matrix(height, h), (height, h), x.device())?;
        let cols = Tensor::from_vec(interpolation_matrix(width, w), (width, w), x.device())?;
        Ok(rows
            .broadcast_matmul(&x.contiguous()?)?
            .broadcast_matmul(&cols.t()?)?)
    }

    fn max_per_image(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(x.flatten_from(1)?.max(1)?)
    }

    fn avg_pool3x3(&mut self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let sums = (x
            .pad_with_zeros(2, 1, 1)?
            .pad_with_zeros(3, 1, 1)?
            .avg_pool2d_with_stride(3, 1)?
            * 9.0)?;
        // Positions inside the map per 3x3 window: 9 inside, 6 on an edge, 4 in a corner.
        let count = |i: usize, n: usize| (3 - usize::from(i == 0) - usize::from(i + 1 == n)) as f32;
        let inv: Vec<f32> = (0..h)
            .flat_map(|y| (0..w).map(move |x| 1.0 / (count(y, h) * count(x, w))))
            .collect();
        let inv = Tensor::from_vec(inv, (1, 1, h, w), x.device())?;
        Ok(sums.broadcast_mul(&inv)?)
    }

    fn concat(&mut self, xs: &[Tensor]) -> Result<Tensor> {
        Ok(Tensor::cat(xs, 1)?)
    }

    fn softplus(&mut self, x: &Tensor) -> Result<Tensor> {
        // relu(x) + log(1 + exp(-|x|)): no overflow for large |x|.
        let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
        Ok((x.relu()? + tail)?)
    }

    fn affine(
        &mut self,
        x: &Tensor,
        _name: &str,
        scale: &Tensor,
        shift: &Tensor,
    ) -> Result<Tensor> {
        Ok(x.broadcast_mul(scale)?.broadcast_add(shift)?)
    }

    fn separable(
        &mut self,
        x: &Tensor,
        _name: &str,
        rows: &[f32],
        cols: &[f32],
        height: usize,
        width: usize,
    ) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let rows = Tensor::from_vec(rows.to_vec(), (height, h), x.device())?;
        let cols = Tensor::from_vec(cols.to_vec(), (width, w), x.device())?;
        Ok(rows
            .broadcast_matmul(&x.contiguous()?)?
            .broadcast_matmul(&cols.t()?)?)
    }
}

/// The input and symmetric padding to hand to a candle convolution: asymmetric padding
/// (TensorFlow `SAME`) is applied to the input explicitly.
pub fn pad_for_conv(x: &Tensor, conv: &Conv2d) -> Result<(Tensor, usize)> {
    let (_, _, h, w) = x.dims4()?;
    let [top, left, bottom, right] = conv.pads(h, w);
    if top == bottom && left == right && top == left {
        Ok((x.clone(), top))
    } else {
        let padded = x
            .pad_with_zeros(2, top, bottom)?
            .pad_with_zeros(3, left, right)?;
        Ok((padded, 0))
    }
}
