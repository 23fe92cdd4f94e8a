//! Which bundles a station accepts: signed-manifest verification against trusted ed25519 keys,
//! the downgrade rule on sequence numbers, key files ([`keys`]) and the permission rules for
//! the files that decide what ships ([`perms`]).
//!
//! A bundle's manifest lists every file's size and sha256 and may end with a signature block
//! (`bundle::codec`). With no trust key, the runtime checks only the checksums (catching
//! corruption, not forgery) and says so in its log. With trust keys ([`TrustPolicy`]), a
//! manifest must carry a signature by one of them that verifies over the manifest bytes, and
//! then every file is checked against the signed checksums.
//!
//! ```no_run
//! # fn main() -> adapts_runtime::Result<()> {
//! use std::path::{Path, PathBuf};
//! use adapts_runtime::bundle::Bundle;
//! use adapts_runtime::trust::TrustPolicy;
//!
//! let trust = TrustPolicy::from_key_files(&[PathBuf::from("/etc/adapts/line3.pub")])?;
//! let bundle = Bundle::open_with(Path::new("bundle"), &trust)?; // unsigned, forged: refused
//! println!("{}", bundle.signature());
//! # Ok(())
//! # }
//! ```

pub mod keys;
pub mod perms;

use std::fmt;
use std::path::{Path, PathBuf};

pub use self::keys::{public_path_of, KeyId, PublicKey, SecretKey};
use crate::bundle::ManifestParts;
use crate::error::{Error, Result};

/// What was learned about a bundle's signature when it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// No signature, and none was required.
    Unsigned,
    /// Signed, but not checked (no trust key set).
    NotChecked(KeyId),
    /// Signed by this trusted key, and the signature verified.
    Verified(KeyId),
}

impl SignatureCheck {
    /// The key that signed the manifest (checked or not).
    pub fn key(&self) -> Option<KeyId> {
        match self {
            SignatureCheck::Unsigned => None,
            SignatureCheck::NotChecked(k) | SignatureCheck::Verified(k) => Some(*k),
        }
    }
}

impl fmt::Display for SignatureCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureCheck::Unsigned => f.write_str("unsigned"),
            SignatureCheck::NotChecked(k) => write!(f, "signed by {k} (not checked)"),
            SignatureCheck::Verified(k) => write!(f, "signed by {k} (verified)"),
        }
    }
}

/// The keys a runtime trusts; with none, signatures are not checked.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    keys: Vec<PublicKey>,
}

impl TrustPolicy {
    /// Trusts `keys` (more than one during a key rotation).
    pub fn with_keys(keys: Vec<PublicKey>) -> Self {
        Self { keys }
    }

    /// Reads each trust key file ([`PublicKey::read`]: SPKI PEM, not writable by others).
    pub fn from_key_files(paths: &[PathBuf]) -> Result<Self> {
        paths
            .iter()
            .map(|p| PublicKey::read(p))
            .collect::<Result<Vec<_>>>()
            .map(Self::with_keys)
    }

    /// Whether signatures are checked (at least one trust key).
    pub fn checks_signatures(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The trusted keys' ids, comma-separated (`none` without keys).
    pub fn key_ids(&self) -> String {
        if self.keys.is_empty() {
            return "none".into();
        }
        let ids: Vec<String> = self.keys.iter().map(|k| k.id().to_string()).collect();
        ids.join(", ")
    }

    /// Checks the signature of the manifest `parts` of the bundle at `bundle` (which only
    /// names it in errors). Without trust keys anything passes and the result says what the
    /// manifest carries; with them, an unsigned manifest, a key not trusted here and a
    /// signature that does not verify are each their own error.
    pub fn check(&self, parts: &ManifestParts<'_>, bundle: &Path) -> Result<SignatureCheck> {
        let Some(block) = parts.signature else {
            if self.checks_signatures() {
                return Err(Error::Unsigned {
                    path: bundle.to_path_buf(),
                    trusted: self.key_ids(),
                });
            }
            return Ok(SignatureCheck::Unsigned);
        };
        let id = KeyId::of(&block.key);
        if !self.checks_signatures() {
            return Ok(SignatureCheck::NotChecked(id));
        }
        let Some(key) = self.keys.iter().find(|k| k.to_bytes() == block.key) else {
            return Err(Error::UntrustedKey {
                path: bundle.to_path_buf(),
                key: id.to_string(),
                trusted: self.key_ids(),
            });
        };
        if !key.verifies(&parts.message(), &block.signature) {
            return Err(Error::BadSignature {
                path: bundle.to_path_buf(),
                key: id.to_string(),
            });
        }
        Ok(SignatureCheck::Verified(id))
    }
}

/// The downgrade rule: a bundle whose sequence number is lower than the running bundle's is
/// refused unless `allow_downgrade`. Equal numbers pass (the same bundle, reloaded).
pub fn check_sequence(
    bundle: &Path,
    found: u64,
    running: u64,
    allow_downgrade: bool,
) -> Result<()> {
    if found < running && !allow_downgrade {
        return Err(Error::Downgrade {
            path: bundle.to_path_buf(),
            found,
            running,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
