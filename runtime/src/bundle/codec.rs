//! The on-disk form of `manifest.postcard`.
//!
//! Version 3 (written): [`MAGIC`] (8 bytes), the format version (little-endian `u32`), the
//! body length (little-endian `u32`), the postcard encoding of the manifest, then optionally
//! one signature block ([`SIGNATURE_LEN`] bytes: [`SIGNATURE_TAG`], the signer's ed25519
//! public key, the signature). The signature covers everything before it, header included, so
//! one atomic write commits a manifest and its signature together. Nothing else may follow.
//!
//! Versions 1 and 2 (read): magic, version, then the body of that version, and nothing after
//! it.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::manifest::{Manifest, FORMAT_VERSION, MAGIC};
use super::v1::ManifestV1;
use super::v2::ManifestV2;
use crate::error::{Error, Result};
use crate::limits::{read_limited, MAX_MANIFEST_BYTES};

/// Length of the version 1 and 2 header: magic plus version.
const HEADER_LEN: usize = MAGIC.len() + 4;
/// Length of the version 3 header: magic, version, body length.
const HEADER_V3_LEN: usize = HEADER_LEN + 4;

/// Bytes that open a signature block.
pub const SIGNATURE_TAG: &[u8; 8] = b"ADAPTSIG";
/// Length of a signature block: tag, 32-byte public key, 64-byte signature.
pub const SIGNATURE_LEN: usize = SIGNATURE_TAG.len() + 32 + 64;
/// What a manifest signature signs: this prefix, then the signed bytes (domain separation, so
/// a signature over a manifest can not be taken for one over anything else).
pub const SIGNATURE_DOMAIN: &[u8] = b"AdapTS bundle manifest signature v1\0";

/// A manifest's signature block, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureBlock {
    /// The signer's ed25519 public key.
    pub key: [u8; 32],
    /// The ed25519 signature over [`SIGNATURE_DOMAIN`] followed by the signed bytes.
    pub signature: [u8; 64],
}

/// A manifest file taken apart, not yet decoded.
#[derive(Debug, Clone, Copy)]
pub struct ManifestParts<'a> {
    /// The format version.
    pub version: u32,
    /// Header and body: what a signature covers.
    pub signed: &'a [u8],
    /// The postcard body.
    body: &'a [u8],
    /// The signature block, if there is one (version 3 only).
    pub signature: Option<SignatureBlock>,
}

impl ManifestParts<'_> {
    /// The message an ed25519 signature of this manifest signs.
    pub fn message(&self) -> Vec<u8> {
        [SIGNATURE_DOMAIN, self.signed].concat()
    }

    /// Decodes the body; `path` only names the file in errors.
    pub fn decode(&self, path: &Path) -> Result<Manifest> {
        match self.version {
            FORMAT_VERSION => decode_body::<Manifest>(self.body, path),
            2 => decode_body::<ManifestV2>(self.body, path).map(Manifest::from),
            _ => decode_body::<ManifestV1>(self.body, path).map(Manifest::from),
        }
    }
}

/// Encodes a manifest with its header, unsigned, ready to be written as `manifest.postcard`
/// (or signed first, see [`append_signature`]).
pub fn encode_manifest(manifest: &Manifest) -> Result<Vec<u8>> {
    let body = postcard::to_stdvec(manifest).map_err(|e| Error::ManifestEncode {
        reason: e.to_string(),
    })?;
    let body_len = u32::try_from(body.len())
        .ok()
        .filter(|&n| u64::from(n) + (HEADER_V3_LEN + SIGNATURE_LEN) as u64 <= MAX_MANIFEST_BYTES)
        .ok_or_else(|| Error::ManifestEncode {
            reason: format!(
                "the manifest body is {} bytes, over the {MAX_MANIFEST_BYTES}-byte limit",
                body.len()
            ),
        })?;
    let mut bytes = Vec::with_capacity(HEADER_V3_LEN + body.len() + SIGNATURE_LEN);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&body_len.to_le_bytes());
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Appends a signature block to an unsigned version 3 encoding (from [`encode_manifest`]).
/// `sign` receives the message to sign and returns the signature.
pub fn append_signature(
    mut unsigned: Vec<u8>,
    key: [u8; 32],
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Vec<u8> {
    let signature = sign(&[SIGNATURE_DOMAIN, &unsigned].concat());
    unsigned.extend_from_slice(SIGNATURE_TAG);
    unsigned.extend_from_slice(&key);
    unsigned.extend_from_slice(&signature);
    unsigned
}

/// Takes the bytes of a manifest file apart: header, body and signature block.
///
/// Fails with [`Error::ManifestMagic`] when the bytes are not a bundle manifest,
/// [`Error::ManifestVersion`] when they were written in another format version, and
/// [`Error::ManifestDecode`] when they end early or something other than one signature block
/// follows the body.
pub fn split_manifest<'a>(bytes: &'a [u8], path: &Path) -> Result<ManifestParts<'a>> {
    let decode_error = |reason: String| Error::ManifestDecode {
        path: path.to_path_buf(),
        reason,
    };
    let Some((magic, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(Error::ManifestMagic {
            path: path.to_path_buf(),
        });
    };
    if magic != MAGIC {
        return Err(Error::ManifestMagic {
            path: path.to_path_buf(),
        });
    }
    let Some((version, rest)) = rest.split_first_chunk::<4>() else {
        return Err(decode_error("the file ends inside the header".into()));
    };
    let version = u32::from_le_bytes(*version);
    match version {
        1 | 2 => {
            return Ok(ManifestParts {
                version,
                signed: bytes,
                body: rest,
                signature: None,
            })
        }
        FORMAT_VERSION => {}
        found => {
            return Err(Error::ManifestVersion {
                path: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            })
        }
    }
    let Some((body_len, rest)) = rest.split_first_chunk::<4>() else {
        return Err(decode_error("the file ends inside the header".into()));
    };
    let body_len = u32::from_le_bytes(*body_len) as usize;
    if rest.len() < body_len {
        return Err(decode_error(format!(
            "the file ends inside the body ({} of {body_len} bytes)",
            rest.len()
        )));
    }
    let (body, tail) = rest.split_at(body_len);
    let signed = &bytes[..HEADER_V3_LEN + body_len];
    let signature = match tail.len() {
        0 => None,
        SIGNATURE_LEN if tail.starts_with(SIGNATURE_TAG) => {
            let (key, signature) = tail[SIGNATURE_TAG.len()..].split_at(32);
            Some(SignatureBlock {
                key: key.try_into().expect("32 bytes"),
                signature: signature.try_into().expect("64 bytes"),
            })
        }
        n => {
            return Err(decode_error(format!(
                "{n} unexpected bytes after the manifest (a signature block is {SIGNATURE_LEN} \
                 bytes, opening with `ADAPTSIG`)"
            )))
        }
    };
    Ok(ManifestParts {
        version,
        signed,
        body,
        signature,
    })
}

/// Decodes the bytes of a manifest file; `path` only names the file in errors. A signature
/// block is skipped, not checked (see [`crate::trust`]).
///
/// Fails as [`split_manifest`] does, and with [`Error::ManifestDecode`] when the body is
/// truncated, malformed or followed by extra bytes.
pub fn decode_manifest(bytes: &[u8], path: &Path) -> Result<Manifest> {
    split_manifest(bytes, path)?.decode(path)
}

/// Decodes a manifest body of one version; nothing may follow it.
fn decode_body<M: DeserializeOwned>(body: &[u8], path: &Path) -> Result<M> {
    let (manifest, trailing) =
        postcard::take_from_bytes::<M>(body).map_err(|e| Error::ManifestDecode {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if !trailing.is_empty() {
        return Err(Error::ManifestDecode {
            path: path.to_path_buf(),
            reason: format!("{} unexpected bytes after the manifest", trailing.len()),
        });
    }
    Ok(manifest)
}

/// Reads a manifest file, refusing one over [`MAX_MANIFEST_BYTES`] before decoding it.
pub fn read_manifest_bytes(path: &Path) -> Result<Vec<u8>> {
    read_limited(path, MAX_MANIFEST_BYTES, "a bundle manifest")
}

/// Reads and decodes a manifest file (no checksum or signature verification: see
/// [`super::Bundle::open`]).
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    decode_manifest(&read_manifest_bytes(path)?, path)
}
