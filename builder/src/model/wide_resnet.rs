//! Wide ResNet-50-2 (Zagoruyko & Komodakis 2016) as torchvision builds it.
//!
//! Mirrors torchvision/models/resnet.py (`Bottleneck`, `ResNet`, `wide_resnet50_2`): the
//! stride sits on the 3x3 conv (ResNet v1.5), the bottleneck is twice as wide as in ResNet-50.
//! VarBuilder paths repeat torchvision's state-dict keys (`conv1`, `layer1.0.conv2`,
//! `layer2.0.downsample.0`, `fc`), so a torchvision checkpoint loads without renaming.

use candle_nn::VarBuilder;

use super::graph::{Graph, Layer};
use super::nn::{BatchNorm2d, Conv2d, ConvSpec, Linear};
use super::Cut;
use crate::Result;

const BN_EPS: f64 = 1e-5;
const EXPANSION: usize = 4;

/// Stage names in forward order.
pub const STAGES: [&str; 4] = ["layer1", "layer2", "layer3", "layer4"];

/// Architecture hyper-parameters. [`WideResNetConfig::wide_resnet50_2`] is the real network;
/// smaller configurations keep the topology for fast tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WideResNetConfig {
    /// Bottleneck blocks per stage.
    pub blocks: [usize; 4],
    /// Stem width; stage `i` has `stem_width * 2^i` "planes" (64, 128, 256, 512 in the paper).
    pub stem_width: usize,
    /// torchvision's `width_per_group` (128 for the wide variant, 64 for ResNet-50).
    pub width_per_group: usize,
    /// Classifier outputs.
    pub num_classes: usize,
}

impl WideResNetConfig {
    /// torchvision's `wide_resnet50_2`: blocks `[3, 4, 6, 3]`, stem width 64, width per group 128,
    /// 1000 classes.
    pub fn wide_resnet50_2() -> Self {
        Self {
            blocks: [3, 4, 6, 3],
            stem_width: 64,
            width_per_group: 128,
            num_classes: 1000,
        }
    }

    /// Same topology at 1/8 of the width and one block per stage.
    pub fn tiny() -> Self {
        Self {
            blocks: [1, 2, 1, 1],
            stem_width: 8,
            width_per_group: 16,
            num_classes: 10,
        }
    }

    /// Output channels of stage `i` (0-based).
    pub fn stage_channels(&self, i: usize) -> usize {
        self.stem_width * (1 << i) * EXPANSION
    }
}

#[derive(Debug, Clone)]
struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    conv3: Conv2d,
    bn3: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl Bottleneck {
    fn new(
        vb: VarBuilder,
        in_ch: usize,
        planes: usize,
        stride: usize,
        cfg: &WideResNetConfig,
    ) -> Result<Self> {
        let width = planes * cfg.width_per_group / cfg.stem_width;
        let out_ch = planes * EXPANSION;
        let downsample = if stride != 1 || in_ch != out_ch {
            Some((
                Conv2d::new(
                    vb.pp("downsample.0"),
                    ConvSpec::new(in_ch, out_ch, 1, stride),
                )?,
                BatchNorm2d::new(vb.pp("downsample.1"), out_ch, BN_EPS)?,
            ))
        } else {
            None
        };
        Ok(Self {
            conv1: Conv2d::new(vb.pp("conv1"), ConvSpec::new(in_ch, width, 1, 1))?,
            bn1: BatchNorm2d::new(vb.pp("bn1"), width, BN_EPS)?,
            conv2: Conv2d::new(vb.pp("conv2"), ConvSpec::new(width, width, 3, stride))?,
            bn2: BatchNorm2d::new(vb.pp("bn2"), width, BN_EPS)?,
            conv3: Conv2d::new(vb.pp("conv3"), ConvSpec::new(width, out_ch, 1, 1))?,
            bn3: BatchNorm2d::new(vb.pp("bn3"), out_ch, BN_EPS)?,
            downsample,
        })
    }

    fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        let y = self.conv1.forward(g, x)?;
        let y = self.bn1.forward(g, &y)?;
        let y = g.relu(&y)?;
        let y = self.conv2.forward(g, &y)?;
        let y = self.bn2.forward(g, &y)?;
        let y = g.relu(&y)?;
        let y = self.conv3.forward(g, &y)?;
        let y = self.bn3.forward(g, &y)?;
        let identity = match &self.downsample {
            Some((conv, bn)) => {
                let d = conv.forward(g, x)?;
                bn.forward(g, &d)?
            }
            None => x.clone(),
        };
        let y = g.add(&y, &identity)?;
        g.relu(&y)
    }
}

/// The trunk up to its cut: stem, kept stages, and the classifier only when uncut.
#[derive(Debug, Clone)]
pub struct WideResNet {
    config: WideResNetConfig,
    conv1: Conv2d,
    bn1: BatchNorm2d,
    stages: Vec<Vec<Bottleneck>>,
    fc: Option<Linear>,
}

impl WideResNet {
    /// Builds the layers up to `cut`; nothing past the cut is requested from `vb`.
    pub fn new(vb: VarBuilder, config: WideResNetConfig, cut: Cut) -> Result<Self> {
        let kept = match cut {
            Cut::Stage(i) => i + 1,
            Cut::Classifier => STAGES.len(),
        };
        let mut in_ch = config.stem_width;
        let mut stages = Vec::with_capacity(kept);
        for (i, &n_blocks) in config.blocks.iter().enumerate().take(kept) {
            let planes = config.stem_width << i;
            let stride = if i == 0 { 1 } else { 2 };
            let vb_stage = vb.pp(STAGES[i]);
            let mut blocks = Vec::with_capacity(n_blocks);
            for b in 0..n_blocks {
                let s = if b == 0 { stride } else { 1 };
                blocks.push(Bottleneck::new(vb_stage.pp(b), in_ch, planes, s, &config)?);
                in_ch = planes * EXPANSION;
            }
            stages.push(blocks);
        }
        let fc = match cut {
            Cut::Classifier => Some(Linear::new(vb.pp("fc"), in_ch, config.num_classes)?),
            Cut::Stage(_) => None,
        };
        Ok(Self {
            conv1: Conv2d::new(vb.pp("conv1"), ConvSpec::new(3, config.stem_width, 7, 2))?,
            bn1: BatchNorm2d::new(vb.pp("bn1"), config.stem_width, BN_EPS)?,
            config,
            stages,
            fc,
        })
    }

    /// The architecture hyper-parameters the network was built with.
    pub fn config(&self) -> &WideResNetConfig {
        &self.config
    }

    /// conv1, bn1, ReLU, max pool: image to the input of `layer1`.
    pub fn stem<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        let y = self.conv1.forward(g, x)?;
        let y = self.bn1.forward(g, &y)?;
        let y = g.relu(&y)?;
        g.max_pool2d(&y, 3, 2, 1)
    }

    /// Number of kept stages.
    pub fn num_stages(&self) -> usize {
        self.stages.len()
    }

    /// Stage `i` (`layer{i+1}`) on the previous stage's output.
    pub fn stage<G: Graph>(&self, g: &mut G, i: usize, x: &G::Value) -> Result<G::Value> {
        let mut y = x.clone();
        for block in &self.stages[i] {
            y = block.forward(g, &y)?;
        }
        Ok(y)
    }

    /// Pooled vector and, when uncut, logits from the deepest kept stage's output.
    pub fn head<G: Graph>(&self, g: &mut G, y: &G::Value) -> Result<(G::Value, Option<G::Value>)> {
        let pooled = g.global_avg_pool(y)?;
        let logits = match &self.fc {
            Some(fc) => Some(fc.forward(g, &pooled)?),
            None => None,
        };
        Ok((pooled, logits))
    }

    /// The ImageNet classifier (`fc`); `None` when the network is cut before it.
    pub fn classifier(&self) -> Option<&Linear> {
        self.fc.as_ref()
    }
}
