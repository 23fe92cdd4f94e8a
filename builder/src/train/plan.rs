//! Where adapters go: presets S/M/L and custom placements, resolved against a trunk.

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
}

impl Plan {
    /// A preset, optionally overridden by `--stages` (comma-separated stage names) and
    /// `--adapter` (`linear`, `expansion`, `bn25`, `bn50`).
    pub fn resolve(
        arch: &Arch,
        preset: Preset,
        stages: Option<&str>,
        adapter: Option<&str>,
    ) -> Result<Self> {
        let (mut name, mut adapted, precision) = match preset {
            Preset::S => ("S", vec![1], Precision::Int8),
            Preset::M => ("M", vec![1, 2], Precision::Int8),
            Preset::L => ("L", vec![1, 2], Precision::Fp32),
        };
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
