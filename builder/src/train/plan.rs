//! Where adapters go: presets S/M/L and custom placements, resolved against a trunk, under one
//! of two recipes (local scoring, the default, or the paper's).

use adapts_runtime::bundle::manifest::Precision;

use crate::model::adapter::AdapterKind;
use crate::model::Arch;
use crate::{Error, Result};

/// The paper's deployment presets (S, M, L; see the README's method section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Preset {
    /// Adapter after the stride-8 stage (WRN `layer2`), INT8 weights; trunk cut there.
    S,
    /// Adapters after the stride-8 and stride-16 stages, INT8 weights.
    M,
    /// As M with FP32 weights.
    L,
}

/// How a product is trained and scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Recipe {
    /// Local scoring (the default): 3x3-averaged teacher features of the tapped stages, one
    /// small map per product trained on feature-space anomalies, per-location normalisation,
    /// Gaussian smoothing ([`crate::model::local`]).
    #[default]
    Local,
    /// The AdapTS paper: adapters on a student path, STFPM plus a segmentation loss on
    /// synthetic image anomalies, the product of teacher/student distance maps.
    Paper,
}

/// A resolved adapter placement.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Preset name for the manifest (`S`, `M`, `L` or `custom`).
    pub name: String,
    /// Indices (into the trunk's stage list) of the adapted stages, ascending.
    pub adapted: Vec<usize>,
    /// Adapter latent width.
    pub kind: AdapterKind,
    /// Adapter weight precision in the bundle.
    pub precision: Precision,
    /// How products are trained and scored.
    pub recipe: Recipe,
    /// A stage deeper than the taps whose pooled output routes instead of the taps' (local
    /// scoring; `--routing-stage`, e.g. WRN `layer4` as the paper's prototypes); `None`: the
    /// taps route.
    pub routing_stage: Option<usize>,
}

impl Plan {
    /// A preset under `recipe`, optionally overridden by `--stages` (comma-separated stage
    /// names) and, for the paper's recipe, `--adapter` (`linear`, `expansion`, `bn25`,
    /// `bn50`).
    ///
    /// The paper's S adapts the stride-8 stage (WRN `layer2`); M and L the stride-8 and
    /// stride-16 stages. Local scoring taps the stride-16 stage alone for S (the stride-8
    /// features alone lose most of the signal on real parts, see BENCHMARKS.md) and both for
    /// M and L.
    pub fn resolve(
        arch: &Arch,
        preset: Preset,
        stages: Option<&str>,
        adapter: Option<&str>,
        recipe: Recipe,
    ) -> Result<Self> {
        let (mut name, mut adapted, precision) = match (preset, recipe) {
            (Preset::S, Recipe::Paper) => ("S", vec![1], Precision::Int8),
            (Preset::S, Recipe::Local) => ("S", vec![2], Precision::Int8),
            (Preset::M, _) => ("M", vec![1, 2], Precision::Int8),
            (Preset::L, _) => ("L", vec![1, 2], Precision::Fp32),
        };
        if recipe == Recipe::Local && adapter.is_some_and(|a| !a.eq_ignore_ascii_case("linear")) {
            return Err(Error::Config(
                "--adapter: local scoring uses full-width adapters; the variants apply to \
                 --recipe paper"
                    .into(),
            ));
        }
        if let Some(list) = stages {
            let names = arch.stage_names();
            adapted =
                list.split(',')
                    .map(|s| {
                        names.iter().position(|n| *n == s.trim()).ok_or_else(|| {
                            Error::UnknownStage {
                                stage: s.trim().to_string(),
                                available: names.join(", "),
                            }
                        })
                    })
                    .collect::<Result<_>>()?;
            adapted.sort_unstable();
            adapted.dedup();
            if adapted.is_empty() {
                return Err(Error::Config("--stages names no stage".into()));
            }
            name = "custom";
        }
        let kind = match adapter {
            Some(a) => AdapterKind::parse(a).ok_or_else(|| {
                Error::Config(format!(
                    "--adapter `{a}`: expected linear, expansion, bn25 or bn50"
                ))
            })?,
            None => AdapterKind::Linear,
        };
        if adapter.is_some() && stages.is_none() {
            name = "custom";
        }
        Ok(Self {
            name: name.into(),
            adapted,
            kind,
            precision,
            recipe,
            routing_stage: None,
        })
    }

    /// Routes by the pooled output of stage `name` instead of the taps' (local scoring
    /// only). The stage must be at least as deep as the deepest tap; naming that tap itself
    /// routes by its pooled output alone.
    pub fn with_routing_stage(mut self, arch: &Arch, name: &str) -> Result<Self> {
        if self.recipe != Recipe::Local {
            return Err(Error::Config(
                "--routing-stage applies to local scoring; the paper's recipe routes by its \
                 deepest adapted stage"
                    .into(),
            ));
        }
        let names = arch.stage_names();
        let k = names
            .iter()
            .position(|n| *n == name.trim())
            .ok_or_else(|| Error::UnknownStage {
                stage: name.trim().to_string(),
                available: names.join(", "),
            })?;
        if k < self.last() {
            return Err(Error::Config(format!(
                "--routing-stage {name}: shallower than the deepest tapped stage `{}`",
                names[self.last()]
            )));
        }
        self.routing_stage = Some(k);
        Ok(self)
    }

    /// The shallowest adapted stage (the trunk graph ends there).
    pub fn first(&self) -> usize {
        self.adapted[0]
    }

    /// The deepest adapted (tapped) stage.
    pub fn last(&self) -> usize {
        self.adapted[self.adapted.len() - 1]
    }

    /// The deepest kept stage, the routing stage included (the trunk is cut after it).
    pub fn deepest(&self) -> usize {
        self.routing_stage
            .map_or(self.last(), |r| r.max(self.last()))
    }

    /// Whether stage `stage` has an adapter.
    pub fn is_adapted(&self, stage: usize) -> bool {
        self.adapted.contains(&stage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::efficientnet_lite::EfficientNetLiteConfig;
    use crate::model::wide_resnet::WideResNetConfig;

    #[test]
    fn a_routing_stage_deepens_the_kept_trunk_under_local_scoring_only() {
        let wrn = Arch::WideResNet(WideResNetConfig::wide_resnet50_2());
        let plan = Plan::resolve(&wrn, Preset::S, None, None, Recipe::Local).unwrap();
        assert_eq!((plan.last(), plan.deepest()), (2, 2));
        let deep = plan.clone().with_routing_stage(&wrn, "layer4").unwrap();
        assert_eq!(
            (deep.last(), deep.deepest()),
            (2, 3),
            "the taps stay, layer4 is kept"
        );

        let err = plan.clone().with_routing_stage(&wrn, "layer9").unwrap_err();
        assert!(err.to_string().contains("layer9"), "{err}");
        let lite = Arch::EfficientNetLite(EfficientNetLiteConfig::lite0());
        let m = Plan::resolve(&lite, Preset::M, None, None, Recipe::Local).unwrap();
        let err = m.with_routing_stage(&lite, "stride8").unwrap_err();
        assert!(err.to_string().contains("shallower"), "{err}");
        let paper = Plan::resolve(&wrn, Preset::S, None, None, Recipe::Paper).unwrap();
        let err = paper.with_routing_stage(&wrn, "layer4").unwrap_err();
        assert!(err.to_string().contains("local scoring"), "{err}");
    }
}
