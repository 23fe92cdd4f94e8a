//! One value of an ONNX file's `metadata_props`, read from the file before ONNX Runtime sees
//! it: the multiply-accumulate count the builder records, which decides a session's threads
//! (so that a session is built once, with them).
//!
//! A `ModelProto` is a protobuf message; its `metadata_props` (field 14) are
//! `StringStringEntryProto { key = 1, value = 2 }`. The reader walks the top-level fields,
//! seeking past every other length-delimited field (the graph with its weights) instead of
//! reading it, and gives up on anything malformed: the caller then uses ONNX Runtime's
//! default threads.

use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

/// `ModelProto.metadata_props`.
const METADATA_PROPS: u64 = 14;
/// Larger metadata entries are not read.
const MAX_ENTRY_BYTES: u64 = 1 << 16;
/// Top-level fields walked at most.
const MAX_FIELDS: usize = 10_000;

/// The value of metadata key `key` in the ONNX file at `path`, if it has one and the file
/// parses that far.
pub(crate) fn metadata_value(path: &Path, key: &str) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    find(&mut BufReader::new(file), key)
}

fn find<R: BufRead + Seek>(r: &mut R, key: &str) -> Option<String> {
    for _ in 0..MAX_FIELDS {
        if r.fill_buf().ok()?.is_empty() {
            return None;
        }
        let tag = varint(r)?;
        let (field, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => {
                varint(r)?;
            }
            1 => r.seek_relative(8).ok()?,
            5 => r.seek_relative(4).ok()?,
            2 => {
                let len = varint(r)?;
                if field == METADATA_PROPS && len <= MAX_ENTRY_BYTES {
                    let mut entry = vec![0u8; len as usize];
                    r.read_exact(&mut entry).ok()?;
                    if let Some((k, v)) = entry_pair(&entry) {
                        if k == key {
                            return Some(v);
                        }
                    }
                } else {
                    r.seek_relative(i64::try_from(len).ok()?).ok()?;
                }
            }
            _ => return None,
        }
    }
    None
}

/// `(key, value)` of one `StringStringEntryProto`.
fn entry_pair(mut bytes: &[u8]) -> Option<(String, String)> {
    let (mut key, mut value) = (String::new(), String::new());
    while !bytes.is_empty() {
        let tag = varint(&mut bytes)?;
        if tag & 7 != 2 {
            return None;
        }
        let len = usize::try_from(varint(&mut bytes)?).ok()?;
        let text = bytes.get(..len)?;
        let text = std::str::from_utf8(text).ok()?.to_owned();
        bytes = &bytes[len..];
        match tag >> 3 {
            1 => key = text,
            2 => value = text,
            _ => {}
        }
    }
    Some((key, value))
}

/// One base-128 varint (at most 10 bytes).
fn varint<R: Read>(r: &mut R) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8; 1];
        r.read_exact(&mut byte).ok()?;
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        put_varint(out, number << 3 | 2);
        put_varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn entry(key: &str, value: &str) -> Vec<u8> {
        let mut e = Vec::new();
        field(&mut e, 1, key.as_bytes());
        field(&mut e, 2, value.as_bytes());
        e
    }

    /// ir_version, a producer, a 300 kB "graph", an opset, then the metadata.
    fn model() -> Vec<u8> {
        let mut m = Vec::new();
        put_varint(&mut m, 1 << 3);
        put_varint(&mut m, 9);
        field(&mut m, 2, b"adapts-builder");
        field(&mut m, 7, &vec![0xAB; 300_000]);
        field(&mut m, 8, &[8, 0, 16, 17]);
        m.extend_from_slice(&[0x39, 1, 2, 3, 4, 5, 6, 7, 8]); // field 7, fixed64
        field(&mut m, 14, &entry("producer.note", "x"));
        field(&mut m, 14, &entry("adapts.macs_per_image", "5017600"));
        m
    }

    #[test]
    fn the_value_is_found_past_the_graph() {
        let m = model();
        let get = |key: &str| find(&mut Cursor::new(&m), key);
        assert_eq!(get("adapts.macs_per_image").as_deref(), Some("5017600"));
        assert_eq!(get("producer.note").as_deref(), Some("x"));
        assert_eq!(get("absent"), None);
    }

    #[test]
    fn a_truncated_or_foreign_file_gives_nothing() {
        let m = model();
        for cut in [0, 1, 5, 1_000, m.len() - 3] {
            assert_eq!(
                find(&mut Cursor::new(&m[..cut]), "adapts.macs_per_image"),
                None,
                "cut at {cut}"
            );
        }
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(
            find(&mut Cursor::new(&png[..]), "adapts.macs_per_image"),
            None
        );
    }
}
