//! Size limits on input from outside: every file or line the runtime decodes is refused
//! before decoding when it is over its limit here (the README's "Security" section lists them),
//! so a hostile or broken input cannot make the station allocate without bound.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Largest bundle manifest: prototypes and routing bases of a few hundred products fit.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;
/// Largest image file (PNG or JPEG) read from a folder.
pub const MAX_IMAGE_FILE_BYTES: u64 = 64 << 20;
/// Largest decoded image side, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest decoded image allocation, in bytes (a 8192 x 8192 RGBA image).
pub const MAX_IMAGE_ALLOC_BYTES: u64 = 256 << 20;
/// Largest `station.toml` (and board profile file).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Longest line of the stdin protocol, newline included.
pub const MAX_LINE_BYTES: usize = 4096;
/// Largest key file (a PEM key is a few hundred bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 16 << 10;

/// The decoder limits for every image the runtime decodes: sides up to [`MAX_IMAGE_SIDE`],
/// allocations up to [`MAX_IMAGE_ALLOC_BYTES`], checked from the header before pixels are
/// decoded.
pub fn image_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC_BYTES);
    limits
}

/// Reads a whole file of at most `limit` bytes; a larger one is [`Error::TooLarge`] (checked on
/// the bytes read, so a file that grows while it is read is caught too).
pub fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let known = file.metadata().map(|m| m.len()).unwrap_or(0);
    let too_large = |found: u64| Error::TooLarge {
        path: path.to_path_buf(),
        what,
        found,
        limit,
    };
    if known > limit {
        return Err(too_large(known));
    }
    let mut bytes = Vec::with_capacity(known as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read_limited`] for a UTF-8 text file.
pub fn read_limited_text(path: &Path, limit: u64, what: &'static str) -> Result<String> {
    let bytes = read_limited(path, limit, what)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_at_the_limit_is_read_and_one_byte_more_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        std::fs::write(&path, [7u8; 10]).unwrap();
        assert_eq!(read_limited(&path, 10, "a test").unwrap(), [7u8; 10]);
        let err = read_limited(&path, 9, "a test").unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    found: 10,
                    limit: 9,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("/m`") && text.contains("a test"), "{text}");
    }

    #[test]
    fn text_that_is_not_utf8_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_limited_text(&path, 10, "text").is_err());
    }
}
