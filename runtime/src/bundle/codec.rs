//! The on-disk form of `manifest.postcard`: [`MAGIC`] (8 bytes), the format version
//! (little-endian `u32`), then the postcard encoding of the manifest of that version. Nothing
//! may follow. [`FORMAT_VERSION`] is written; it and version 1 are read.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::manifest::{Manifest, FORMAT_VERSION, MAGIC};
use super::v1::ManifestV1;
use crate::error::{Error, Result};

/// Length of the header: magic plus version.
const HEADER_LEN: usize = MAGIC.len() + 4;

/// Encodes a manifest with its header, ready to be written as `manifest.postcard`.
pub fn encode_manifest(manifest: &Manifest) -> Result<Vec<u8>> {
    let body = postcard::to_stdvec(manifest).map_err(|e| Error::ManifestEncode {
        reason: e.to_string(),
    })?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Decodes the bytes of a manifest file; `path` only names the file in errors.
///
/// Fails with [`Error::ManifestMagic`] when the bytes are not a bundle manifest,
/// [`Error::ManifestVersion`] when they were written in another format version, and
/// [`Error::ManifestDecode`] when the body is truncated, malformed or followed by extra bytes.
pub fn decode_manifest(bytes: &[u8], path: &Path) -> Result<Manifest> {
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
    let Some((version, body)) = rest.split_first_chunk::<4>() else {
        return Err(Error::ManifestDecode {
            path: path.to_path_buf(),
            reason: "the file ends inside the header".into(),
        });
    };
    match u32::from_le_bytes(*version) {
        FORMAT_VERSION => decode_body::<Manifest>(body, path),
        1 => decode_body::<ManifestV1>(body, path).map(Manifest::from),
        found => Err(Error::ManifestVersion {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        }),
    }
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

/// Reads and decodes a manifest file (no checksum verification: see [`super::Bundle::open`]).
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_manifest(&bytes, path)
}
