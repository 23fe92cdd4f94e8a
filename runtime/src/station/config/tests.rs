//! station.toml: the shipped example, board defaults, and errors that name the key.

use super::*;

const EXAMPLE: &str = include_str!("../../../../examples/station.toml");

fn plan(text: &str) -> Result<Plan> {
    let origin = Path::new("/etc/adapts/station.toml");
    StationConfig::parse(text, origin)?.plan(origin, Path::new("/etc/adapts"))
}

fn error(text: &str) -> String {
    plan(text).expect_err("must be refused").to_string()
}

#[test]
fn the_shipped_example_reads_with_board_defaults() {
    let p = plan(EXAMPLE).expect("example");
    assert_eq!(p.bundle, Path::new("/etc/adapts/../out/demo/bundle"));
    assert_eq!(p.board.as_deref(), Some("jetson-orin-nano-8gb"));
    assert_eq!(p.deadline, Some(Duration::from_millis(150)));
    assert_eq!(p.capture_timeout, Duration::from_millis(500));
    let board = Board::builtin("jetson-orin-nano-8gb").unwrap();
    let gpio = board.gpio.expect("the Orin Nano profile has GPIO");
    let TriggerPlanKind::Gpio(t) = &p.trigger else {
        panic!("gpio trigger, got {:?}", p.trigger)
    };
    assert_eq!(t.chip, gpio.chip);
    assert_eq!(t.line.offset, gpio.trigger_line);
    assert_eq!(t.debounce, Duration::from_micros(2000));
    assert_eq!(t.select.len(), 2);
    assert_eq!(t.jobs[&2], "washer");
    let o = p.outputs.as_ref().expect("outputs");
    assert_eq!(o.pass.unwrap().offset, gpio.pass_line);
    assert_eq!(o.fail.unwrap().offset, gpio.fail_line);
    assert!(o.fault.unwrap().active_low);
    assert_eq!(o.pulse, Some(Duration::from_millis(50)));
    assert_eq!(p.sensitivity["washer"], 0.9);
    let r = p.results.as_ref().unwrap();
    assert_eq!((r.max_bytes, r.keep), (64 << 20, 8));
    assert_eq!(p.heatmaps.as_ref().unwrap().max_files, 1000);
    assert!(p.watch && p.stdout);
    let CameraPlan::V4l2 {
        width,
        pixel_format,
        buffers,
        ..
    } = &p.camera
    else {
        panic!("v4l2 camera, got {:?}", p.camera)
    };
    assert_eq!(
        (*width, *pixel_format, *buffers),
        (1280, PixelFormat::Yuyv, 2)
    );
}

#[test]
fn a_minimal_file_is_a_stdin_station_over_a_folder() {
    let p = plan("bundle = \"b\"\n[camera]\npath = \"frames\"\nloop = true\n").unwrap();
    assert_eq!(
        p.camera,
        CameraPlan::Dir {
            path: "/etc/adapts/frames".into(),
            looping: true
        }
    );
    assert_eq!(p.trigger, TriggerPlanKind::Stdin);
    assert_eq!(p.outputs, None);
    assert_eq!(p.deadline, None);
    assert_eq!(p.results, None);
    assert_eq!(p.engine, crate::engine::choice::EngineKind::Cpu);
    let p = plan("bundle = \"b\"\nengine = \"auto\"\n[camera]\npath = \"f\"\n").unwrap();
    assert_eq!(p.engine, crate::engine::choice::EngineKind::Auto);
}

#[test]
fn bad_keys_and_values_are_named() {
    let cases = [
        ("bundle = \"b\"\nbundel = \"c\"\n", "bundel"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\nlopo = true\n", "lopo"),
        ("bundle = \"b\"\ndeadline_ms = \"soon\"\n", "deadline_ms"),
        ("[camera]\npath = \"f\"\n", "`bundle` is missing"),
        ("bundle = \"b\"\nboard = \"jetson-nano-9000\"\n[camera]\npath = \"f\"\n", "jetson-nano-9000"),
        ("bundle = \"b\"\n[camera]\nkind = \"gige\"\n", "`camera.kind` = \"gige\""),
        ("bundle = \"b\"\n[camera]\nkind = \"v4l2\"\n", "`camera.device` is missing"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\nwidth = 640\n", "`camera.width`"),
        ("bundle = \"b\"\n[camera]\ndevice = \"/dev/video0\"\nwidth = 8\nheight = 8\npixel_format = \"GREY\"\nbuffers = 1\n", "`camera.buffers` = 1"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\n[trigger]\nkind = \"every\"\n", "trigger.period_ms"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\n[trigger]\nline = 4\n", "`trigger.line`"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\n[trigger]\nkind = \"gpio\"\n", "`trigger.chip` is missing"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\n[trigger]\nkind = \"gpio\"\nchip = \"/dev/gpiochip0\"\nline = 3\nselect_lines = [1]\n[trigger.jobs]\n2 = \"x\"\n", "`trigger.jobs.2`"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\n[outputs]\nchip = \"/dev/gpiochip0\"\npass = { line = 1 }\nfail = { line = 1 }\n", "both use line 1"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\n[outputs]\nchip = \"c\"\npass = { line = 1 }\n", "outputs.fail"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\n[sensitivity]\nwasher = -1.0\n", "sensitivity.washer"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\n[results]\nkeep = 3\n", "results.path"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\n[heatmaps]\ndir = \"h\"\nmax_mb = 0\n", "heatmaps.max_mb"),
        ("bundle = \"b\"\n[camera]\npath = \"f\"\ncamera_timeout = 3\n", "camera_timeout"),
        ("bundle = \"b\"\nengine = \"gpu\"\n[camera]\npath = \"f\"\n", "key `engine` = \"gpu\""),
    ];
    for (text, named) in cases {
        let err = error(text);
        assert!(err.contains(named), "{named:?} not in: {err}");
        assert!(err.contains("station.toml"), "the file is named: {err}");
    }
    // toml's own errors carry the line.
    assert!(error("bundle = \"b\"\nbundel = \"c\"\n").contains("line 2"));
}

#[test]
fn trust_keys_resolve_against_the_file_and_unknown_trust_keys_are_refused() {
    let p = plan(EXAMPLE).expect("example");
    assert_eq!(p.trust_keys, [Path::new("/etc/adapts/line3.pub")]);
    assert!(!p.allow_downgrade);
    let p = plan(
        "bundle = \"b\"\ncamera.path = \"f\"\n[trust]\nkeys = [\"k/old.pub\", \"/k/new.pub\"]\n\
         allow_downgrade = true\n",
    )
    .expect("plan");
    assert_eq!(
        p.trust_keys,
        [Path::new("/etc/adapts/k/old.pub"), Path::new("/k/new.pub")]
    );
    assert!(p.allow_downgrade);
    let text = error("bundle = \"b\"\ncamera.path = \"f\"\n[trust]\nkey = \"k.pub\"\n");
    assert!(text.contains("key"), "{text}");
    let text = error("bundle = \"b\"\ncamera.path = \"f\"\n[trust]\nallow_downgrade = 1\n");
    assert!(text.contains("allow_downgrade"), "{text}");
}

#[test]
fn a_config_file_over_the_size_limit_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.toml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(crate::limits::MAX_CONFIG_BYTES + 1).unwrap();
    let err = StationConfig::read(&path).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
}
