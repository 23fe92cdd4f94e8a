//! What the runtime reads from an ONNX file before ONNX Runtime sees it, so that a session is
//! built once, with the right settings:
//! - one value of its `metadata_props`: the multiply-accumulate count the builder records,
//!   which decides a session's threads;
//! - the operator types of its graph's nodes: whether its only quantization is of constant
//!   weights (see [`weights_only_quantized`]).
//!
//! A `ModelProto` is a protobuf message; its `graph` is field 7 and its `metadata_props` field
//! 14 (`StringStringEntryProto { key = 1, value = 2 }`); a `GraphProto` lists its nodes in
//! field 1, and a `NodeProto` names its operator in field 4. The readers walk the fields,
//! seeking past everything else (the weights) instead of reading it, and give up on anything
//! malformed: the caller then keeps ONNX Runtime's defaults.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;

/// `ModelProto.graph`.
const GRAPH: u64 = 7;
/// `ModelProto.metadata_props`.
const METADATA_PROPS: u64 = 14;
/// `GraphProto.node`.
const NODE: u64 = 1;
/// `NodeProto.op_type`.
const OP_TYPE: u64 = 4;
/// Larger nodes (a `Constant` with a large tensor) are not read: the graph's operators are
/// then unknown.
const MAX_NODE_BYTES: u64 = 1 << 20;
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

/// Whether the graph in the ONNX file at `path` quantizes nothing but constants: it has
/// `DequantizeLinear` nodes (INT8 weights stored compactly, turned to float for float
/// operators) and no other quantization operator. ONNX Runtime keeps such nodes for its Q/DQ
/// fusions and so dequantizes the weights on every run; a graph like this has no activation
/// to fuse them with, so they may be folded once into float constants instead, with the same
/// values. `None` when the file does not parse that far.
pub(crate) fn weights_only_quantized(path: &Path) -> Option<bool> {
    let file = std::fs::File::open(path).ok()?;
    op_types(&mut BufReader::new(file)).map(|ops| dequantizes_constants_only(&ops))
}

/// The rule of [`weights_only_quantized`] on a graph's operator types.
fn dequantizes_constants_only(ops: &BTreeSet<String>) -> bool {
    // QuantizeLinear, DynamicQuantizeLinear, QLinearConv, QGemm, ConvInteger, MatMulInteger...
    let quantizing = ops.iter().any(|op| {
        op != "DequantizeLinear"
            && (op.starts_with('Q') || op.contains("Quantize") || op.ends_with("Integer"))
    });
    // A subgraph (If, Loop, Scan) hides nodes that the reader does not visit.
    let subgraphs = ops
        .iter()
        .any(|op| matches!(op.as_str(), "If" | "Loop" | "Scan"));
    ops.contains("DequantizeLinear") && !quantizing && !subgraphs
}

/// The operator types of the main graph's nodes.
fn op_types<R: BufRead + Seek>(r: &mut R) -> Option<BTreeSet<String>> {
    for _ in 0..MAX_FIELDS {
        if r.fill_buf().ok()?.is_empty() {
            return None;
        }
        let (field, wire) = tag(r)?;
        if field == GRAPH && wire == 2 {
            let len = varint(r)?;
            return graph_op_types(r, len);
        }
        skip(r, wire)?;
    }
    None
}

/// The operator types of the nodes in the `len` bytes of a `GraphProto`.
fn graph_op_types<R: BufRead + Seek>(r: &mut R, len: u64) -> Option<BTreeSet<String>> {
    let mut ops = BTreeSet::new();
    let mut left = len;
    while left > 0 {
        let start = r.stream_position().ok()?;
        let (field, wire) = tag(r)?;
        if field == NODE && wire == 2 {
            let size = varint(r)?;
            if size > MAX_NODE_BYTES {
                return None;
            }
            let mut node = vec![0u8; usize::try_from(size).ok()?];
            r.read_exact(&mut node).ok()?;
            ops.insert(node_op_type(&node)?);
        } else {
            skip(r, wire)?;
        }
        let used = r.stream_position().ok()?.checked_sub(start)?;
        left = left.checked_sub(used)?;
    }
    Some(ops)
}

/// `op_type` of one `NodeProto`.
fn node_op_type(bytes: &[u8]) -> Option<String> {
    let mut r = Cursor::new(bytes);
    while r.position() < bytes.len() as u64 {
        let (field, wire) = tag(&mut r)?;
        if field == OP_TYPE && wire == 2 {
            let len = usize::try_from(varint(&mut r)?).ok()?;
            let start = usize::try_from(r.position()).ok()?;
            let value = bytes.get(start..start.checked_add(len)?)?;
            return std::str::from_utf8(value).ok().map(str::to_owned);
        }
        skip(&mut r, wire)?;
    }
    None
}

/// A field's number and wire type.
fn tag<R: Read>(r: &mut R) -> Option<(u64, u64)> {
    let tag = varint(r)?;
    Some((tag >> 3, tag & 7))
}

/// Seeks past one field's value of wire type `wire`.
fn skip<R: BufRead + Seek>(r: &mut R, wire: u64) -> Option<()> {
    match wire {
        0 => {
            varint(r)?;
        }
        1 => r.seek_relative(8).ok()?,
        5 => r.seek_relative(4).ok()?,
        2 => {
            let len = varint(r)?;
            r.seek_relative(i64::try_from(len).ok()?).ok()?;
        }
        _ => return None,
    }
    Some(())
}

fn find<R: BufRead + Seek>(r: &mut R, key: &str) -> Option<String> {
    for _ in 0..MAX_FIELDS {
        if r.fill_buf().ok()?.is_empty() {
            return None;
        }
        let (field, wire) = tag(r)?;
        if field != METADATA_PROPS || wire != 2 {
            skip(r, wire)?;
            continue;
        }
        let len = varint(r)?;
        if len > MAX_ENTRY_BYTES {
            r.seek_relative(i64::try_from(len).ok()?).ok()?;
            continue;
        }
        let mut entry = vec![0u8; usize::try_from(len).ok()?];
        r.read_exact(&mut entry).ok()?;
        if let Some((k, v)) = entry_pair(&entry) {
            if k == key {
                return Some(v);
            }
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

    fn node(op: &str) -> Vec<u8> {
        let mut n = Vec::new();
        field(&mut n, 1, b"x"); // input
        field(&mut n, 2, b"y"); // output
        field(&mut n, 3, op.as_bytes()); // name
        field(&mut n, OP_TYPE, op.as_bytes());
        put_varint(&mut n, 9 << 3); // a varint field this reader does not know: skipped
        put_varint(&mut n, 300);
        n
    }

    /// A model whose graph has a 200 kB initializer and nodes of `ops`, then metadata.
    fn graph_model(ops: &[&str]) -> Vec<u8> {
        let mut g = Vec::new();
        field(&mut g, 5, &vec![0xCD; 200_000]); // initializer
        for op in ops {
            field(&mut g, NODE, &node(op));
        }
        field(&mut g, 2, b"main"); // name
        let mut m = Vec::new();
        put_varint(&mut m, 1 << 3);
        put_varint(&mut m, 9);
        field(&mut m, GRAPH, &g);
        field(&mut m, 14, &entry("adapts.macs_per_image", "5017600"));
        m
    }

    fn ops_of(bytes: &[u8]) -> Option<Vec<String>> {
        op_types(&mut Cursor::new(bytes)).map(|s| s.into_iter().collect())
    }

    #[test]
    fn the_graphs_operator_types_are_read_past_its_weights() {
        let m = graph_model(&["DequantizeLinear", "Conv", "Relu", "DequantizeLinear"]);
        assert_eq!(
            ops_of(&m),
            Some(vec![
                "Conv".into(),
                "DequantizeLinear".into(),
                "Relu".into()
            ])
        );
        // The metadata reader still finds its value past the graph.
        assert_eq!(
            find(&mut Cursor::new(&m), "adapts.macs_per_image").as_deref(),
            Some("5017600")
        );
    }

    #[test]
    fn only_a_graph_that_dequantizes_nothing_but_weights_qualifies() {
        let set = |ops: &[&str]| ops.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        assert!(dequantizes_constants_only(&set(&[
            "DequantizeLinear",
            "Conv",
            "Softplus"
        ])));
        for ops in [
            &["Conv", "Relu"][..],
            &["DequantizeLinear", "QuantizeLinear", "Conv"],
            &["DequantizeLinear", "QLinearConv"],
            &["DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger"],
            &["DequantizeLinear", "ConvInteger"],
            &["DequantizeLinear", "Conv", "If"],
        ] {
            assert!(!dequantizes_constants_only(&set(ops)), "{ops:?}");
        }
    }

    #[test]
    fn a_truncated_graph_or_an_oversized_node_gives_nothing() {
        let m = graph_model(&["DequantizeLinear", "Conv"]);
        for cut in [0, 3, 100, 200_010, m.len() - 40] {
            assert_eq!(ops_of(&m[..cut]), None, "cut at {cut}");
        }
        let mut g = Vec::new();
        field(&mut g, NODE, &vec![0u8; (MAX_NODE_BYTES + 1) as usize]);
        let mut m = Vec::new();
        field(&mut m, GRAPH, &g);
        assert_eq!(ops_of(&m), None);
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
