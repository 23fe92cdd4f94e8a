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
        })
    }

    /// The shallowest adapted stage (the trunk graph ends there).
    pub fn first(&self) -> usize {
        self.adapted[0]
    }

    /// The deepest kept stage (the trunk is cut after it).
    pub fn last(&self) -> usize {
        self.adapted[self.adapted.len() - 1]
    }

    /// Whether stage `stage` has an adapter.
    pub fn is_adapted(&self, stage: usize) -> bool {
        self.adapted.contains(&stage)
    }
}
