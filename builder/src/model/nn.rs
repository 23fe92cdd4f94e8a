//! Layers with parameters: convolution, batch normalisation, linear.
//!
//! A layer is a plain struct of candle tensors plus its configuration and its checkpoint key
//! prefix (`name`). The prefix doubles as the ONNX initializer name, so an exported graph
//! reads like the state dict it came from. Layers only hold parameters: they are applied
//! through a backend of [`super::graph`] (the [`Layer`](super::graph::Layer) trait).

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use crate::Result;

/// How a convolution pads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// The same number of zeros on every side (PyTorch `padding=p`).
    Symmetric(usize),
    /// TensorFlow `SAME`: output = ceil(input / stride), extra zero on the bottom/right.
    TfSame,
}

/// Shape and options of a [`Conv2d`].
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// How the input is zero-padded.
    pub padding: Padding,
    /// Number of channel groups (1 = dense, `in_channels` = depthwise).
    pub groups: usize,
    /// Whether the convolution has a bias.
    pub bias: bool,
}

impl ConvSpec {
    /// A bias-free `kernel x kernel` convolution with PyTorch's "same" padding for odd kernels.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, stride: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding: Padding::Symmetric(kernel / 2),
            groups: 1,
            bias: false,
        }
    }

    /// Replaces the padding.
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Depthwise: one group per input channel.
    pub fn depthwise(mut self) -> Self {
        self.groups = self.in_channels;
        self
    }

    /// Adds a bias.
    pub fn with_bias(mut self) -> Self {
        self.bias = true;
        self
    }
}

/// 2-D convolution, weights `[out, in / groups, k, k]`.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// Checkpoint key prefix; also the ONNX initializer name prefix.
    pub name: String,
    /// Weights `[out, in / groups, k, k]`.
    pub weight: Tensor,
    /// Bias `[out]`; `None` for a bias-free convolution.
    pub bias: Option<Tensor>,
    /// Stride in both directions.
    pub stride: usize,
    /// How the input is zero-padded.
    pub padding: Padding,
    /// Number of channel groups.
    pub groups: usize,
    /// Per-output-channel scales when `weight` holds INT8 values times these scales exactly;
    /// export then stores the weights as INT8 with a `DequantizeLinear`.
    pub int8_scales: Option<Vec<f32>>,
}

impl Conv2d {
    /// Reads `weight` (and `bias` when `spec.bias`) under `vb`'s prefix, with Kaiming-normal and
    /// zero initialisation hints.
    pub fn new(vb: VarBuilder, spec: ConvSpec) -> Result<Self> {
        let fan_in = spec.in_channels / spec.groups * spec.kernel * spec.kernel;
        let weight = vb.get_with_hints(
            (
                spec.out_channels,
                spec.in_channels / spec.groups,
                spec.kernel,
                spec.kernel,
            ),
            "weight",
            kaiming_normal(fan_in),
        )?;
        let bias = if spec.bias {
            Some(vb.get_with_hints(spec.out_channels, "bias", Init::Const(0.))?)
        } else {
            None
        };
        Ok(Self {
            name: vb.prefix(),
            weight,
            bias,
            stride: spec.stride,
            padding: spec.padding,
            groups: spec.groups,
            int8_scales: None,
        })
    }

    /// Input channels (`weight`'s second dimension times `groups`).
    pub fn in_channels(&self) -> usize {
        self.weight.dims()[1] * self.groups
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Square kernel side.
    pub fn kernel(&self) -> usize {
        self.weight.dims()[2]
    }

    /// `[top, left, bottom, right]` zero padding for an `h x w` input.
    pub fn pads(&self, h: usize, w: usize) -> [usize; 4] {
        self.padding.resolve(h, w, self.kernel(), self.stride)
    }

    /// Output spatial size for an `h x w` input.
    pub fn output_size(&self, h: usize, w: usize) -> (usize, usize) {
        let [t, l, b, r] = self.pads(h, w);
        let k = self.kernel();
        (
            (h + t + b - k) / self.stride + 1,
            (w + l + r - k) / self.stride + 1,
        )
    }
}

/// Batch normalisation in inference form (running statistics).
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    /// Checkpoint key prefix; also the ONNX initializer name prefix.
    pub name: String,
    /// Per-channel scale (gamma), `[C]`.
    pub weight: Tensor,
    /// Per-channel shift (beta), `[C]`.
    pub bias: Tensor,
    /// Running mean, `[C]`.
    pub running_mean: Tensor,
    /// Running variance, `[C]`.
    pub running_var: Tensor,
    /// Added to the variance before the square root.
    pub eps: f64,
}

impl BatchNorm2d {
    /// Reads `weight`, `bias`, `running_mean` and `running_var` (`[channels]` each) under `vb`'s
    /// prefix, with identity initialisation hints (1, 0, 0, 1).
    pub fn new(vb: VarBuilder, channels: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(channels, "weight", Init::Const(1.))?,
            bias: vb.get_with_hints(channels, "bias", Init::Const(0.))?,
            running_mean: vb.get_with_hints(channels, "running_mean", Init::Const(0.))?,
            running_var: vb.get_with_hints(channels, "running_var", Init::Const(1.))?,
            name: vb.prefix(),
            eps,
        })
    }

    /// Per-channel `(scale, shift)` with `y = x * scale + shift`.
    pub fn scale_shift(&self) -> Result<(Tensor, Tensor)> {
        let scale = (&self.weight / (&self.running_var + self.eps)?.sqrt()?)?;
        let shift = (&self.bias - (&self.running_mean * &scale)?)?;
        Ok((scale, shift))
    }
}

/// Fully connected layer, weights `[out, in]`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Checkpoint key prefix; also the ONNX initializer name prefix.
    pub name: String,
    /// Weights `[out, in]`.
    pub weight: Tensor,
    /// Bias `[out]`; `None` for a bias-free layer.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// Reads `weight` `[out_features, in_features]` and `bias` under `vb`'s prefix, with torch's
    /// uniform `±1/sqrt(in_features)` initialisation hint.
    pub fn new(vb: VarBuilder, in_features: usize, out_features: usize) -> Result<Self> {
        let bound = 1.0 / (in_features as f64).sqrt();
        let uniform = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Ok(Self {
            weight: vb.get_with_hints((out_features, in_features), "weight", uniform)?,
            bias: Some(vb.get_with_hints(out_features, "bias", uniform)?),
            name: vb.prefix(),
        })
    }
}

impl Padding {
    /// `[top, left, bottom, right]` for an input of `h x w`.
    pub fn resolve(self, h: usize, w: usize, kernel: usize, stride: usize) -> [usize; 4] {
        match self {
            Padding::Symmetric(p) => [p, p, p, p],
            Padding::TfSame => {
                let total = |size: usize| {
                    let out = size.div_ceil(stride);
                    ((out - 1) * stride + kernel).saturating_sub(size)
                };
                let (th, tw) = (total(h), total(w));
                [th / 2, tw / 2, th - th / 2, tw - tw / 2]
            }
        }
    }
}

/// Kaiming-normal (fan-in, ReLU gain) initialisation, as torchvision initialises convolutions.
fn kaiming_normal(fan_in: usize) -> Init {
    Init::Randn {
        mean: 0.,
        stdev: (2.0 / fan_in as f64).sqrt(),
    }
}
