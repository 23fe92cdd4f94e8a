//! Bundles: the deployable artifact the builder writes and the device loads.
//!
//! A bundle is a directory of ONNX graphs plus `manifest.postcard` (layout and graph contract
//! in [`manifest`]). This module owns its on-disk form: encoding the manifest
//! ([`encode_manifest`], [`decode_manifest`], the optional signature block), opening a bundle
//! with its signature checked against a [`TrustPolicy`] and every file's size and sha256
//! verified ([`Bundle::open_with`]), and writing one atomically ([`BundleWriter`]), where the
//! manifest (and its signature) is written last and is the commit point.
//!
//! ```no_run
//! # fn main() -> adapts_runtime::Result<()> {
//! use std::path::Path;
//! use adapts_runtime::bundle::Bundle;
//!
//! let bundle = Bundle::open(Path::new("bundle"))?; // fails on any corrupted file
//! for product in &bundle.manifest().products {
//!     println!("{}: threshold {}", product.name, product.threshold);
//! }
//! println!("trunk graph at {}", bundle.trunk_graph().display());
//! # Ok(())
//! # }
//! ```

mod codec;
pub mod manifest;
mod precision;
mod v1;
mod v2;
mod validate;
mod writer;

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use self::codec::{
    append_signature, decode_manifest, encode_manifest, read_manifest, read_manifest_bytes,
    split_manifest, ManifestParts, SignatureBlock, SIGNATURE_DOMAIN, SIGNATURE_LEN, SIGNATURE_TAG,
};
pub use self::manifest::{
    FileEntry, LaterStage, LocalScoring, Manifest, Precision, Product, RoutingModel, ScoreStats,
    Scoring, StageInfo, TrunkInfo, FORMAT_VERSION, MAGIC, MANIFEST_FILE,
};
pub use self::precision::{int8_twin, tensorrt_cache, GraphPrecision};
pub use self::writer::{sign_bundle, BundleWriter};

use crate::error::{Error, Result};
use crate::trust::{SignatureCheck, TrustPolicy};

/// A bundle whose manifest is consistent (and signed, when that was asked for) and whose files
/// all match their checksums.
#[derive(Debug, Clone)]
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
    signature: SignatureCheck,
}

impl Bundle {
    /// Whether `dir` holds a bundle manifest (it is not opened or verified).
    pub fn is_bundle(dir: &Path) -> bool {
        dir.join(MANIFEST_FILE).is_file()
    }

    /// Opens the bundle in `dir`: decodes the manifest, checks its consistency (every graph
    /// listed in `files`, unique product names, prototype lengths, adapter counts) and verifies
    /// the size and sha256 of every listed file. A corrupted or missing file is an error that
    /// names it.
    ///
    /// Signatures are not checked; see [`open_with`](Self::open_with).
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, &TrustPolicy::default())
    }

    /// Opens the bundle in `dir` as [`open`](Self::open) does, after checking the manifest's
    /// signature against `trust` first (on the bytes read, before they are decoded): with
    /// trust keys, an unsigned manifest, an untrusted key and a bad signature are refused.
    pub fn open_with(dir: &Path, trust: &TrustPolicy) -> Result<Self> {
        Self::open_admitted(dir, trust, |_| Ok(()))
    }

    /// [`open_with`](Self::open_with), with one more rule, `admit`, applied to the decoded
    /// manifest after its signature was checked and before any file is read (the station's
    /// downgrade rule).
    pub fn open_admitted(
        dir: &Path,
        trust: &TrustPolicy,
        admit: impl FnOnce(&Manifest) -> Result<()>,
    ) -> Result<Self> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let bytes = read_manifest_bytes(&manifest_path)?;
        let parts = split_manifest(&bytes, &manifest_path)?;
        let signature = trust.check(&parts, dir)?;
        let manifest = parts.decode(&manifest_path)?;
        admit(&manifest)?;
        manifest.validate(dir)?;
        for entry in &manifest.files {
            verify_file(dir, entry)?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            signature,
        })
    }

    /// What is known about the manifest's signature.
    pub fn signature(&self) -> SignatureCheck {
        self.signature
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Gives up the directory and keeps the manifest.
    pub fn into_manifest(self) -> Manifest {
        self.manifest
    }

    /// Absolute-or-relative path (as `dir` was given) of a bundle-relative `/`-separated path.
    pub fn file_path(&self, rel: &str) -> PathBuf {
        join_rel(&self.dir, rel)
    }

    /// The trunk graph.
    pub fn trunk_graph(&self) -> PathBuf {
        self.file_path(&self.manifest.trunk_graph)
    }

    /// The head graph.
    pub fn head_graph(&self) -> PathBuf {
        self.file_path(&self.manifest.head_graph)
    }

    /// The later stage graphs, in order.
    pub fn stage_graphs(&self) -> Vec<PathBuf> {
        self.manifest
            .later_stages
            .iter()
            .map(|s| self.file_path(&s.graph))
            .collect()
    }

    /// The adapter graphs of product `index` (one per adapted stage, in stage order), or `None`
    /// when there is no such product.
    pub fn adapter_graphs(&self, index: usize) -> Option<Vec<PathBuf>> {
        self.manifest
            .products
            .get(index)
            .map(|t| t.adapters.iter().map(|a| self.file_path(a)).collect())
    }

    /// Bytes on disk: every listed file plus the manifest.
    pub fn total_bytes(&self) -> u64 {
        let manifest = std::fs::metadata(self.dir.join(MANIFEST_FILE))
            .map(|m| m.len())
            .unwrap_or(0);
        self.manifest.files_bytes() + manifest
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hex sha256 and size of a file, read in chunks (trunk graphs can be large).
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

/// Checks one listed file's presence, size and checksum.
fn verify_file(dir: &Path, entry: &FileEntry) -> Result<()> {
    let path = join_rel(dir, &entry.path);
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::FileMissing { path })
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.len() != entry.bytes {
        return Err(Error::FileSize {
            path,
            expected: entry.bytes,
            found: meta.len(),
        });
    }
    let (found, _) = sha256_file(&path)?;
    if found != entry.sha256 {
        return Err(Error::Checksum {
            path,
            expected: entry.sha256.clone(),
            found,
        });
    }
    Ok(())
}

/// Joins a `/`-separated bundle-relative path onto `dir` component by component.
fn join_rel(dir: &Path, rel: &str) -> PathBuf {
    let mut path = dir.to_path_buf();
    path.extend(rel.split('/'));
    path
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
pub(crate) mod tests;
