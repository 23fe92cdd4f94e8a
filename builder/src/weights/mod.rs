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
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};

pub use backend::{ParamSpec, RandomInit};

use crate::models::{Arch, Cut, Trunk};
use crate::{Error, Result};

/// On-disk format of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    TorchZip,
    TorchLegacy,
    Safetensors,
}

/// Tensors read from a checkpoint file, by state-dict key.
#[derive(Debug)]
pub struct Checkpoint {
    pub path: PathBuf,
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
    pub fn load(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = std::fs::read(path).map_err(io)?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let format = detect(&bytes).ok_or_else(|| Error::Checkpoint {
            path: path.to_path_buf(),
            message: "not a torch .pth (zip or legacy pickle) or .safetensors file".into(),
        })?;
        let read_err = |e: candle_core::Error| Error::Checkpoint {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let entries: Vec<(String, Tensor)> = match format {
            Format::TorchLegacy => torch_legacy::read(path, &bytes)?,
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

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Tensor> {
        self.tensors.get(key)
    }

    /// Checks every key and shape against the full (uncut) architecture.
    pub fn validate(&self, arch: Arch) -> Result<()> {
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
                        path: self.path.clone(),
                        key: key.clone(),
                        found,
                    })
                }
                Some(expected) if expected != found.as_slice() => {
                    return Err(Error::ShapeMismatch {
                        path: self.path.clone(),
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
                    path: self.path.clone(),
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
            .map_err(|e| Error::Checkpoint {
                path,
                message: e.to_string(),
            })?;
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

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
