//! Writing a bundle: files first, each atomically, then the manifest, which is the commit
//! point. A crash before the manifest is written leaves the previous bundle (if any) valid;
//! appending never touches a file of the existing bundle, so earlier products stay
//! byte-identical. Files are mode 0644, so a station user can read a bundle another user
//! wrote (the folders decide who reaches it). Every write raises the manifest's sequence number; a signing key given to
//! the writer signs the manifest in the same atomic write ([`sign_bundle`] signs an existing
//! bundle).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::codec::{append_signature, encode_manifest, read_manifest_bytes, split_manifest};
use super::manifest::{FileEntry, Manifest, MANIFEST_FILE};
use super::validate::check_rel_path;
use super::{join_rel, sha256_hex, Bundle};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic_readable as write_atomic;
use crate::trust::{KeyId, SecretKey};

/// Writes a new bundle or appends products to an existing one.
///
/// ```no_run
/// # fn main() -> adapts_runtime::Result<()> {
/// # fn build_manifest() -> adapts_runtime::bundle::Manifest { unimplemented!() }
/// use std::path::Path;
/// use adapts_runtime::bundle::BundleWriter;
///
/// let mut writer = BundleWriter::create(Path::new("bundle"))?;
/// writer.add_file("trunk.onnx", b"...")?;
/// // ... head, stages, every product's adapters ...
/// let manifest = writer.finish(build_manifest())?; // `files` is filled in here
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BundleWriter {
    dir: PathBuf,
    /// Append mode: the verified manifest of the bundle being extended.
    base: Option<Manifest>,
    /// Create mode over an existing bundle: its manifest, whose files the new bundle no longer
    /// lists are removed once the new manifest is committed.
    replaced: Option<Manifest>,
    added: Vec<FileEntry>,
    /// Sequence number of the bundle this write replaces or extends (0 when there is none).
    previous_sequence: u64,
    /// The key that signed the bundle this write replaces or extends.
    previous_signer: Option<KeyId>,
    /// Signs the new manifest.
    key: Option<SecretKey>,
    /// Amend mode (over `base`): products may get new thresholds and score statistics.
    amend: bool,
}

impl BundleWriter {
    /// Starts a new bundle in `dir`, which may be missing, empty, or an existing bundle (which
    /// is replaced when [`finish`](Self::finish) commits). A non-empty directory without a
    /// bundle manifest is refused, so a typo in `--out` cannot clobber unrelated files.
    pub fn create(dir: &Path) -> Result<Self> {
        let mut replaced = None;
        let mut previous_signer = None;
        match std::fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => {
                return Err(Error::BundleWrite {
                    path: dir.to_path_buf(),
                    reason: "exists and is not a directory".into(),
                })
            }
            Ok(_) => {
                let manifest_path = dir.join(MANIFEST_FILE);
                if manifest_path.exists() {
                    // An unreadable old manifest is still replaced; only the clean-up of its
                    // files is skipped.
                    if let Ok(bytes) = read_manifest_bytes(&manifest_path) {
                        if let Ok(parts) = split_manifest(&bytes, &manifest_path) {
                            previous_signer = parts.signature.map(|b| KeyId::of(&b.key));
                            replaced = parts.decode(&manifest_path).ok();
                        }
                    }
                } else {
                    let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
                    if entries.next().is_some() {
                        return Err(Error::BundleWrite {
                            path: dir.to_path_buf(),
                            reason: format!(
                                "the directory is not empty and holds no {MANIFEST_FILE}; \
                                 refusing to write a bundle over unrelated files"
                            ),
                        });
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            Err(e) => return Err(Error::io(dir, e)),
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            base: None,
            previous_sequence: replaced.as_ref().map_or(0, |m| m.sequence),
            replaced,
            added: Vec::new(),
            previous_signer,
            key: None,
            amend: false,
        })
    }

    /// Opens the existing bundle in `dir` for adding products; it is fully verified first
    /// ([`Bundle::open`]). Its files can not be overwritten.
    pub fn append(dir: &Path) -> Result<Self> {
        let bundle = Bundle::open(dir)?;
        let previous_signer = bundle.signature().key();
        let manifest = bundle.into_manifest();
        Ok(Self {
            dir: dir.to_path_buf(),
            previous_sequence: manifest.sequence,
            base: Some(manifest),
            replaced: None,
            added: Vec::new(),
            previous_signer,
            key: None,
            amend: false,
        })
    }

    /// Opens the existing bundle in `dir` for adding files to its products and shared part
    /// (calibrated INT8 graphs): like [`append`](Self::append), except that the new manifest
    /// lists the same products, each unchanged but for its threshold, normal-score
    /// statistics and routing model (all measured on what the device runs).
    pub fn amend(dir: &Path) -> Result<Self> {
        let mut writer = Self::append(dir)?;
        writer.amend = true;
        Ok(writer)
    }

    /// Signs the manifest [`finish`](Self::finish) writes with `key`.
    pub fn sign_with(&mut self, key: SecretKey) {
        self.key = Some(key);
    }

    /// The key that signed the bundle being replaced or extended, if it was signed.
    pub fn previous_signer(&self) -> Option<KeyId> {
        self.previous_signer
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// In append mode, the manifest of the bundle being extended (start the new manifest from
    /// a clone of it and push the new products).
    pub fn base(&self) -> Option<&Manifest> {
        self.base.as_ref()
    }

    /// Files written so far by this writer.
    pub fn added(&self) -> &[FileEntry] {
        &self.added
    }

    /// Writes one file atomically at the bundle-relative, `/`-separated `rel_path` and returns
    /// its entry. Refused: an unsafe path, a path already added, and in append mode any file
    /// of the existing bundle.
    pub fn add_file(&mut self, rel_path: &str, bytes: &[u8]) -> Result<FileEntry> {
        let refuse = |reason: String| Error::BundleWrite {
            path: join_rel(&self.dir, rel_path),
            reason,
        };
        check_rel_path(rel_path).map_err(|why| refuse(format!("the path {why}")))?;
        if self
            .base
            .as_ref()
            .is_some_and(|m| m.files.iter().any(|f| f.path == rel_path))
        {
            return Err(refuse(
                "the file belongs to the existing bundle, and appending never overwrites \
                 an earlier file"
                    .into(),
            ));
        }
        if self.added.iter().any(|f| f.path == rel_path) {
            return Err(refuse("the file was already added".into()));
        }
        write_atomic(&join_rel(&self.dir, rel_path), bytes)?;
        let entry = FileEntry {
            path: rel_path.to_owned(),
            sha256: sha256_hex(bytes),
            bytes: bytes.len() as u64,
        };
        self.added.push(entry.clone());
        Ok(entry)
    }

    /// Commits the bundle: sets `manifest.files` (whatever it held is replaced) to the
    /// existing bundle's entries (append mode) followed by the files added here, checks the
    /// manifest, and writes it atomically. In append mode the shared part (trunk, stages,
    /// graphs, routing) and every earlier product must be unchanged, earlier products first and in
    /// order. The sequence number becomes the previous bundle's plus one (at least the one
    /// `manifest` holds). Signed when [`sign_with`](Self::sign_with) gave a key; a bundle that
    /// was signed and is now written without a key is logged as unsigned. Returns the manifest
    /// as written.
    pub fn finish(self, mut manifest: Manifest) -> Result<Manifest> {
        manifest.sequence = manifest.sequence.max(self.previous_sequence + 1);
        let mut files = self
            .base
            .as_ref()
            .map(|b| b.files.clone())
            .unwrap_or_default();
        files.extend(self.added.iter().cloned());
        manifest.files = files;
        if let Some(base) = &self.base {
            check_append(base, &manifest, &self.dir, self.amend)?;
        }
        manifest.validate(&self.dir)?;
        let bytes = encode_signed(&manifest, self.key.as_ref())?;
        write_atomic(&self.dir.join(MANIFEST_FILE), &bytes)?;
        if let (None, Some(id)) = (&self.key, self.previous_signer) {
            log::warn!(
                "bundle {}: the previous manifest was signed by {id}, and the signature is now \
                 missing (sequence {} is unsigned), so stations with a trust key will refuse \
                 it: sign it with `adapts-builder sign --bundle {} --key KEY`",
                self.dir.display(),
                manifest.sequence,
                self.dir.display()
            );
        }
        if let Some(old) = &self.replaced {
            self.remove_unlisted(old, &manifest);
        }
        Ok(manifest)
    }

    /// After a replacement commit: removes the old bundle's files the new one does not list.
    fn remove_unlisted(&self, old: &Manifest, new: &Manifest) {
        let kept: HashSet<&str> = new.files.iter().map(|f| f.path.as_str()).collect();
        for file in &old.files {
            if kept.contains(file.path.as_str()) || check_rel_path(&file.path).is_err() {
                continue;
            }
            let path = join_rel(&self.dir, &file.path);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log::warn!(
                    "cannot remove {} of the replaced bundle: {e}",
                    path.display()
                ),
            }
        }
    }
}

/// Signs the existing bundle in `dir` with `key` (after verifying every file), replacing any
/// earlier signature in one atomic write of the manifest. With `sequence`, the manifest's
/// sequence number is raised to it first (for a bundle built in a fresh folder that must
/// replace one with a higher number on the stations); a lower number than the bundle's own is
/// refused. Returns the manifest as written.
pub fn sign_bundle(dir: &Path, key: &SecretKey, sequence: Option<u64>) -> Result<Manifest> {
    let mut manifest = Bundle::open(dir)?.into_manifest();
    if let Some(sequence) = sequence {
        if sequence < manifest.sequence {
            return Err(Error::BundleWrite {
                path: dir.to_path_buf(),
                reason: format!(
                    "sequence {sequence} is lower than the bundle's own {}; a sequence number \
                     never goes down",
                    manifest.sequence
                ),
            });
        }
        manifest.sequence = sequence;
    }
    write_atomic(
        &dir.join(MANIFEST_FILE),
        &encode_signed(&manifest, Some(key))?,
    )?;
    Ok(manifest)
}

/// The manifest file's bytes, signed by `key` when there is one.
fn encode_signed(manifest: &Manifest, key: Option<&SecretKey>) -> Result<Vec<u8>> {
    let bytes = encode_manifest(manifest)?;
    Ok(match key {
        Some(key) => append_signature(bytes, key.public().to_bytes(), |m| key.sign(m)),
        None => bytes,
    })
}

/// Append rules: the shared part is unchanged and the earlier products come first, unchanged.
fn check_append(base: &Manifest, new: &Manifest, dir: &Path, amend: bool) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::BundleWrite {
            path: dir.to_path_buf(),
            reason: format!(
                "appending must not change the existing bundle's {what}; earlier products were \
                 trained against it"
            ),
        })
    };
    if new.trunk != base.trunk {
        return refuse("trunk");
    }
    if new.preset != base.preset || new.adapted != base.adapted {
        return refuse("preset or adapted stages");
    }
    if new.later_stages != base.later_stages {
        return refuse("later stages");
    }
    if new.trunk_graph != base.trunk_graph || new.head_graph != base.head_graph {
        return refuse("trunk or head graph");
    }
    if new.routing_stage != base.routing_stage || new.routing_dim != base.routing_dim {
        return refuse("routing stage");
    }
    if amend {
        // Everything but what calibration measures again must stay.
        let same_graphs = |a: &crate::bundle::manifest::Product,
                           b: &crate::bundle::manifest::Product| {
            let mut a = a.clone();
            a.threshold = b.threshold;
            a.normal_stats = b.normal_stats;
            a.prototype.clone_from(&b.prototype);
            a.routing.clone_from(&b.routing);
            a.routing_radius = b.routing_radius;
            a == *b
        };
        if new.products.len() != base.products.len()
            || !new
                .products
                .iter()
                .zip(&base.products)
                .all(|(a, b)| same_graphs(a, b))
        {
            return refuse(
                "products (amending may only set thresholds, score statistics and routing)",
            );
        }
        return Ok(());
    }
    if new.products.len() < base.products.len()
        || new.products[..base.products.len()] != base.products[..]
    {
        return refuse("earlier products (they must come first, unchanged)");
    }
    Ok(())
}
