//! `adapts-runtime run`, `info` and `station` as a user runs them, on a tiny real bundle: the
//! `fixtures/tiny_*.onnx` graphs (trivial numerics, real ONNX Runtime, written by
//! `fixtures/make_tiny_bundle_graphs.py`) assembled with `BundleWriter`.
//!
//! Products: `red` (identity adapter: score 0, PASS) and `blue` (shifting adapter: score 1,
//! FAIL anomaly at threshold 0.5); prototypes are the pooled trunk features of a uniformly
//! red or blue frame, so a green frame is an unknown product.

use std::path::{Path, PathBuf};
use std::process::Command;

use adapts_runtime::bundle::{
    sign_bundle, BundleWriter, Manifest, Precision, Product, RoutingModel, ScoreStats, Scoring,
    StageInfo, TrunkInfo,
};
use adapts_runtime::pipeline::{Pipeline, Reason, Verdict};
use adapts_runtime::preprocess::{Normalization, Preprocess};
use adapts_runtime::trust::{public_path_of, SecretKey};
use adapts_runtime::SessionConfig;
use image::{Rgb, RgbImage};
use serde_json::Value;

use crate::fixture::fixture_dir;

const RED: Rgb<u8> = Rgb([250, 10, 10]);
const BLUE: Rgb<u8> = Rgb([10, 10, 250]);
const GREEN: Rgb<u8> = Rgb([10, 250, 10]);

fn graph(name: &str) -> anyhow::Result<Vec<u8>> {
    Ok(std::fs::read(fixture_dir().join(format!("tiny_{name}")))?)
}

/// The routing vector the tiny trunk produces for a uniform frame: the normalised colour.
fn prototype(colour: Rgb<u8>) -> Vec<f32> {
    let img = RgbImage::from_pixel(8, 8, colour);
    let planar = Preprocess::full_frame(8, Normalization::Imagenet).apply(&img);
    planar
        .chunks(64)
        .map(|c| c.iter().sum::<f32>() / 64.0)
        .collect()
}

fn product(name: &str, colour: Rgb<u8>) -> Product {
    Product {
        name: name.into(),
        prototype: prototype(colour),
        routing: RoutingModel::Euclidean,
        routing_radius: 0.5,
        threshold: 0.5,
        normal_stats: ScoreStats {
            count: 4,
            mean: 0.1,
            std: 0.01,
            p50: 0.1,
            p99: 0.2,
            max: 0.2,
        },
        precision: Precision::Int8,
        adapters: vec![format!("products/{name}/layer2.onnx")],
        bytes: 145,
    }
}

/// Writes the tiny bundle into `dir`; `head` names the fixture graph used as head.
fn write_bundle(dir: &Path, head: &str) -> anyhow::Result<Manifest> {
    let mut writer = BundleWriter::create(dir)?;
    writer.add_file("trunk.onnx", &graph("trunk.onnx")?)?;
    writer.add_file("head.onnx", &graph(head)?)?;
    writer.add_file("products/red/layer2.onnx", &graph("adapter_identity.onnx")?)?;
    writer.add_file("products/blue/layer2.onnx", &graph("adapter_shift.onnx")?)?;
    let manifest = Manifest {
        tool_version: "fixture".into(),
        sequence: 0,
        trunk: TrunkInfo {
            id: "tiny".into(),
            weights_sha256: "0".repeat(64),
            input_size: 8,
            normalization: Normalization::Imagenet,
        },
        preset: "S".into(),
        adapted: vec![StageInfo {
            name: "layer2".into(),
            channels: 3,
            height: 2,
            width: 2,
        }],
        later_stages: vec![],
        trunk_graph: "trunk.onnx".into(),
        head_graph: "head.onnx".into(),
        routing_stage: "layer2".into(),
        routing_dim: 3,
        scoring: Scoring::Distance,
        products: vec![product("red", RED), product("blue", BLUE)],
        files: vec![],
    };
    Ok(writer.finish(manifest)?)
}

/// Frames: `blue/0.png`, `broken.png` (not an image), `green.png`, `red/0.png`.
fn write_frames(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("red"))?;
    std::fs::create_dir_all(dir.join("blue"))?;
    RgbImage::from_pixel(16, 12, RED).save(dir.join("red/0.png"))?;
    RgbImage::from_pixel(16, 12, BLUE).save(dir.join("blue/0.png"))?;
    RgbImage::from_pixel(16, 12, GREEN).save(dir.join("green.png"))?;
    std::fs::write(dir.join("broken.png"), b"not a png")?;
    Ok(())
}

fn runtime() -> Command {
    Command::new(env!("CARGO_BIN_EXE_adapts-runtime"))
}

/// `station` over the setup's bundle and frames (looping), triggered by lines on a piped
/// stdin, answering on a piped stdout.
fn stdin_station(s: &Setup) -> Command {
    let mut cmd = runtime();
    cmd.args(["station", "--bundle"])
        .arg(&s.bundle)
        .arg("--camera")
        .arg(format!("dir:{}", s.frames.display()))
        .args(["--loop", "--trigger", "stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    cmd
}

fn lines(path: &Path) -> anyhow::Result<Vec<Value>> {
    std::fs::read_to_string(path)?
        .lines()
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

struct Setup {
    _tmp: tempfile::TempDir,
    bundle: PathBuf,
    frames: PathBuf,
    root: PathBuf,
}

fn setup() -> anyhow::Result<Setup> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().to_path_buf();
    let bundle = root.join("bundle");
    write_bundle(&bundle, "head.onnx")?;
    let frames = root.join("frames");
    write_frames(&frames)?;
    Ok(Setup {
        _tmp: tmp,
        bundle,
        frames,
        root,
    })
}

#[test]
fn run_writes_one_line_per_frame_with_verdicts_and_heatmaps() -> anyhow::Result<()> {
    let s = setup()?;
    let out = s.root.join("out/results.jsonl");
    let heatmaps = s.root.join("heat");
    let status = runtime()
        .arg("run")
        .arg("--bundle")
        .arg(&s.bundle)
        .arg("--source")
        .arg(format!("dir:{}", s.frames.display()))
        .arg("--out")
        .arg(&out)
        .arg("--heatmaps")
        .arg(&heatmaps)
        .args(["--threads", "1"])
        .output()?;
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("engine: ONNX Runtime"), "{stderr}");
    assert!(
        stderr.contains("4 frames: PASS 1, FAIL 3 (anomaly 1, error 1, unknown_product 1)"),
        "{stderr}"
    );

    let results = lines(&out)?;
    let ids: Vec<&str> = results.iter().filter_map(|r| r["image"].as_str()).collect();
    assert_eq!(ids, ["blue/0.png", "broken.png", "green.png", "red/0.png"]);

    let blue = &results[0];
    assert_eq!(blue["product"], "blue");
    assert_eq!(blue["verdict"], "FAIL");
    assert_eq!(blue["reason"], "anomaly");
    assert_eq!(blue["score"], 1.0);
    assert_eq!(blue["threshold"], 0.5);
    assert_eq!(blue["ratio"], 2.0);
    assert!(
        blue["distance"].as_f64().is_some_and(|d| d < 1e-6),
        "{blue}"
    );
    assert!(blue["latency_ms"]["total"]
        .as_f64()
        .is_some_and(|t| t > 0.0));
    let heatmap = PathBuf::from(blue["heatmap"].as_str().expect("heatmap path"));
    assert_eq!(heatmap, heatmaps.join("blue__0.png"));
    assert_eq!(image::open(&heatmap)?.to_rgb8().dimensions(), (8, 8));

    let broken = &results[1];
    assert_eq!(broken["verdict"], "FAIL");
    assert_eq!(broken["reason"], "error");
    assert!(
        broken["message"]
            .as_str()
            .is_some_and(|m| m.contains("broken.png")),
        "{broken}"
    );
    assert_eq!(broken["score"], Value::Null);

    let green = &results[2];
    assert_eq!(green["verdict"], "FAIL");
    assert_eq!(green["reason"], "unknown_product");
    assert_eq!(green["product"], Value::Null);
    assert!(
        green["distance"].as_f64().is_some_and(|d| d > 0.5),
        "{green}"
    );
    assert_eq!(green["routing_radius"], 0.5);
    assert_eq!(green["heatmap"], Value::Null);

    let red = &results[3];
    assert_eq!(red["product"], "red");
    assert_eq!(red["verdict"], "PASS");
    assert_eq!(red["reason"], Value::Null);
    assert_eq!(red["ratio"], 0.0);

    // Only the FAIL frame with a map got a heatmap, and no temp file is left behind.
    assert_eq!(std::fs::read_dir(&heatmaps)?.count(), 1);
    let names: Vec<String> = std::fs::read_dir(out.parent().expect("parent"))?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(names, ["results.jsonl"]);
    Ok(())
}

#[test]
fn product_override_judges_every_frame_as_that_product() -> anyhow::Result<()> {
    let s = setup()?;
    let out = s.root.join("results.jsonl");
    let status = runtime()
        .arg("run")
        .arg("--bundle")
        .arg(&s.bundle)
        .arg("--source")
        .arg(format!("dir:{}", s.frames.display()))
        .arg("--out")
        .arg(&out)
        .args(["--product", "red"])
        .output()?;
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let results = lines(&out)?;
    // The blue and green frames are judged with red's (identity) adapter: PASS, far away.
    for i in [0, 2, 3] {
        assert_eq!(results[i]["product"], "red", "{}", results[i]);
        assert_eq!(results[i]["verdict"], "PASS", "{}", results[i]);
    }
    assert!(results[0]["distance"].as_f64().is_some_and(|d| d > 1.0));
    Ok(())
}

#[test]
fn setup_errors_exit_with_2_and_say_why() -> anyhow::Result<()> {
    let s = setup()?;
    let out = s.root.join("results.jsonl");
    let run = |extra: &[&str], bundle: &Path, source: &str| -> anyhow::Result<(i32, String)> {
        let o = runtime()
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg("--source")
            .arg(source)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()?;
        Ok((
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ))
    };
    let dir_source = format!("dir:{}", s.frames.display());

    let (code, stderr) = run(&["--product", "gearbox"], &s.bundle, &dir_source)?;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`gearbox`") && stderr.contains("`red`"),
        "{stderr}"
    );

    let (code, stderr) = run(&[], &s.bundle, "v4l:/dev/video0")?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not supported in this build"), "{stderr}");

    let (code, stderr) = run(&[], &s.root.join("nope"), &dir_source)?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("manifest.postcard"), "{stderr}");

    // A corrupted graph: refused before any frame, naming the file.
    let trunk = s.bundle.join("trunk.onnx");
    let mut bytes = std::fs::read(&trunk)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&trunk, bytes)?;
    let (code, stderr) = run(&[], &s.bundle, &dir_source)?;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("trunk.onnx") && stderr.contains("corrupted"),
        "{stderr}"
    );
    assert!(!out.exists());
    Ok(())
}

/// On a machine without a GPU (this one, in CI), every GPU command stops before touching
/// the bundle's plans, with the error that names what is missing.
#[test]
fn gpu_commands_without_a_gpu_say_what_is_missing() -> anyhow::Result<()> {
    let s = setup()?;
    let expect_missing = |args: &[&str]| -> anyhow::Result<String> {
        let o = runtime().args(args).output()?;
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        // A build without the `gpu` feature says so; a GPU build names the first library
        // it cannot find (this machine has ONNX Runtime's CPU build only).
        assert!(
            stderr.contains("--features gpu") || stderr.contains("not found (looked in"),
            "{args:?}: {stderr}"
        );
        Ok(stderr)
    };
    let bundle = s.bundle.to_str().unwrap();
    let stderr = expect_missing(&["plan", "--bundle", bundle])?;
    assert!(stderr.contains("--engine tensorrt"), "{stderr}");
    assert!(!s.root.join("bundle.plans").exists(), "no store is created");
    expect_missing(&[
        "gpu-check",
        "--images",
        s.frames.join("red").to_str().unwrap(),
    ])?;
    let out = s.root.join("r.jsonl");
    let source = format!("dir:{}", s.frames.display());
    let out_arg = out.to_str().unwrap();
    let stderr = expect_missing(&[
        "run", "--bundle", bundle, "--source", &source, "--out", out_arg, "--engine", "tensorrt",
    ])?;
    assert!(stderr.contains("--engine tensorrt"), "{stderr}");
    assert!(!out.exists());

    // A board without DLA refuses --dla before anything else is tried.
    let o = runtime()
        .args([
            "plan",
            "--bundle",
            bundle,
            "--board",
            "jetson-orin-nano-8gb",
            "--dla",
            "0",
        ])
        .output()?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has 0 DLA cores"), "{stderr}");
    Ok(())
}

#[test]
fn info_reports_products_and_footprint() -> anyhow::Result<()> {
    let s = setup()?;
    let o = runtime()
        .arg("info")
        .arg("--bundle")
        .arg(&s.bundle)
        .arg("--json")
        .output()?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value = serde_json::from_slice(&o.stdout)?;
    assert_eq!(report["trunk"]["id"], "tiny");
    assert_eq!(report["preset"], "S");
    assert_eq!(report["products"][0]["name"], "red");
    assert_eq!(report["products"][1]["name"], "blue");
    assert_eq!(report["products"][1]["precision"], "int8");
    assert_eq!(report["products"][1]["bytes"], 145);
    assert_eq!(report["products"][1]["threshold"], 0.5);
    assert!(report["total_bytes"].as_u64().is_some_and(|b| b > 500));

    let o = runtime()
        .arg("info")
        .arg("--bundle")
        .arg(&s.bundle)
        .output()?;
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout)?;
    assert!(
        text.contains("verified") && text.contains("blue") && text.contains("int8"),
        "{text}"
    );
    Ok(())
}

#[test]
fn pipeline_refuses_graphs_that_break_the_contract_at_load() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    // An adapter graph (input `x`) where the head (inputs `t0`, `s0`) belongs.
    write_bundle(tmp.path(), "adapter_identity.onnx")?;
    let err = Pipeline::open(tmp.path(), &SessionConfig::default()).expect_err("bad head");
    let msg = err.to_string();
    assert!(msg.contains("head.onnx") && msg.contains("t0"), "{msg}");
    Ok(())
}

#[test]
fn pipeline_runs_the_real_graphs() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    write_bundle(tmp.path(), "head.onnx")?;
    let mut pipeline = Pipeline::open(tmp.path(), &SessionConfig::default())?;
    let r = pipeline.infer(&RgbImage::from_pixel(30, 20, BLUE), None);
    assert_eq!(r.product.as_deref(), Some("blue"));
    assert_eq!(
        (r.verdict, r.reason),
        (Verdict::Fail, Some(Reason::Anomaly))
    );
    let map = r.map.expect("map");
    assert_eq!(map.shape, vec![8, 8]);
    assert!(map.data.iter().all(|&v| (v - 1.0).abs() < 1e-6));
    let r = pipeline.infer(&RgbImage::from_pixel(30, 20, RED), None);
    assert_eq!((r.verdict, r.score), (Verdict::Pass, 0.0));
    Ok(())
}

#[test]
fn station_answers_each_stdin_trigger_with_one_line() -> anyhow::Result<()> {
    use std::io::Write;
    use std::process::Stdio;
    let s = setup()?;
    let mut child = stdin_station(&s).stderr(Stdio::piped()).spawn()?;
    // Frames in path order: blue/0.png, broken.png, green.png, red/0.png, then blue again.
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"TRIGGER\nTRIGGER\nnot a command\nTRIGGER\nTRIGGER red\n\ntrigger\n")?;
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("unknown command `not`"), "{stderr}");
    let lines: Vec<Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 5, "{lines:?}");
    let field = |i: usize, k: &str| lines[i][k].clone();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["trigger"], i as u64 + 1);
    }
    assert_eq!(field(0, "image"), "blue/0.png");
    assert_eq!(field(0, "reason"), "anomaly");
    assert_eq!(field(1, "reason"), "error");
    assert_eq!(field(2, "reason"), "unknown_product");
    assert_eq!(field(3, "product"), "red");
    assert_eq!(field(3, "verdict"), "PASS");
    assert_eq!(field(4, "image"), "blue/0.png");
    // Frames count on across passes of the folder; the broken one has no frame number.
    assert_eq!(field(0, "frame"), 1);
    assert!(field(1, "frame").is_null());
    assert_eq!(field(4, "frame"), 5);
    assert!(field(4, "captured_unix_ms").as_u64().unwrap() > 1_600_000_000_000);
    Ok(())
}

#[test]
fn station_free_runs_count_triggers_and_names_a_bad_trigger() -> anyhow::Result<()> {
    let s = setup()?;
    let camera = format!("dir:{}", s.frames.display());
    let out = runtime()
        .args(["station", "--bundle"])
        .arg(&s.bundle)
        .args([
            "--camera",
            &camera,
            "--loop",
            "--trigger",
            "every:2ms",
            "--count",
            "6",
        ])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let triggers: Vec<u64> = lines.iter().filter_map(|l| l["trigger"].as_u64()).collect();
    assert_eq!(triggers, [1, 2, 3, 4, 5, 6]);
    let out = runtime()
        .args(["station", "--bundle"])
        .arg(&s.bundle)
        .args(["--camera", &camera, "--trigger", "every:soon"])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`soon`"));
    Ok(())
}

#[test]
fn bench_times_pipeline_and_bare_trunk_in_one_run() -> anyhow::Result<()> {
    let s = setup()?;
    let out = runtime()
        .args(["bench", "--bundle"])
        .arg(&s.bundle)
        .args(["--iters", "30", "--warmup", "3", "--json"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["iters"], 30);
    assert_eq!(v["products"], 2);
    let (pipe, bare) = (&v["pipeline_ms"], &v["trunk_ms"]);
    for spread in [pipe, bare] {
        let (p50, p99, max) = (
            spread["p50"].as_f64(),
            spread["p99"].as_f64(),
            spread["max"].as_f64(),
        );
        let (p50, p99, max) = (p50.unwrap(), p99.unwrap(), max.unwrap());
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{spread}");
    }
    let ratio = v["ratio_p50"].as_f64().unwrap();
    let want = pipe["p50"].as_f64().unwrap() / bare["p50"].as_f64().unwrap();
    assert!((ratio - want).abs() < 1e-9, "{ratio} vs {want}");
    // A frames folder with nothing readable is an error naming it.
    let empty = s.root.join("empty");
    std::fs::create_dir_all(&empty)?;
    let out = runtime()
        .args(["bench", "--bundle"])
        .arg(&s.bundle)
        .arg("--images")
        .arg(&empty)
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no images"));
    Ok(())
}

/// Writes a key pair `dir/line.key` (+ `.pub`) and returns the public key's path.
fn key_pair(dir: &Path, seed: u8) -> anyhow::Result<PathBuf> {
    let key = dir.join(format!("line{seed}.key"));
    SecretKey::from_seed([seed; 32]).write_new(&key)?;
    Ok(public_path_of(&key))
}

#[test]
fn a_station_with_a_trust_key_serves_a_signed_bundle_and_refuses_an_unsigned_one(
) -> anyhow::Result<()> {
    use std::io::Write;
    use std::process::Stdio;
    let s = setup()?;
    let trusted = key_pair(&s.root, 1)?;
    let station = |trust: Option<&Path>| -> anyhow::Result<std::process::Output> {
        let mut cmd = stdin_station(&s);
        if let Some(key) = trust {
            cmd.arg("--trust-key").arg(key);
        }
        let mut child = cmd.stderr(Stdio::piped()).spawn()?;
        child.stdin.take().expect("stdin").write_all(b"TRIGGER\n")?;
        Ok(child.wait_with_output()?)
    };

    // Unsigned, no trust key: served, and the log says signatures are not checked.
    let out = station(None)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("signatures are not checked"), "{stderr}");

    // Unsigned, with a trust key: refused before serving, exit 2, naming why.
    let out = station(Some(&trusted))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not signed"), "{stderr}");
    assert!(out.stdout.is_empty());

    // Signed by the trusted key: served, one line.
    let key = SecretKey::read(&s.root.join("line1.key"))?;
    sign_bundle(&s.bundle, &key, None)?;
    let out = station(Some(&trusted))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(verified)"), "{stderr}");
    assert_eq!(String::from_utf8(out.stdout)?.lines().count(), 1);

    // Trusting another key only: refused, naming the signer.
    let other = key_pair(&s.root, 2)?;
    let out = station(Some(&other))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a trusted key"), "{stderr}");

    // `run` and `info` take the same flag.
    let out = runtime()
        .args(["info", "--bundle"])
        .arg(&s.bundle)
        .arg("--trust-key")
        .arg(&other)
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let out = runtime()
        .args(["run", "--bundle"])
        .arg(&s.bundle)
        .arg("--source")
        .arg(format!("dir:{}", s.frames.display()))
        .arg("--out")
        .arg(s.root.join("r.jsonl"))
        .arg("--trust-key")
        .arg(&trusted)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn a_serving_station_holds_no_socket() -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let s = setup()?;
    let mut child = stdin_station(&s).stderr(Stdio::null()).spawn()?;
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"TRIGGER\n")?;
    // Once the first answer is out, the station is serving.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first)?;
    assert!(first.contains("\"trigger\":1"), "{first}");
    let mut sockets = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{}/fd", child.id()))? {
        let target = std::fs::read_link(fd?.path())?;
        if target.to_string_lossy().starts_with("socket:") {
            sockets.push(target);
        }
    }
    drop(stdin);
    assert!(child.wait()?.success());
    assert!(sockets.is_empty(), "open sockets: {sockets:?}");
    Ok(())
}
