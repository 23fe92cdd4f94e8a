//! ed25519 key files: a signing key as PKCS#8 PEM (`BEGIN PRIVATE KEY`, mode 0600), its public
//! key as SPKI PEM (`BEGIN PUBLIC KEY`). Both are the standard forms, so `openssl pkey` reads
//! them, and a key id is the first 8 bytes of the sha256 of the raw public key, in hex.

use std::fmt;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::perms;
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::limits::{read_limited_text, MAX_KEY_FILE_BYTES};

/// Short, stable name of a public key: `ed25519:` and 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id of a raw 32-byte ed25519 public key.
    pub fn of(public: &[u8; 32]) -> Self {
        let digest = Sha256::digest(public);
        Self(digest[..8].try_into().expect("8 bytes"))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ed25519:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A key that signs bundles (kept on the build host, never on a station).
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl SecretKey {
    /// The key whose 32-byte seed is `seed` (take it from the operating system's random
    /// source).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// Reads a PKCS#8 PEM signing key. A key file that others can read or write is refused:
    /// whoever reads it can sign bundles.
    pub fn read(path: &Path) -> Result<Self> {
        perms::refuse_shared_secret(path)?;
        let text = read_limited_text(path, MAX_KEY_FILE_BYTES, "a key file")?;
        SigningKey::from_pkcs8_pem(&text).map(Self).map_err(|e| {
            key_error(
                path,
                format!("not an ed25519 private key in PKCS#8 PEM: {e}"),
            )
        })
    }

    /// Writes the key to a new file `path` (mode 0600; an existing file is never replaced)
    /// and its public key to `path` + `.pub`.
    pub fn write_new(&self, path: &Path) -> Result<()> {
        let public_path = public_path_of(path);
        for p in [path, public_path.as_path()] {
            if p.exists() {
                return Err(key_error(p, "exists; refusing to replace a key".into()));
            }
        }
        // PKCS#8 version 1 (no public key inside): the form OpenSSL 3.0 reads.
        let pem = KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| key_error(path, format!("cannot encode: {e}")))?;
        write_new_private(path, pem.as_bytes())?;
        crate::fsutil::write_atomic_readable(&public_path, self.public().to_pem()?.as_bytes())
    }
}

/// `KEY.pub` beside `KEY`.
pub fn public_path_of(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

/// A public key that bundles are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key from its 32 raw bytes; `None` when they are not a valid ed25519 point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(bytes).ok().map(Self)
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Its id.
    pub fn id(&self) -> KeyId {
        KeyId::of(&self.to_bytes())
    }

    /// Whether `signature` is this key's signature of `message` (strict: no weak keys, no
    /// malleable signatures).
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }

    /// The SPKI PEM text.
    pub fn to_pem(&self) -> Result<String> {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::ManifestEncode {
                reason: format!("cannot encode a public key: {e}"),
            })
    }

    /// Reads an SPKI PEM public key (`BEGIN PUBLIC KEY`). A key file that others can write,
    /// or in a folder others can write, is refused: it is the root of trust.
    pub fn read(path: &Path) -> Result<Self> {
        perms::refuse_writable_by_others(path, "a trust key")?;
        let text = read_limited_text(path, MAX_KEY_FILE_BYTES, "a key file")?;
        VerifyingKey::from_public_key_pem(&text)
            .map(Self)
            .map_err(|e| {
                let hint = if text.contains("PRIVATE KEY") {
                    " (this is a private key: give its `.pub` file; the private key stays on \
                     the build host)"
                } else {
                    ""
                };
                key_error(
                    path,
                    format!("not an ed25519 public key in SPKI PEM: {e}{hint}"),
                )
            })
    }
}

fn key_error(path: &Path, reason: String) -> Error {
    Error::Key {
        path: path.to_path_buf(),
        reason,
    }
}

/// Creates `path` with mode 0600 (the temp file's mode; it must not exist), written whole and
/// fsynced before it is linked into place without replacing anything.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.commit_new()
}
