//! Bundle format tests: manifest encoding, verification on open, writing and appending.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::preprocess::Normalization;

/// A consistent manifest with two adapted stages (`layer2` from the trunk, `layer3` a later
/// adapted stage), routing dimension 3, input size 8, and the given products. `files` lists
/// every graph with placeholder checksums (the writer replaces them).
pub(crate) fn sample_manifest(products: &[&str]) -> Manifest {
    let mut m = Manifest {
        tool_version: "test".into(),
        sequence: 0,
        trunk: TrunkInfo {
            id: "tiny".into(),
            weights_sha256: "ab".repeat(32),
            input_size: 8,
            normalization: Normalization::Imagenet,
        },
        preset: "M".into(),
        adapted: vec![
            StageInfo {
                name: "layer2".into(),
                channels: 2,
                height: 2,
                width: 2,
            },
            StageInfo {
                name: "layer3".into(),
                channels: 3,
                height: 1,
                width: 1,
            },
        ],
        later_stages: vec![LaterStage {
            name: "layer3".into(),
            graph: "stages/layer3.onnx".into(),
            adapted: true,
        }],
        trunk_graph: "trunk.onnx".into(),
        head_graph: "head.onnx".into(),
        routing_stage: "layer3".into(),
        routing_dim: 3,
        scoring: Scoring::Distance,
        products: Vec::new(),
        files: Vec::new(),
    };
    for (i, name) in products.iter().enumerate() {
        m.products.push(sample_product(name, i as f32));
    }
    m.files = graph_paths(&m)
        .into_iter()
        .map(|path| FileEntry {
            path,
            sha256: "0".repeat(64),
            bytes: 0,
        })
        .collect();
    m
}

/// A product with prototype `[offset, 0, 0]`, radius 1, threshold 2.
pub(crate) fn sample_product(name: &str, offset: f32) -> Product {
    Product {
        name: name.into(),
        prototype: vec![offset * 10.0, 0.0, 0.0],
        routing: RoutingModel::Euclidean,
        routing_radius: 1.0,
        threshold: 2.0,
        normal_stats: ScoreStats {
            count: 10,
            mean: 1.0,
            std: 0.1,
            p50: 1.0,
            p99: 1.5,
            max: 1.6,
        },
        precision: Precision::Int8,
        adapters: vec![
            format!("products/{name}/layer2.onnx"),
            format!("products/{name}/layer3.onnx"),
        ],
        bytes: 0,
    }
}

/// Every graph path the manifest references.
pub(crate) fn graph_paths(m: &Manifest) -> Vec<String> {
    let mut paths = vec![m.trunk_graph.clone(), m.head_graph.clone()];
    paths.extend(m.later_stages.iter().map(|s| s.graph.clone()));
    for t in &m.products {
        paths.extend(t.adapters.iter().cloned());
    }
    paths
}

/// Writes a bundle with placeholder graph contents derived from each path.
pub(crate) fn write_bundle(dir: &Path, products: &[&str]) -> Manifest {
    let manifest = sample_manifest(products);
    let mut writer = BundleWriter::create(dir).expect("create");
    for path in graph_paths(&manifest) {
        writer
            .add_file(&path, format!("graph {path}").as_bytes())
            .expect("add");
    }
    writer.finish(manifest).expect("finish")
}

/// Path -> content of every file under `dir`.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("list") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type().expect("type").is_dir() {
                walk(&entry.path(), &rel, out);
            } else {
                out.insert(rel, std::fs::read(entry.path()).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

#[test]
fn manifest_round_trips() {
    let manifest = sample_manifest(&["bottle", "cable"]);
    let bytes = encode_manifest(&manifest).expect("encode");
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(bytes[8..12], FORMAT_VERSION.to_le_bytes());
    let back = decode_manifest(&bytes, Path::new("m.postcard")).expect("decode");
    assert_eq!(back, manifest);
}

#[test]
fn wrong_magic_is_not_a_manifest() {
    let mut bytes = encode_manifest(&sample_manifest(&["a"])).expect("encode");
    bytes[0] = b'X';
    let err = decode_manifest(&bytes, Path::new("b/manifest.postcard")).expect_err("magic");
    assert!(matches!(err, Error::ManifestMagic { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("not an AdapTS bundle manifest"), "{msg}");
    assert!(msg.contains("b/manifest.postcard"), "{msg}");
    // Too short to hold the magic at all.
    let err = decode_manifest(b"ADA", Path::new("x")).expect_err("short");
    assert!(matches!(err, Error::ManifestMagic { .. }), "{err:?}");
}

#[test]
fn other_format_version_names_found_and_supported() {
    let mut bytes = encode_manifest(&sample_manifest(&["a"])).expect("encode");
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    let err = decode_manifest(&bytes, Path::new("b/manifest.postcard")).expect_err("version");
    assert!(
        matches!(
            err,
            Error::ManifestVersion {
                found: 7,
                supported: FORMAT_VERSION,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("version 7") && msg.contains("b/manifest.postcard"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("versions 1 to {FORMAT_VERSION}")),
        "{msg}"
    );
    // Version 0 was never written.
    bytes[8..12].copy_from_slice(&0u32.to_le_bytes());
    let err = decode_manifest(&bytes, Path::new("b/manifest.postcard")).expect_err("version 0");
    assert!(
        matches!(err, Error::ManifestVersion { found: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn malformed_body_is_a_decode_error_naming_the_file() {
    let bytes = encode_manifest(&sample_manifest(&["a"])).expect("encode");
    let truncated = &bytes[..bytes.len() - 5];
    let err = decode_manifest(truncated, Path::new("b/manifest.postcard")).expect_err("short");
    assert!(matches!(err, Error::ManifestDecode { .. }), "{err:?}");
    assert!(err.to_string().contains("b/manifest.postcard"), "{err}");

    let mut extended = bytes.clone();
    extended.push(0);
    let err = decode_manifest(&extended, Path::new("m")).expect_err("trailing");
    assert!(err.to_string().contains("unexpected bytes"), "{err}");

    let err = decode_manifest(&bytes[..10], Path::new("m")).expect_err("header");
    assert!(matches!(err, Error::ManifestDecode { .. }), "{err:?}");
}

#[test]
fn open_verifies_a_written_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = write_bundle(dir.path(), &["bottle", "cable"]);
    let bundle = Bundle::open(dir.path()).expect("open");
    assert_eq!(bundle.manifest(), &written);
    assert_eq!(bundle.trunk_graph(), dir.path().join("trunk.onnx"));
    assert_eq!(
        bundle.stage_graphs(),
        vec![dir.path().join("stages").join("layer3.onnx")]
    );
    assert_eq!(
        bundle.adapter_graphs(1).expect("product 1")[1],
        dir.path()
            .join("products")
            .join("cable")
            .join("layer3.onnx")
    );
    assert!(bundle.adapter_graphs(2).is_none());
    let entry = written
        .files
        .iter()
        .find(|f| f.path == "head.onnx")
        .expect("head listed");
    assert_eq!(entry.sha256, sha256_hex(b"graph head.onnx"));
    assert_eq!(entry.bytes, "graph head.onnx".len() as u64);
    assert!(bundle.total_bytes() > written.files_bytes());
    // Readable by a station user other than the writer: every file 0644.
    use std::os::unix::fs::PermissionsExt;
    for (rel, _) in snapshot(dir.path()) {
        let mode = std::fs::metadata(dir.path().join(&rel))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{rel}");
    }
}

#[test]
fn open_rejects_a_corrupted_file_naming_it_and_both_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_bundle(dir.path(), &["bottle"]);
    let path = dir.path().join("products/bottle/layer2.onnx");
    let mut bytes = std::fs::read(&path).expect("read");
    let expected = sha256_hex(&bytes);
    bytes[3] ^= 0x01;
    let found = sha256_hex(&bytes);
    std::fs::write(&path, &bytes).expect("write");

    let err = Bundle::open(dir.path()).expect_err("corrupted");
    assert!(matches!(err, Error::Checksum { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("products/bottle/layer2.onnx"), "{msg}");
    assert!(msg.contains("corrupted"), "{msg}");
    assert!(msg.contains(&expected) && msg.contains(&found), "{msg}");
}

#[test]
fn open_rejects_a_resized_or_missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_bundle(dir.path(), &["bottle"]);
    std::fs::write(dir.path().join("head.onnx"), b"short").expect("write");
    let err = Bundle::open(dir.path()).expect_err("resized");
    assert!(matches!(err, Error::FileSize { found: 5, .. }), "{err:?}");
    assert!(err.to_string().contains("head.onnx"), "{err}");

    std::fs::remove_file(dir.path().join("head.onnx")).expect("remove");
    let err = Bundle::open(dir.path()).expect_err("missing");
    assert!(matches!(err, Error::FileMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("head.onnx"), "{err}");
}

#[test]
fn open_without_manifest_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Bundle::open(dir.path()).expect_err("no manifest");
    assert!(err.to_string().contains(MANIFEST_FILE), "{err}");
}

#[test]
fn validate_lists_every_inconsistency() {
    let mut m = sample_manifest(&["bottle", "cable"]);
    m.validate(Path::new("b")).expect("sample is consistent");

    m.products[1].name = "bottle".into();
    m.products[0].prototype.push(1.0);
    m.products[1].adapters.pop();
    m.files.retain(|f| f.path != "head.onnx");
    m.products[0].threshold = 0.0;
    m.products[0].routing = RoutingModel::Ppca {
        basis: vec![1.0, 0.0],
        variances: vec![1.0],
        residual: 1.0,
    };
    let err = m.validate(Path::new("b")).expect_err("inconsistent");
    let msg = err.to_string();
    for needle in [
        "product name `bottle` is used twice",
        "prototype of length 4, expected routing dimension 3",
        "has 1 graphs, its scoring needs 2",
        "routing model of 1 directions, 2 basis values for routing dimension 3",
        "head graph `head.onnx` is not listed in files",
        "score threshold 0",
    ] {
        assert!(msg.contains(needle), "missing `{needle}` in: {msg}");
    }
}

#[test]
fn validate_checks_stage_layout_and_paths() {
    let mut m = sample_manifest(&["a"]);
    m.routing_stage = "layer2".into();
    m.later_stages[0].adapted = false;
    m.files[0].path = "../trunk.onnx".into();
    let msg = m.validate(Path::new("b")).expect_err("bad").to_string();
    assert!(msg.contains("routing stage `layer2`"), "{msg}");
    assert!(msg.contains("do not match"), "{msg}");
    assert!(msg.contains("`..`"), "{msg}");
}

#[test]
fn create_refuses_a_non_empty_directory_without_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("holiday.jpg"), b"x").expect("write");
    let err = BundleWriter::create(dir.path()).expect_err("non-empty");
    assert!(err.to_string().contains("not empty"), "{err}");
    // A missing directory is created; an empty one is fine.
    BundleWriter::create(&dir.path().join("new/bundle")).expect("missing dir");
    let empty = tempfile::tempdir().expect("tempdir");
    BundleWriter::create(empty.path()).expect("empty dir");
}

#[test]
fn append_keeps_earlier_files_byte_identical_and_refuses_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_bundle(dir.path(), &["bottle"]);
    let before = snapshot(dir.path());

    let mut writer = BundleWriter::append(dir.path()).expect("append");
    let base = writer.base().expect("append mode has a base").clone();
    for path in [
        "trunk.onnx",
        "products/bottle/layer2.onnx",
        "stages/layer3.onnx",
    ] {
        let err = writer.add_file(path, b"new").expect_err("overwrite");
        assert!(err.to_string().contains("never overwrites"), "{err}");
    }
    let mut manifest = base.clone();
    let product = sample_product("cable", 1.0);
    for path in &product.adapters {
        writer.add_file(path, b"cable adapter").expect("add");
    }
    let err = writer
        .add_file("products/cable/layer2.onnx", b"again")
        .expect_err("twice");
    assert!(err.to_string().contains("already added"), "{err}");
    manifest.products.push(product);
    let written = writer.finish(manifest).expect("finish");

    // Old entries first and unchanged, new ones appended.
    assert_eq!(written.files[..base.files.len()], base.files[..]);
    assert_eq!(written.files.len(), base.files.len() + 2);
    let after = snapshot(dir.path());
    for (path, bytes) in &before {
        if path != MANIFEST_FILE {
            assert_eq!(after.get(path), Some(bytes), "{path} changed");
        }
    }
    let reopened = Bundle::open(dir.path()).expect("reopen");
    assert_eq!(reopened.manifest().products.len(), 2);
}

#[test]
fn append_refuses_changing_earlier_products_or_the_trunk() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_bundle(dir.path(), &["bottle"]);

    let writer = BundleWriter::append(dir.path()).expect("append");
    let mut manifest = writer.base().expect("base").clone();
    manifest.products[0].threshold = 9.0;
    let err = writer.finish(manifest).expect_err("changed product");
    assert!(err.to_string().contains("earlier products"), "{err}");

    let writer = BundleWriter::append(dir.path()).expect("append");
    let mut manifest = writer.base().expect("base").clone();
    manifest.trunk.input_size = 16;
    let err = writer.finish(manifest).expect_err("changed trunk");
    assert!(err.to_string().contains("trunk"), "{err}");

    // Nothing was committed: the bundle is as before.
    assert_eq!(
        Bundle::open(dir.path()).expect("open").manifest().products[0].threshold,
        2.0
    );
}

#[test]
fn append_without_a_products_graphs_is_refused_and_the_old_bundle_stays_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_bundle(dir.path(), &["bottle"]);
    let mut writer = BundleWriter::append(dir.path()).expect("append");
    let mut manifest = writer.base().expect("base").clone();
    writer
        .add_file("products/cable/layer2.onnx", b"only one")
        .expect("add");
    manifest.products.push(sample_product("cable", 1.0));
    let err = writer.finish(manifest).expect_err("layer3 adapter missing");
    assert!(
        err.to_string()
            .contains("`products/cable/layer3.onnx` is not listed in files"),
        "{err}"
    );
    // As after a crash before the commit: the previous manifest still rules.
    let bundle = Bundle::open(dir.path()).expect("old bundle valid");
    assert_eq!(bundle.manifest().products.len(), 1);
}

#[test]
fn append_to_a_corrupted_bundle_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_bundle(dir.path(), &["bottle"]);
    std::fs::write(dir.path().join("trunk.onnx"), b"graph trunk.onnY").expect("write");
    let err = BundleWriter::append(dir.path()).expect_err("corrupted");
    assert!(err.to_string().contains("trunk.onnx"), "{err}");
}

#[test]
fn create_over_a_bundle_replaces_it_and_removes_files_no_longer_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_bundle(dir.path(), &["bottle", "cable"]);
    write_bundle(dir.path(), &["bottle"]);
    let bundle = Bundle::open(dir.path()).expect("open");
    assert_eq!(bundle.manifest().products.len(), 1);
    assert!(!dir.path().join("products/cable/layer2.onnx").exists());
    assert!(dir.path().join("products/bottle/layer2.onnx").exists());
}

#[test]
fn unsafe_paths_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = BundleWriter::create(dir.path()).expect("create");
    for bad in [
        "../x.onnx",
        "/abs.onnx",
        "a//b.onnx",
        "",
        MANIFEST_FILE,
        "a\\b",
    ] {
        assert!(writer.add_file(bad, b"x").is_err(), "{bad:?} accepted");
    }
}
