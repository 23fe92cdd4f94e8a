//! Candle execution for frozen trunk stages inside a training step.
//!
//! Gradients must flow through a frozen stage to the adapters before it, but never into the
//! stage's own weights. candle's convolution backward always computes the kernel gradient
//! too (the larger half of the work), so [`Frozen`] runs convolutions as a custom op whose
//! backward returns the input gradient only. Values are identical to [`crate::model::graph::Eval`].

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use crate::model::graph::{pad_for_conv, Eval, Graph};
use crate::model::nn::{BatchNorm2d, Conv2d, Linear};
use crate::Result;

/// Training-time graph for frozen layers: same values as [`Eval`], input-only gradients.
#[derive(Debug, Default, Clone, Copy)]
pub struct Frozen;

/// A dense convolution with a constant kernel.
struct FrozenConv {
    weight: Tensor,
    stride: usize,
    pad: usize,
}

impl CustomOp1 for FrozenConv {
    fn name(&self) -> &'static str {
        "frozen-conv2d"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("frozen-conv2d: f32 input expected")
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("frozen-conv2d: contiguous input expected")
        };
        let x = Tensor::from_slice(&data[start..end], layout.shape(), &candle_core::Device::Cpu)?;
        let (_, _, k, _) = self.weight.dims4()?;
        let y = if k == 1 && self.stride == 1 && self.pad == 0 {
            // 1x1 stride 1: a batched matrix product, no im2col copy.
            let (n, c_in, h, w) = x.dims4()?;
            let c_out = self.weight.dim(0)?;
            self.weight
                .reshape((c_out, c_in))?
                .broadcast_matmul(&x.reshape((n, c_in, h * w))?)?
                .reshape((n, c_out, h, w))?
        } else {
            x.conv2d(&self.weight, self.pad, self.stride, 1, 1)?
        };
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (_, _, k, _) = self.weight.dims4()?;
        if k == 1 && self.stride == 1 && self.pad == 0 {
            // 1x1 stride 1: dx = W^T dy, a plain matrix product.
            let (n, c_out, h, w) = grad.dims4()?;
            let wt = self.weight.reshape((c_out, ()))?.t()?;
            let g = grad.reshape((n, c_out, h * w))?;
            let dx = wt.broadcast_matmul(&g)?;
            return Ok(Some(dx.reshape(arg.shape())?));
        }
        let grad_h = grad.dim(2)?;
        let out_size = (grad_h - 1) * self.stride + k - 2 * self.pad;
        let out_padding = arg.dim(2)? - out_size;
        Ok(Some(grad.conv_transpose2d(
            &self.weight,
            self.pad,
            out_padding,
            self.stride,
            1,
        )?))
    }
}

impl Graph for Frozen {
    type Value = Tensor;

    fn conv2d(&mut self, x: &Tensor, conv: &Conv2d) -> Result<Tensor> {
        if conv.groups != 1 {
            // Depthwise: the kernel op already computes the input gradient only.
            return Eval.conv2d(x, conv);
        }
        let (x, pad) = pad_for_conv(x, conv)?;
        let op = FrozenConv {
            weight: conv.weight.clone(),
            stride: conv.stride,
            pad,
        };
        let y = x.contiguous()?.apply_op1(op)?;
        Ok(match &conv.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?)?,
            None => y,
        })
    }

    fn batch_norm(&mut self, x: &Tensor, bn: &BatchNorm2d) -> Result<Tensor> {
        Eval.batch_norm(x, bn)
    }

    fn linear(&mut self, x: &Tensor, lin: &Linear) -> Result<Tensor> {
        Eval.linear(x, lin)
    }

    fn relu(&mut self, x: &Tensor) -> Result<Tensor> {
        Eval.relu(x)
    }

    fn relu6(&mut self, x: &Tensor) -> Result<Tensor> {
        Eval.relu6(x)
    }

    fn add(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Eval.add(a, b)
    }

    fn max_pool2d(
        &mut self,
        x: &Tensor,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Tensor> {
        Eval.max_pool2d(x, kernel, stride, pad)
    }

    fn global_avg_pool(&mut self, x: &Tensor) -> Result<Tensor> {
        Eval.global_avg_pool(x)
    }

    fn sub(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Eval.sub(a, b)
    }

    fn mul(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Eval.mul(a, b)
    }

    fn l2_normalize_channels(&mut self, x: &Tensor) -> Result<Tensor> {
        Eval.l2_normalize_channels(x)
    }

    fn sum_square_channels(&mut self, x: &Tensor) -> Result<Tensor> {
        Eval.sum_square_channels(x)
    }

    fn resize_bilinear(&mut self, x: &Tensor, height: usize, width: usize) -> Result<Tensor> {
        Eval.resize_bilinear(x, height, width)
    }

    fn max_per_image(&mut self, x: &Tensor) -> Result<Tensor> {
        Eval.max_per_image(x)
    }

    fn avg_pool3x3(&mut self, x: &Tensor) -> Result<Tensor> {
        Eval.avg_pool3x3(x)
    }

    fn concat(&mut self, xs: &[Tensor]) -> Result<Tensor> {
        Eval.concat(xs)
    }

    fn softplus(&mut self, x: &Tensor) -> Result<Tensor> {
        Eval.softplus(x)
    }

    fn affine(&mut self, x: &Tensor, name: &str, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
        Eval.affine(x, name, scale, shift)
    }

    fn separable(
        &mut self,
        x: &Tensor,
        name: &str,
        rows: &[f32],
        cols: &[f32],
        height: usize,
        width: usize,
    ) -> Result<Tensor> {
        Eval.separable(x, name, rows, cols, height, width)
    }
}
