//! Layers with parameters: convolution, batch normalisation, linear.
//!
//! A layer is a plain struct of candle tensors plus its configuration and its checkpoint key
//! prefix (`name`). The prefix doubles as the ONNX initializer name, so an exported graph
//! reads like the state dict it came from. Forward passes go through [`crate::graph::Graph`].

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use crate::graph::Graph;
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
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: Padding,
    pub groups: usize,
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

    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Depthwise: one group per input channel.
    pub fn depthwise(mut self) -> Self {
        self.groups = self.in_channels;
        self
    }

    pub fn with_bias(mut self) -> Self {
        self.bias = true;
        self
    }
}

/// 2-D convolution, weights `[out, in / groups, k, k]`.
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub name: String,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: usize,
    pub padding: Padding,
    pub groups: usize,
    /// Per-output-channel scales when `weight` holds INT8 values times these scales exactly;
    /// export then stores the weights as INT8 with a `DequantizeLinear`.
    pub int8_scales: Option<Vec<f32>>,
}

impl Conv2d {
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

    pub fn in_channels(&self) -> usize {
        self.weight.dims()[1] * self.groups
    }

    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

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

    pub fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        g.conv2d(x, self)
    }
}

/// Batch normalisation in inference form (running statistics).
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    pub name: String,
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub eps: f64,
}

impl BatchNorm2d {
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

    pub fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        g.batch_norm(x, self)
    }
}

/// Fully connected layer, weights `[out, in]`.
#[derive(Debug, Clone)]
pub struct Linear {
    pub name: String,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
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

    pub fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        g.linear(x, self)
    }
}

/// Kaiming-normal (fan-in, ReLU gain) initialisation, as torchvision initialises convolutions.
fn kaiming_normal(fan_in: usize) -> Init {
    Init::Randn {
        mean: 0.,
        stdev: (2.0 / fan_in as f64).sqrt(),
    }
}
