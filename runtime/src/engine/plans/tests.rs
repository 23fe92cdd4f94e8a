//! The plan store against plans written by hand: keys, lookups by content, and every way a
//! store is refused.

use super::*;

fn key(precision: PlanPrecision) -> DeviceKey {
    DeviceKey {
        tensorrt: TrtVersion::from_lib_version(100_300).unwrap(),
        compute_capability: ComputeCapability { major: 8, minor: 7 },
        precision,
        dla_core: None,
    }
}

/// A store with one built plan for `graph` (what ONNX Runtime's provider would write).
fn built(root: &Path, graph: &Path, k: DeviceKey) -> PlanCache {
    let cache = PlanCache::for_build(root, k, false).unwrap();
    let dir = cache.graph_dir(graph).unwrap();
    std::fs::write(
        dir.join("TensorrtExecutionProvider_TRTKernel_0_sm87.engine"),
        b"plan",
    )
    .unwrap();
    std::fs::write(
        dir.join("TensorrtExecutionProvider_TRTKernel_0_sm87.profile"),
        b"p",
    )
    .unwrap();
    cache
        .record(&[("trunk.onnx".into(), graph.to_path_buf())], "1.20.0")
        .unwrap();
    cache
}

fn graph(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn tensorrt_versions_decode_both_encodings() {
    let v = |n| TrtVersion::from_lib_version(n).map(|v| v.to_string());
    assert_eq!(v(8502).as_deref(), Some("8.5.2"));
    assert_eq!(v(8601).as_deref(), Some("8.6.1"));
    assert_eq!(v(100_300).as_deref(), Some("10.3.0"));
    assert_eq!(v(101_302).as_deref(), Some("10.13.2"));
    assert_eq!(v(0), None);
    assert_eq!(v(-1), None);
    assert_eq!(v(42), None);
}

#[test]
fn key_folders_name_version_gpu_precision_and_dla() {
    assert_eq!(key(PlanPrecision::Int8).dir_name(), "trt10.3.0-sm87-int8");
    let xavier = DeviceKey {
        tensorrt: TrtVersion::from_lib_version(8502).unwrap(),
        compute_capability: ComputeCapability { major: 7, minor: 2 },
        precision: PlanPrecision::Fp16,
        dla_core: Some(1),
    };
    assert_eq!(xavier.dir_name(), "trt8.5.2-sm72-fp16-dla1");
    assert_eq!("int8".parse::<PlanPrecision>(), Ok(PlanPrecision::Int8));
    assert!("fp32"
        .parse::<PlanPrecision>()
        .unwrap_err()
        .contains("fp16"));
}

#[test]
fn the_default_store_sits_beside_the_bundle() {
    let store = default_store(Path::new("/srv/line3/bundle"));
    assert_eq!(store, Path::new("/srv/line3/bundle.plans"));
}

#[test]
fn a_built_plan_is_found_by_content_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("bundle.plans");
    let trunk = graph(tmp.path(), "trunk.onnx", b"trunk graph");
    built(&root, &trunk, key(PlanPrecision::Int8));

    let cache = PlanCache::open(&root, key(PlanPrecision::Int8)).unwrap();
    assert!(!cache.is_building());
    let dir = cache.graph_dir(&trunk).unwrap();
    assert!(dir.starts_with(root.join("trt10.3.0-sm87-int8")));
    // The same bytes under another name (another bundle's copy) use the same plan.
    let copy = graph(tmp.path(), "copy.onnx", b"trunk graph");
    assert_eq!(cache.graph_dir(&copy).unwrap(), dir);
    let index = cache.read_index().unwrap();
    assert_eq!(index.plans.len(), 1);
    assert_eq!(index.plans[0].files.len(), 2);
    assert_eq!(index.onnxruntime, "1.20.0");
    // "plan" (4 bytes) and "p" (1 byte).
    assert_eq!(cache.plan_bytes(&["trunk.onnx".into()]).unwrap(), 5);
    assert_eq!(cache.plan_bytes(&["head.onnx".into()]).unwrap(), 0);
}

#[test]
fn a_graph_hash_the_bundle_already_checked_is_not_read_again() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("bundle.plans");
    let trunk = graph(tmp.path(), "trunk.onnx", b"trunk graph");
    built(&root, &trunk, key(PlanPrecision::Int8));
    let (sha, _) = crate::bundle::sha256_file(&trunk).unwrap();
    // The file is gone, but its checked hash finds the plan.
    std::fs::remove_file(&trunk).unwrap();
    let cache = PlanCache::open(&root, key(PlanPrecision::Int8)).unwrap();
    assert!(cache.graph_dir(&trunk).is_err(), "unknown and unreadable");
    let cache = cache.with_known_hashes([(trunk.clone(), sha)]);
    assert!(cache
        .graph_dir(&trunk)
        .unwrap()
        .starts_with(cache.key_dir()));
}

#[test]
fn a_graph_without_a_plan_is_refused_when_running_and_gets_a_folder_when_building() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("bundle.plans");
    let trunk = graph(tmp.path(), "trunk.onnx", b"trunk graph");
    built(&root, &trunk, key(PlanPrecision::Int8));
    let new_map = graph(tmp.path(), "map.onnx", b"a new product's map");

    let err = PlanCache::open(&root, key(PlanPrecision::Int8))
        .unwrap()
        .graph_dir(&new_map)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no plan for") && err.contains("map.onnx"),
        "{err}"
    );
    assert!(err.contains("adapts-runtime plan"), "{err}");

    // Building again keeps the trunk's plan and adds only the map's.
    let build = PlanCache::for_build(&root, key(PlanPrecision::Int8), false).unwrap();
    let trunk_dir = build.graph_dir(&trunk).unwrap();
    let map_dir = build.graph_dir(&new_map).unwrap();
    assert_ne!(trunk_dir, map_dir);
    std::fs::write(map_dir.join("map.engine"), b"m").unwrap();
    build
        .record(
            &[("products/new/map.onnx".into(), new_map.clone())],
            "1.20.0",
        )
        .unwrap();
    let index = build.read_index().unwrap();
    assert_eq!(
        index
            .plans
            .iter()
            .map(|p| p.graph.as_str())
            .collect::<Vec<_>>(),
        ["trunk.onnx", "products/new/map.onnx"]
    );
    PlanCache::open(&root, key(PlanPrecision::Int8))
        .unwrap()
        .graph_dir(&new_map)
        .unwrap();
}

#[test]
fn a_graph_tensorrt_took_nothing_of_is_recorded_without_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("bundle.plans");
    let head = graph(tmp.path(), "head.onnx", b"a graph of CUDA-only nodes");
    let cache = PlanCache::for_build(&root, key(PlanPrecision::Fp16), false).unwrap();
    cache.graph_dir(&head).unwrap();
    let entries = cache
        .record(&[("head.onnx".into(), head.clone())], "1.20.0")
        .unwrap();
    assert!(entries[0].files.is_empty());
    PlanCache::open(&root, key(PlanPrecision::Fp16))
        .unwrap()
        .graph_dir(&head)
        .unwrap();
}

#[test]
fn a_corrupt_or_missing_engine_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("bundle.plans");
    let trunk = graph(tmp.path(), "trunk.onnx", b"trunk graph");
    let cache = built(&root, &trunk, key(PlanPrecision::Fp16));
    let dir = cache.graph_dir(&trunk).unwrap();
    let engine = dir.join("TensorrtExecutionProvider_TRTKernel_0_sm87.engine");

    std::fs::write(&engine, b"PLAN").unwrap();
    let open = PlanCache::open(&root, key(PlanPrecision::Fp16)).unwrap();
    let err = open.graph_dir(&trunk).unwrap_err().to_string();
    assert!(
        err.contains("is corrupt") && err.contains(".engine"),
        "{err}"
    );
    assert!(err.contains("--rebuild-plans"), "{err}");

    std::fs::remove_file(&engine).unwrap();
    let err = open.graph_dir(&trunk).unwrap_err().to_string();
    assert!(err.contains("is missing"), "{err}");

    // --rebuild-plans starts this key afresh.
    let rebuilt = PlanCache::for_build(&root, key(PlanPrecision::Fp16), true).unwrap();
    assert!(rebuilt.read_index().unwrap().plans.is_empty());
    assert!(!dir.exists());
}

#[test]
fn plans_of_another_device_are_refused_with_what_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("bundle.plans");
    let trunk = graph(tmp.path(), "trunk.onnx", b"trunk graph");
    built(&root, &trunk, key(PlanPrecision::Int8));

    // Another TensorRT version.
    let mut other = key(PlanPrecision::Int8);
    other.tensorrt = TrtVersion::from_lib_version(8502).unwrap();
    let err = PlanCache::open(&root, other).unwrap_err().to_string();
    assert!(
        err.contains("trt10.3.0-sm87-int8") && err.contains("trt8.5.2-sm87-int8"),
        "{err}"
    );
    assert!(err.contains("--rebuild-plans"), "{err}");
    // Another precision on the same device is another set of plans, not built yet.
    let err = PlanCache::open(&root, key(PlanPrecision::Fp16))
        .unwrap_err()
        .to_string();
    assert!(err.contains("built for trt10.3.0-sm87-int8"), "{err}");
    // An empty store.
    let err = PlanCache::open(&tmp.path().join("none"), key(PlanPrecision::Fp16))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no TensorRT plans for this device"), "{err}");

    // A key folder copied from another GPU: its name fits, its index does not.
    let sm72 = DeviceKey {
        compute_capability: ComputeCapability { major: 7, minor: 2 },
        ..key(PlanPrecision::Int8)
    };
    let copied = tmp.path().join("copied.plans");
    std::fs::create_dir_all(copied.join(sm72.dir_name())).unwrap();
    std::fs::copy(
        root.join("trt10.3.0-sm87-int8").join(INDEX_FILE),
        copied.join(sm72.dir_name()).join(INDEX_FILE),
    )
    .unwrap();
    let err = PlanCache::open(&copied, sm72).unwrap_err().to_string();
    assert!(
        err.contains("built for TensorRT 10.3.0 on compute capability 8.7")
            && err.contains("this device is TensorRT 10.3.0 on compute capability 7.2"),
        "{err}"
    );

    // A damaged index.
    std::fs::write(root.join("trt10.3.0-sm87-int8").join(INDEX_FILE), b"{").unwrap();
    let err = PlanCache::open(&root, key(PlanPrecision::Int8))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unreadable index"), "{err}");
}

#[test]
fn the_precision_follows_the_graphs_the_pipeline_loads() {
    let mut manifest = crate::bundle::tests::sample_manifest(&["a"]);
    assert_eq!(
        PlanPrecision::for_graphs(crate::bundle::GraphPrecision::Auto, &manifest),
        PlanPrecision::Fp16
    );
    manifest.files.push(crate::bundle::manifest::FileEntry {
        path: crate::bundle::int8_twin(&manifest.trunk_graph),
        bytes: 1,
        sha256: "0".repeat(64),
    });
    assert_eq!(
        PlanPrecision::for_graphs(crate::bundle::GraphPrecision::Auto, &manifest),
        PlanPrecision::Int8
    );
    assert_eq!(
        PlanPrecision::for_graphs(crate::bundle::GraphPrecision::Fp32, &manifest),
        PlanPrecision::Fp16
    );
}
