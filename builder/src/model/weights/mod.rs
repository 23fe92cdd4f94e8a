//! Trunk weights: reading checkpoints, checking them against an architecture, and the
//! VarBuilder backends that feed model constructors.
//!
//! Supported files: torchvision's zip `.pth` (torch >= 1.6), legacy pickle `.pth`, and
//! `.safetensors`; the format is detected from the file's first bytes, not its name. A
//! checkpoint is validated against the full architecture before any layer is built, so a
//! missing key, an unexpected key or a wrong shape is reported by name.

mod backend;
mod torch_legacy;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

pub use backend::{ParamSpec, RandomInit};

use adapts_runtime::bundle::sha256_hex;

use crate::model::{Arch, Cut, Trunk};
use crate::{Error, PathContext, Result};

/// On-disk format of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A zip archive `.pth` (torch >= 1.6, torchvision's downloads).
    TorchZip,
    /// A legacy pickle `.pth` (torch < 1.6).
    TorchLegacy,
    /// A `.safetensors` file.
    Safetensors,
}

/// Tensors read from a checkpoint file, by state-dict key.
#[derive(Debug)]
pub struct Checkpoint {
    /// File the checkpoint was read from.
    pub path: PathBuf,
    /// Format detected from the file's first bytes.
    pub format: Format,
    /// Hex sha256 of the file bytes.
    pub sha256: String,
    tensors: HashMap<String, Tensor>,
}

/// Buffers torch stores that no forward pass reads.
fn is_ignored_buffer(key: &str) -> bool {
    key.ends_with("num_batches_tracked")
}

impl Checkpoint {
    /// Reads a checkpoint file, whatever its format, and hashes it.
    pub fn load(path: &Path) -> Result<Self> {
        Self::read(path).with_path(path)
    }

    fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)?;
        let sha256 = sha256_hex(&bytes);
        let format = detect(&bytes).ok_or_else(|| {
            Error::Checkpoint("not a torch .pth (zip or legacy pickle) or .safetensors file".into())
        })?;
        let read_err = |e: candle_core::Error| Error::Checkpoint(e.to_string());
        let entries: Vec<(String, Tensor)> = match format {
            Format::TorchLegacy => torch_legacy::read(&bytes)?,
            Format::TorchZip => candle_core::pickle::read_all(path).map_err(read_err)?,
            Format::Safetensors => candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
                .map_err(read_err)?
                .into_iter()
                .collect(),
        };
        let mut tensors = HashMap::with_capacity(entries.len());
        for (key, tensor) in entries {
            // Checkpoints saved from DataParallel prefix every key with `module.`.
            let key = key
                .strip_prefix("module.")
                .map(str::to_string)
                .unwrap_or(key);
            tensors.insert(key, tensor);
        }
        log::info!(
            "{}: {} tensors ({format:?}), sha256 {sha256}",
            path.display(),
            tensors.len()
        );
        Ok(Self {
            path: path.to_path_buf(),
            format,
            sha256,
            tensors,
        })
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The tensor stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Tensor> {
        self.tensors.get(key)
    }

    /// Checks every key and shape against the full (uncut) architecture.
    pub fn validate(&self, arch: Arch) -> Result<()> {
        self.check_keys(arch).with_path(&self.path)
    }

    fn check_keys(&self, arch: Arch) -> Result<()> {
        let spec = ParamSpec::of(arch)?;
        let mut keys: Vec<&String> = self.tensors.keys().collect();
        keys.sort();
        for key in keys {
            if is_ignored_buffer(key) {
                continue;
            }
            let found = self.tensors[key].dims().to_vec();
            match spec.shape(key) {
                None => {
                    return Err(Error::UnexpectedKey {
                        key: key.clone(),
                        found,
                    })
                }
                Some(expected) if expected != found.as_slice() => {
                    return Err(Error::ShapeMismatch {
                        key: key.clone(),
                        expected: expected.to_vec(),
                        found,
                    })
                }
                Some(_) => {}
            }
        }
        for (key, expected) in spec.entries() {
            if !self.tensors.contains_key(key) {
                return Err(Error::MissingKey {
                    key: key.clone(),
                    expected: expected.to_vec(),
                });
            }
        }
        Ok(())
    }

    /// Validates against `arch`, then builds the trunk up to `cut` (f32, CPU).
    pub fn build_trunk(self, arch: Arch, cut: Cut) -> Result<Trunk> {
        self.validate(arch)?;
        let path = self.path.clone();
        let tensors = self
            .tensors
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_dtype(DType::F32)?)))
            .collect::<candle_core::Result<HashMap<_, _>>>()
            .map_err(|e| Error::Checkpoint(e.to_string()).with_path(path))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        Trunk::new(vb, arch, cut)
    }
}

fn detect(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"PK\x03\x04") {
        Some(Format::TorchZip)
    } else if torch_legacy::is_legacy(bytes) {
        Some(Format::TorchLegacy)
    } else if bytes.len() > 9 && bytes[8] == b'{' {
        Some(Format::Safetensors)
    } else {
        None
    }
}

/// A trunk with seeded random weights (tests, benchmarks, and machines without weights).
pub fn random_trunk(arch: Arch, cut: Cut, seed: u64) -> Result<Trunk> {
    let vb = VarBuilder::from_backend(Box::new(RandomInit::new(seed)), DType::F32, Device::Cpu);
    Trunk::new(vb, arch, cut)
}
