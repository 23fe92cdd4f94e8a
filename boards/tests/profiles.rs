//! Board profiles as a user meets them: the shipped ones load and validate, user files load
//! from a path, and every mistake names its key and value.

use std::path::PathBuf;

use adapts_boards::{Board, CudaFeature, Engine, Error, PixelFormat, TriggerEdge, Version};

/// The Orin Nano profile with one line replaced, for error tests.
fn nano_with(find: &str, replace: &str) -> String {
    let text = Board::builtin("jetson-orin-nano-8gb")
        .and_then(|b| b.to_toml_string())
        .expect("built-in profile serialises");
    assert!(text.contains(find), "{find:?} not in profile:\n{text}");
    text.replacen(find, replace, 1)
}

#[test]
fn every_builtin_parses_and_validates() {
    let names = Board::builtin_names();
    for expected in [
        "jetson-orin-nano-4gb",
        "jetson-orin-nano-8gb",
        "jetson-orin-nx-8gb",
        "jetson-orin-nx-16gb",
        "jetson-agx-orin-32gb",
        "jetson-agx-orin-64gb",
        "jetson-xavier-nx",
        "jetson-agx-xavier",
        "x86-cpu",
        "x86-gpu",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for name in names {
        let board = Board::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(board.name, name);
        board.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// One shipped profile's published facts: NVIDIA's module specifications (SM, DLA cores,
/// module RAM) and JetPack release notes (TensorRT and CUDA of the release).
struct Facts {
    name: &'static str,
    engine: Engine,
    jetpack: Option<(u32, u32)>,
    tensorrt: Option<(u32, u32)>,
    cuda: Option<(u32, u32)>,
    sm: Option<u32>,
    dla: u32,
    /// RAM of the module (shared by CPU and GPU on a Jetson); the budget must leave room.
    ram_mb: Option<u64>,
    gpio: bool,
}

const JP6: Option<(u32, u32)> = Some((6, 1));
const JP5: Option<(u32, u32)> = Some((5, 1));
const TRT10: Option<(u32, u32)> = Some((10, 3));
const TRT8: Option<(u32, u32)> = Some((8, 5));
const CUDA12: Option<(u32, u32)> = Some((12, 6));
const CUDA11: Option<(u32, u32)> = Some((11, 4));

/// Orin (T234) is SM 8.7 and Xavier (T194) SM 7.2. DLA: none on Orin Nano, one on Orin NX
/// 8GB, two on Orin NX 16GB, AGX Orin, Xavier NX and AGX Xavier. JetPack 6.1/6.2 pair
/// TensorRT 10.3 with CUDA 12.6; JetPack 5.1.x pairs TensorRT 8.5 with CUDA 11.4, and Xavier
/// boards have no JetPack 6.
#[rustfmt::skip]
const FACTS: &[Facts] = &[
    Facts { name: "jetson-orin-nano-4gb", engine: Engine::Tensorrt, jetpack: JP6, tensorrt: TRT10, cuda: CUDA12, sm: Some(87), dla: 0, ram_mb: Some(4096), gpio: true },
    Facts { name: "jetson-orin-nano-8gb", engine: Engine::Tensorrt, jetpack: JP6, tensorrt: TRT10, cuda: CUDA12, sm: Some(87), dla: 0, ram_mb: Some(8192), gpio: true },
    Facts { name: "jetson-orin-nx-8gb", engine: Engine::Tensorrt, jetpack: JP6, tensorrt: TRT10, cuda: CUDA12, sm: Some(87), dla: 1, ram_mb: Some(8192), gpio: true },
    Facts { name: "jetson-orin-nx-16gb", engine: Engine::Tensorrt, jetpack: JP6, tensorrt: TRT10, cuda: CUDA12, sm: Some(87), dla: 2, ram_mb: Some(16384), gpio: true },
    Facts { name: "jetson-agx-orin-32gb", engine: Engine::Tensorrt, jetpack: JP6, tensorrt: TRT10, cuda: CUDA12, sm: Some(87), dla: 2, ram_mb: Some(32768), gpio: true },
    Facts { name: "jetson-agx-orin-64gb", engine: Engine::Tensorrt, jetpack: JP6, tensorrt: TRT10, cuda: CUDA12, sm: Some(87), dla: 2, ram_mb: Some(65536), gpio: true },
    Facts { name: "jetson-xavier-nx", engine: Engine::Tensorrt, jetpack: JP5, tensorrt: TRT8, cuda: CUDA11, sm: Some(72), dla: 2, ram_mb: Some(8192), gpio: true },
    Facts { name: "jetson-agx-xavier", engine: Engine::Tensorrt, jetpack: JP5, tensorrt: TRT8, cuda: CUDA11, sm: Some(72), dla: 2, ram_mb: Some(32768), gpio: true },
    Facts { name: "x86-gpu", engine: Engine::Tensorrt, jetpack: None, tensorrt: TRT10, cuda: CUDA12, sm: Some(86), dla: 0, ram_mb: None, gpio: false },
    Facts { name: "x86-cpu", engine: Engine::Ort, jetpack: None, tensorrt: None, cuda: None, sm: None, dla: 0, ram_mb: None, gpio: false },
];

fn version(v: Option<(u32, u32)>) -> Option<Version> {
    v.map(|(major, minor)| Version::new(major, minor))
}

#[test]
fn every_builtin_matches_its_published_facts() {
    let mut names: Vec<&str> = FACTS.iter().map(|f| f.name).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        Board::builtin_names(),
        "the fact table and the shipped profiles differ (the profile list is sorted)"
    );
    for f in FACTS {
        let b = Board::builtin(f.name).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        let name = f.name;
        assert_eq!(b.engine, f.engine, "{name}: engine");
        assert_eq!(b.jetpack, version(f.jetpack), "{name}: JetPack");
        assert_eq!(b.tensorrt, version(f.tensorrt), "{name}: TensorRT");
        assert_eq!(b.cuda, version(f.cuda), "{name}: CUDA");
        assert_eq!(b.cuda_arch_sm, f.sm, "{name}: SM");
        assert_eq!(b.dla_cores, f.dla, "{name}: DLA cores");
        assert_eq!(b.gpio.is_some(), f.gpio, "{name}: GPIO block");
        // The cudarc feature follows the CUDA of the release: 11.4 on JetPack 5, 12.6 on 6.
        let feature = match f.cuda {
            Some((11, 4)) => Some(CudaFeature::Cuda11040),
            Some((12, 6)) => Some(CudaFeature::Cuda12060),
            None => None,
            Some(other) => panic!("{name}: no cudarc feature for CUDA {other:?}"),
        };
        assert_eq!(b.cuda_feature, feature, "{name}: cudarc feature");
        if let Some(ram) = f.ram_mb {
            // CPU, GPU, OS and camera share the module's RAM: at most half goes to the app.
            assert!(
                b.memory_budget_mb > 0 && b.memory_budget_mb <= ram / 2,
                "{name}: budget {} MiB of {ram} MiB",
                b.memory_budget_mb
            );
        }
        if b.cuda_arch_sm == Some(72) {
            assert_eq!(
                b.jetpack.map(|v| v.major),
                Some(5),
                "{name}: Xavier is JetPack 5 only"
            );
        }
        if b.jetpack.is_some() {
            assert!(
                b.description.contains("not verified on hardware"),
                "{name}: the description must say what was not verified"
            );
        }
    }
}

#[test]
fn builtin_facts_match_the_design() {
    let nano = Board::builtin("jetson-orin-nano-8gb").expect("nano");
    assert_eq!(nano.engine, Engine::Tensorrt);
    assert_eq!(nano.jetpack, Some(Version::new(6, 1)));
    assert_eq!(nano.tensorrt, Some(Version::new(10, 3)));
    assert_eq!(nano.cuda, Some(Version::new(12, 6)));
    assert_eq!(nano.cuda_feature, Some(CudaFeature::Cuda12060));
    assert_eq!(nano.cuda_arch_sm, Some(87));
    assert_eq!(nano.dla_cores, 0);

    let agx = Board::builtin("jetson-agx-orin-64gb").expect("agx");
    assert_eq!(agx.tensorrt, Some(Version::new(10, 3)));
    assert_eq!(agx.cuda_arch_sm, Some(87));
    assert_eq!(agx.dla_cores, 2);

    let nx = Board::builtin("jetson-xavier-nx").expect("xavier nx");
    assert_eq!(nx.jetpack, Some(Version::new(5, 1)));
    assert_eq!(nx.tensorrt, Some(Version::new(8, 5)));
    assert_eq!(nx.cuda, Some(Version::new(11, 4)));
    assert_eq!(nx.cuda_feature, Some(CudaFeature::Cuda11040));
    assert_eq!(nx.cuda_arch_sm, Some(72));
    assert_eq!(nx.dla_cores, 2);

    let cpu = Board::builtin("x86-cpu").expect("x86");
    assert_eq!(cpu.engine, Engine::Ort);
    assert_eq!(
        (cpu.tensorrt, cpu.cuda, cpu.cuda_arch_sm),
        (None, None, None)
    );
    assert!(cpu.gpio.is_none());
    assert_eq!(cpu.camera.pixel_format, PixelFormat::Yuyv);
}

#[test]
fn unknown_builtin_lists_the_known_ones() {
    let err = Board::builtin("jetson-nano-classic").expect_err("not shipped");
    let text = err.to_string();
    assert!(matches!(err, Error::UnknownBoard { .. }), "{text}");
    assert!(
        text.contains("jetson-nano-classic") && text.contains("x86-cpu"),
        "{text}"
    );
}

#[test]
fn unknown_key_is_named() {
    let text = nano_with("fps = 30", "fps = 30\nexposure_us = 100");
    let err = Board::from_toml_str(&text, "station.toml").expect_err("unknown key");
    let msg = err.to_string();
    match &err {
        Error::Parse {
            origin, location, ..
        } => {
            assert_eq!(origin, "station.toml");
            assert_eq!(location.key.as_deref(), Some("camera.exposure_us"), "{msg}");
            assert!(location.line.is_some(), "{msg}");
        }
        other => panic!("expected a parse error, got {other}"),
    }
    assert!(
        msg.contains("station.toml") && msg.contains("exposure_us"),
        "{msg}"
    );
}

#[test]
fn bad_enum_value_is_named() {
    let text = nano_with("engine = \"tensorrt\"", "engine = \"cuda\"");
    let err = Board::from_toml_str(&text, "station.toml").expect_err("bad engine");
    let msg = err.to_string();
    match &err {
        Error::Parse { location, .. } => {
            assert_eq!(location.key.as_deref(), Some("engine"), "{msg}");
            assert_eq!(location.value.as_deref(), Some("\"cuda\""), "{msg}");
        }
        other => panic!("expected a parse error, got {other}"),
    }
    assert!(msg.contains("ort") && msg.contains("tensorrt"), "{msg}");

    let text = nano_with("trigger_edge = \"rising\"", "trigger_edge = \"up\"");
    let msg = Board::from_toml_str(&text, "station.toml")
        .expect_err("bad edge")
        .to_string();
    assert!(
        msg.contains("gpio.trigger_edge") && msg.contains("\"up\""),
        "{msg}"
    );
}

#[test]
fn bad_version_is_named() {
    let text = nano_with("tensorrt = \"10.3\"", "tensorrt = \"ten\"");
    let msg = Board::from_toml_str(&text, "station.toml")
        .expect_err("bad version")
        .to_string();
    assert!(
        msg.contains("`tensorrt`") && msg.contains("\"ten\""),
        "{msg}"
    );
}

#[test]
fn duplicate_gpio_line_is_named() {
    let text = nano_with("fail_line = 43", "fail_line = 106");
    let err = Board::from_toml_str(&text, "station.toml").expect_err("duplicate line");
    match &err {
        Error::Invalid {
            origin,
            key,
            value,
            reason,
        } => {
            assert_eq!(origin, "station.toml");
            assert_eq!(key, "gpio.fail_line");
            assert_eq!(value, "106");
            assert!(reason.contains("gpio.pass_line"), "{reason}");
        }
        other => panic!("expected a validation error, got {other}"),
    }
}

#[test]
fn tensorrt_engine_needs_versions() {
    let mut board = Board::builtin("jetson-orin-nano-8gb").expect("nano");
    board.cuda_arch_sm = None;
    let msg = board.validate().expect_err("no SM").to_string();
    assert!(
        msg.contains("cuda_arch_sm") && msg.contains("(missing)"),
        "{msg}"
    );

    let mut board = Board::builtin("jetson-orin-nano-8gb").expect("nano");
    board.tensorrt = None;
    let msg = board.validate().expect_err("no TensorRT").to_string();
    assert!(msg.contains("`tensorrt`"), "{msg}");
}

#[test]
fn cuda_feature_must_match_cuda() {
    let mut board = Board::builtin("jetson-xavier-nx").expect("nx");
    board.cuda_feature = Some(CudaFeature::Cuda12060);
    let msg = board
        .validate()
        .expect_err("JP5 with the 12.6 feature")
        .to_string();
    assert!(
        msg.contains("cuda_feature") && msg.contains("cuda-12060"),
        "{msg}"
    );
}

#[test]
fn zero_budget_and_relative_device_are_rejected() {
    let mut board = Board::builtin("x86-cpu").expect("x86");
    board.memory_budget_mb = 0;
    assert!(board
        .validate()
        .expect_err("zero budget")
        .to_string()
        .contains("memory_budget_mb"));

    let mut board = Board::builtin("x86-cpu").expect("x86");
    board.camera.device = PathBuf::from("video0");
    let msg = board.validate().expect_err("relative device").to_string();
    assert!(
        msg.contains("camera.device") && msg.contains("video0"),
        "{msg}"
    );
}

#[test]
fn round_trip_through_toml() {
    for name in Board::builtin_names() {
        let board = Board::builtin(name).expect("builtin");
        let text = board.to_toml_string().expect("serialise");
        let again = Board::from_toml_str(&text, "round trip").expect("parse back");
        assert_eq!(again, board, "{name}:\n{text}");
    }
}

#[test]
fn user_profile_loads_from_a_path() {
    let mut board = Board::builtin("jetson-orin-nano-8gb").expect("nano");
    board.name = "line-3-station".into();
    board.memory_budget_mb = 2048;
    if let Some(gpio) = board.gpio.as_mut() {
        gpio.trigger_edge = TriggerEdge::Falling;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("line-3-station.toml");
    std::fs::write(&path, board.to_toml_string().expect("serialise")).expect("write temp");
    let loaded = Board::from_path(&path);
    let via_spec = Board::load(&path.display().to_string());
    assert_eq!(loaded.expect("load from path"), board);
    assert_eq!(via_spec.expect("load by spec"), board);
    assert_eq!(Board::load("x86-cpu").expect("by name").name, "x86-cpu");
}

#[test]
fn unreadable_file_names_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("does-not-exist.toml");
    let msg = Board::from_path(&path)
        .expect_err("missing file")
        .to_string();
    assert!(msg.contains("does-not-exist.toml"), "{msg}");
}

#[test]
fn missing_table_is_named() {
    let text = "name = \"a\"\ndescription = \"b\"\nengine = \"ort\"\nmemory_budget_mb = 1\n";
    let msg = Board::from_toml_str(text, "bare.toml")
        .expect_err("no camera")
        .to_string();
    assert!(msg.contains("camera"), "{msg}");
}
