//! Depthwise 2-D convolution kernel for candle's CPU backend.
//!
//! candle runs a grouped convolution as one small convolution per group, which for
//! depthwise layers (hundreds of single-channel groups) is far slower than a direct loop.
//! This op computes `[N, C, H, W] * [C, 1, k, k]` directly, one (image, channel) plane per
//! rayon product. Backward computes the gradient of the input only: depthwise weights belong to
//! frozen trunks.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

struct Depthwise {
    stride: usize,
    pad: usize,
}

impl CustomOp2 for Depthwise {
    fn name(&self) -> &'static str {
        "depthwise-conv2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = match (xs, ws) {
            (CpuStorage::F32(x), CpuStorage::F32(w)) => (x, w),
            _ => candle_core::bail!("depthwise-conv2d: f32 input and weight expected"),
        };
        let (Some((x0, x1)), Some((w0, w1))) = (xl.contiguous_offsets(), wl.contiguous_offsets())
        else {
            candle_core::bail!("depthwise-conv2d: contiguous input and weight expected")
        };
        let (x, w) = (&x[x0..x1], &w[w0..w1]);
        let (n, c, h, wd) = xl.shape().dims4()?;
        let (wc, one, k, k2) = wl.shape().dims4()?;
        if wc != c || one != 1 || k != k2 {
            candle_core::bail!(
                "depthwise-conv2d: weight {:?} does not fit input {:?}",
                wl.shape(),
                xl.shape()
            )
        }
        let (s, p) = (self.stride, self.pad);
        let oh = (h + 2 * p - k) / s + 1;
        let ow = (wd + 2 * p - k) / s + 1;
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(plane, o)| {
                let ch = plane % c;
                let src = &x[plane * h * wd..(plane + 1) * h * wd];
                let ker = &w[ch * k * k..(ch + 1) * k * k];
                for oy in 0..oh {
                    let row = &mut o[oy * ow..(oy + 1) * ow];
                    for ky in 0..k {
                        let iy = (oy * s + ky) as isize - p as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let src_row = &src[iy as usize * wd..(iy as usize + 1) * wd];
                        for kx in 0..k {
                            let kv = ker[ky * k + kx];
                            for (ox, acc) in row.iter_mut().enumerate() {
                                let ix = (ox * s + kx) as isize - p as isize;
                                if ix >= 0 && (ix as usize) < wd {
                                    *acc += kv * src_row[ix as usize];
                                }
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, c, h, wd) = x.dims4()?;
        let (_, _, k, _) = w.dims4()?;
        let (_, _, oh, ow) = grad.dims4()?;
        let (s, p) = (self.stride, self.pad);
        let g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let kw = w.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut gx = vec![0f32; n * c * h * wd];
        gx.par_chunks_mut(h * wd)
            .enumerate()
            .for_each(|(plane, gxp)| {
                let ch = plane % c;
                let gp = &g[plane * oh * ow..(plane + 1) * oh * ow];
                let ker = &kw[ch * k * k..(ch + 1) * k * k];
                for oy in 0..oh {
                    for ky in 0..k {
                        let iy = (oy * s + ky) as isize - p as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let row = &mut gxp[iy as usize * wd..(iy as usize + 1) * wd];
                        for kx in 0..k {
                            let kv = ker[ky * k + kx];
                            for ox in 0..ow {
                                let ix = (ox * s + kx) as isize - p as isize;
                                if ix >= 0 && (ix as usize) < wd {
                                    row[ix as usize] += kv * gp[oy * ow + ox];
                                }
                            }
                        }
                    }
                }
            });
        Ok((Some(Tensor::from_vec(gx, (n, c, h, wd), x.device())?), None))
    }
}

/// Depthwise convolution with symmetric zero padding `pad`.
pub fn depthwise_conv2d(
    x: &Tensor,
    weight: &Tensor,
    stride: usize,
    pad: usize,
) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op2(&weight.contiguous()?, Depthwise { stride, pad })
}
