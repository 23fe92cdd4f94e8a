//! Frozen ImageNet trunks: architecture choice, truncation and the common output shape.
//!
//! A [`Trunk`] is built up to a [`Cut`] and returns every kept stage output, the globally
//! average-pooled vector of the deepest kept stage (the routing vector) and, when uncut, the
//! classifier logits.

use std::fmt;
use std::str::FromStr;

use candle_nn::VarBuilder;

use super::efficientnet_lite::{EfficientNetLite, EfficientNetLiteConfig};
use super::graph::Graph;
use super::wide_resnet::{WideResNet, WideResNetConfig};
use crate::{Error, Result};

/// The trunks the product ships with, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
pub enum TrunkKind {
    /// torchvision wide_resnet50_2 (the AdapTS paper's trunk).
    #[value(name = "wrn50-2")]
    #[serde(rename = "wrn50-2")]
    Wrn50_2,
    /// EfficientNet-Lite0, the small edge trunk.
    #[value(name = "effnet-lite0")]
    #[serde(rename = "effnet-lite0")]
    EffnetLite0,
}

impl TrunkKind {
    /// The command-line and manifest name (`wrn50-2`, `effnet-lite0`).
    pub fn name(self) -> &'static str {
        match self {
            TrunkKind::Wrn50_2 => "wrn50-2",
            TrunkKind::EffnetLite0 => "effnet-lite0",
        }
    }

    /// The full-size architecture.
    pub fn arch(self) -> Arch {
        match self {
            TrunkKind::Wrn50_2 => Arch::WideResNet(WideResNetConfig::wide_resnet50_2()),
            TrunkKind::EffnetLite0 => Arch::EfficientNetLite(EfficientNetLiteConfig::lite0()),
        }
    }
}

impl fmt::Display for TrunkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the trunk ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// After stage `i` (0-based index into [`Arch::stage_names`]); later layers are never built.
    Stage(usize),
    /// The whole network including its ImageNet classifier.
    Classifier,
}

/// An architecture with its hyper-parameters (full size or reduced for tests).
// A handful exist per process; a copyable value beats boxing the larger config.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Wide ResNet (torchvision layout), stages `layer1`..`layer4`.
    WideResNet(WideResNetConfig),
    /// EfficientNet-Lite, stages `stride4`..`stride32`.
    EfficientNetLite(EfficientNetLiteConfig),
}

impl Arch {
    /// Stage names in forward order; a [`Cut::Stage`] indexes this list.
    pub fn stage_names(&self) -> &'static [&'static str] {
        match self {
            Arch::WideResNet(_) => &super::wide_resnet::STAGES,
            Arch::EfficientNetLite(_) => &super::efficientnet_lite::STAGES,
        }
    }

    /// Output channels of each stage, in order.
    pub fn stage_channels(&self) -> Vec<usize> {
        (0..self.stage_names().len())
            .map(|i| match self {
                Arch::WideResNet(c) => c.stage_channels(i),
                Arch::EfficientNetLite(c) => c.stage_channels(i),
            })
            .collect()
    }

    /// Parses a cut: a stage name, or `fc` for the full classifier.
    pub fn parse_cut(&self, s: &str) -> Result<Cut> {
        if s == "fc" || s == "full" {
            return Ok(Cut::Classifier);
        }
        self.stage_names()
            .iter()
            .position(|n| *n == s)
            .map(Cut::Stage)
            .ok_or_else(|| Error::UnknownStage {
                stage: s.to_string(),
                available: format!("{}, fc", self.stage_names().join(", ")),
            })
    }

    /// The name [`Arch::parse_cut`] reads back: the stage name, or `fc` for the classifier.
    pub fn cut_name(&self, cut: Cut) -> &'static str {
        match cut {
            Cut::Stage(i) => self.stage_names()[i],
            Cut::Classifier => "fc",
        }
    }
}

/// What a trunk forward returns.
#[derive(Debug, Clone)]
pub struct TrunkOutput<V> {
    /// `(stage name, [N, C, H, W])` for every kept stage, shallow to deep.
    pub stages: Vec<(String, V)>,
    /// `[N, C]` global average of the deepest kept features (after the head conv when uncut).
    pub pooled: V,
    /// `[N, classes]` when the classifier is kept.
    pub logits: Option<V>,
}

/// A built trunk.
// One trunk is built per process; boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Trunk {
    /// A Wide ResNet built up to its cut.
    WideResNet(WideResNet),
    /// An EfficientNet-Lite built up to its cut.
    EfficientNetLite(EfficientNetLite),
}

impl Trunk {
    /// Builds `arch` up to `cut`, reading its parameters from `vb` (torchvision or
    /// `efficientnet_pytorch` key names); nothing past the cut is read.
    pub fn new(vb: VarBuilder, arch: Arch, cut: Cut) -> Result<Self> {
        Ok(match arch {
            Arch::WideResNet(c) => Trunk::WideResNet(WideResNet::new(vb, c, cut)?),
            Arch::EfficientNetLite(c) => {
                Trunk::EfficientNetLite(EfficientNetLite::new(vb, c, cut)?)
            }
        })
    }

    /// The whole kept trunk: every stage output, the pooled vector and logits when uncut.
    pub fn forward<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<TrunkOutput<G::Value>> {
        let names = self.arch().stage_names();
        let mut y = self.stem(g, x)?;
        let mut stages = Vec::with_capacity(self.num_stages());
        for (i, name) in names.iter().enumerate().take(self.num_stages()) {
            y = self.stage(g, i, &y)?;
            stages.push((name.to_string(), y.clone()));
        }
        let (pooled, logits) = self.head(g, &y)?;
        Ok(TrunkOutput {
            stages,
            pooled,
            logits,
        })
    }

    /// Stem, then stages `0..=last`; returns the output of stage `last`.
    pub fn forward_to<G: Graph>(&self, g: &mut G, x: &G::Value, last: usize) -> Result<G::Value> {
        let mut y = self.stem(g, x)?;
        for i in 0..=last {
            y = self.stage(g, i, &y)?;
        }
        Ok(y)
    }

    /// The architecture, with the hyper-parameters it was built with.
    pub fn arch(&self) -> Arch {
        match self {
            Trunk::WideResNet(m) => Arch::WideResNet(*m.config()),
            Trunk::EfficientNetLite(m) => Arch::EfficientNetLite(*m.config()),
        }
    }

    /// Number of kept stages (all of them when uncut).
    pub fn num_stages(&self) -> usize {
        match self {
            Trunk::WideResNet(m) => m.num_stages(),
            Trunk::EfficientNetLite(m) => m.num_stages(),
        }
    }

    /// The layers before the first stage: image `[N, 3, H, W]` to the input of stage 0.
    pub fn stem<G: Graph>(&self, g: &mut G, x: &G::Value) -> Result<G::Value> {
        match self {
            Trunk::WideResNet(m) => m.stem(g, x),
            Trunk::EfficientNetLite(m) => m.stem(g, x),
        }
    }

    /// Stage `i` alone, on the output of stage `i - 1` (or of the stem for `i == 0`).
    pub fn stage<G: Graph>(&self, g: &mut G, i: usize, x: &G::Value) -> Result<G::Value> {
        match self {
            Trunk::WideResNet(m) => m.stage(g, i, x),
            Trunk::EfficientNetLite(m) => m.stage(g, i, x),
        }
    }

    /// Pooled vector (and logits when uncut) from the deepest kept stage's output.
    pub fn head<G: Graph>(&self, g: &mut G, y: &G::Value) -> Result<(G::Value, Option<G::Value>)> {
        match self {
            Trunk::WideResNet(m) => m.head(g, y),
            Trunk::EfficientNetLite(m) => m.head(g, y),
        }
    }
}

impl FromStr for TrunkKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        <TrunkKind as clap::ValueEnum>::from_str(s, true).map_err(|_| Error::UnknownTrunk(s.into()))
    }
}
