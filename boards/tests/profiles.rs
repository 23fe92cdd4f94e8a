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
        "jetson-orin-nano-8gb",
        "jetson-agx-orin-64gb",
        "jetson-xavier-nx",
        "x86-cpu",
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
