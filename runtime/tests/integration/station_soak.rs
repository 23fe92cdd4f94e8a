//! Soak: 10,000 triggers through the real station loop and the real pipeline (the version-1
//! fixture bundle on ONNX Runtime), with a fake camera that hands over camera buffers (MJPG
//! and YUYV, converted as a V4L2 camera's are) and fake GPIO lines, and faults injected all
//! along: corrupt, truncated and empty frames, capture timeouts, an unplugged
//! camera, a slow engine, bursts of triggers faster than inference, and bundles pushed mid-run
//! to a station that trusts one signing key: a good re-signed one, then one with a bad
//! signature, one with a corrupted graph and a replayed older one (a downgrade), each refused.
//! Every trigger must get exactly one result line and exactly one PASS/FAIL pulse, each fault
//! its reason, with no panic and no lost trigger.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use adapts_boards::PixelFormat;
use adapts_runtime::bundle::{sign_bundle, MANIFEST_FILE};
use adapts_runtime::camera::convert::to_rgb;
use adapts_runtime::camera::{Camera, CaptureError};
use adapts_runtime::pipeline::{Inference, ReasonCode, Verdict};
use adapts_runtime::results::ResultLine;
use adapts_runtime::source::{Frame, FrameError};
use adapts_runtime::station::gpio::{LineOutputs, OutputLines, Signal};
use adapts_runtime::station::journal::Journal;
use adapts_runtime::station::reload::{bundle_loader, load_verified, Admission};
use adapts_runtime::station::{
    run, Controls, Fanout, Judge, Settings, Trigger, TriggerEvent, VerdictSink, Wait,
};
use adapts_runtime::trust::{SecretKey, TrustPolicy};
use adapts_runtime::{Error, SessionConfig};
use image::{Rgb, RgbImage};

use crate::fixture::fixture_dir;

const TRIGGERS: u64 = 10_000;
/// Bundle pushes: each is applied to the bundle folder, then a reload is asked for.
const PUSH_GOOD_AT: u64 = 3_000;
const PUSH_BAD_SIGNATURE_AT: u64 = 5_000;
const PUSH_CORRUPT_GRAPH_AT: u64 = 6_000;
const PUSH_DOWNGRADE_AT: u64 = 7_000;
const DEADLINE: Duration = Duration::from_millis(250);
const WIDTH: u32 = 16;
const HEIGHT: u32 = 12;

/// A change to the bundle folder at a trigger id, followed by a reload request.
type Push = (u64, Box<dyn FnMut() + Send>);

/// Triggers as fast as they are taken, with a burst of 40 at once every 1,000 (more than
/// the queue holds); pushes bundles on the way.
struct Line {
    next: u64,
    controls: Controls,
    pushes: Vec<Push>,
}

impl Trigger for Line {
    fn wait(&mut self, _timeout: Duration) -> adapts_runtime::Result<Wait> {
        if self.next > TRIGGERS {
            return Ok(Wait::Closed);
        }
        let id = self.next;
        self.next += 1;
        if id % 1000 > 40 {
            // Between bursts, about one trigger per frame time.
            std::thread::sleep(Duration::from_micros(300));
        }
        for (at, push) in &mut self.pushes {
            if *at == id {
                push();
                self.controls.reload.store(true, Ordering::SeqCst);
            }
        }
        Ok(Wait::Trigger(TriggerEvent {
            id,
            product: None,
            at: Instant::now(),
        }))
    }
}

/// What the camera gave for each capture, by kind.
#[derive(Default)]
struct Shots {
    kinds: HashMap<&'static str, u64>,
}

/// A camera of PNG frames decoded on capture, with faults on a fixed schedule.
struct FaultyCamera {
    captures: u64,
    /// A red frame as MJPG.
    red: Vec<u8>,
    /// A blue frame as YUYV.
    blue: Vec<u8>,
    shots: Arc<Mutex<Shots>>,
    gone_until: u64,
}

impl FaultyCamera {
    fn new(shots: Arc<Mutex<Shots>>) -> Self {
        let mut red = Vec::new();
        RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([250, 10, 10]))
            .write_to(&mut Cursor::new(&mut red), image::ImageFormat::Jpeg)
            .unwrap();
        // BT.601 limited range for a saturated blue, two pixels per four bytes.
        let blue = [41u8, 240, 41, 110].repeat((WIDTH * HEIGHT / 2) as usize);
        Self {
            captures: 0,
            red,
            blue,
            shots,
            gone_until: 0,
        }
    }
}

impl Camera for FaultyCamera {
    fn capture(&mut self, _after: Instant, _t: Duration) -> Result<Frame, CaptureError> {
        self.captures += 1;
        let n = self.captures;
        let (kind, format, bytes) = if n <= self.gone_until {
            ("gone", PixelFormat::Yuyv, vec![])
        } else if n.is_multiple_of(2_003) {
            // Unplugged for the next three captures.
            self.gone_until = n + 2;
            ("gone", PixelFormat::Yuyv, vec![])
        } else if n.is_multiple_of(97) {
            ("timeout", PixelFormat::Yuyv, vec![])
        } else if n.is_multiple_of(89) {
            let mut garbage = self.red.clone();
            garbage[2..40].fill(0x5A);
            ("corrupt", PixelFormat::Mjpg, garbage)
        } else if n.is_multiple_of(83) {
            let half = self.red[..self.red.len() / 2].to_vec();
            ("truncated", PixelFormat::Mjpg, half)
        } else if n.is_multiple_of(79) {
            ("empty", PixelFormat::Yuyv, vec![])
        } else if n.is_multiple_of(3) {
            ("blue", PixelFormat::Yuyv, self.blue.clone())
        } else {
            ("red", PixelFormat::Mjpg, self.red.clone())
        };
        *self.shots.lock().unwrap().kinds.entry(kind).or_default() += 1;
        let id = format!("cap{n}-{kind}");
        match kind {
            "gone" => return Err(CaptureError::Gone("USB camera unplugged".into())),
            "timeout" => return Err(CaptureError::Timeout(Duration::from_millis(5))),
            _ => {}
        }
        let image = to_rgb(format, WIDTH, HEIGHT, 0, &bytes).map_err(|e| {
            CaptureError::Frame(FrameError {
                id: id.clone(),
                error: Error::Source {
                    spec: "test camera".into(),
                    reason: e.to_string(),
                },
            })
        })?;
        Ok(Frame {
            id,
            image,
            sequence: n,
            captured: SystemTime::now(),
        })
    }

    fn describe(&self) -> String {
        "faulty test camera".into()
    }
}

/// The real pipeline, made slower than the deadline every 1,500th frame.
struct SometimesSlow {
    inner: Box<dyn Judge>,
    calls: Arc<AtomicU64>,
}

impl Judge for SometimesSlow {
    fn judge(&mut self, image: &RgbImage, product: Option<&str>) -> Inference {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n.is_multiple_of(1_500) {
            std::thread::sleep(DEADLINE + Duration::from_millis(50));
        }
        self.inner.judge(image, product)
    }

    fn products(&self) -> Vec<String> {
        self.inner.products()
    }
}

/// Levels now, rising edges so far, and whether PASS and FAIL were ever on together.
type LineState = (HashMap<Signal, bool>, HashMap<Signal, u64>, bool);

/// GPIO output lines that count PASS/FAIL pulses and check they never overlap.
#[derive(Clone, Default)]
struct CountingLines {
    state: Arc<Mutex<LineState>>,
}

impl OutputLines for CountingLines {
    fn set(&mut self, signal: Signal, active: bool) -> adapts_runtime::Result<()> {
        let mut guard = self.state.lock().unwrap();
        let (levels, rises, overlap) = &mut *guard;
        if active && !levels.get(&signal).copied().unwrap_or(false) {
            *rises.entry(signal).or_default() += 1;
        }
        levels.insert(signal, active);
        if levels.get(&Signal::Pass) == Some(&true) && levels.get(&Signal::Fail) == Some(&true) {
            *overlap = true;
        }
        Ok(())
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn read_lines(dir: &Path) -> Vec<ResultLine> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            lines.push(ResultLine::parse(line).expect("every line parses"));
        }
    }
    lines
}

#[test]
fn ten_thousand_triggers_with_faults_each_get_exactly_one_answer() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let bundle = work.path().join("bundle");
    copy_dir(&fixture_dir().join("bundle_v1"), &bundle);
    let config = SessionConfig {
        intra_op_threads: Some(1),
        ..SessionConfig::default()
    };
    let signer = SecretKey::from_seed([5; 32]);
    sign_bundle(&bundle, &signer, None)?;
    let admission = Arc::new(Admission::new(
        TrustPolicy::with_keys(vec![signer.public()]),
        false,
    ));
    let (pipeline, _) = load_verified(&bundle, &config, &admission)?;
    let first_sequence = admission.running_sequence();
    let calls = Arc::new(AtomicU64::new(0));
    let judge = Box::new(SometimesSlow {
        inner: Box::new(pipeline),
        calls: calls.clone(),
    });
    let refusals = Arc::new(Mutex::new(Vec::<String>::new()));
    let loader = {
        let real = bundle_loader(bundle.clone(), config, admission.clone());
        let calls = calls.clone();
        let refusals = refusals.clone();
        Arc::new(move || {
            let loaded = real();
            if let Err(message) = &loaded {
                refusals.lock().unwrap().push(message.clone());
            }
            loaded.map(|(inner, name)| {
                let slow = SometimesSlow {
                    inner,
                    calls: calls.clone(),
                };
                (Box::new(slow) as Box<dyn Judge>, name)
            })
        })
    };
    let controls = Controls::default();
    let manifest = bundle.join(MANIFEST_FILE);
    let first_manifest = std::fs::read(&manifest)?;
    let good_manifest = Arc::new(Mutex::new(Vec::new()));
    let pushes: Vec<Push> = vec![
        (PUSH_GOOD_AT, {
            let (bundle, signer, good) = (bundle.clone(), signer.clone(), good_manifest.clone());
            Box::new(move || {
                sign_bundle(&bundle, &signer, Some(first_sequence + 1)).unwrap();
                *good.lock().unwrap() = std::fs::read(bundle.join(MANIFEST_FILE)).unwrap();
            })
        }),
        (PUSH_BAD_SIGNATURE_AT, {
            let manifest = manifest.clone();
            Box::new(move || {
                let mut bytes = std::fs::read(&manifest).unwrap();
                bytes[40] ^= 0x01;
                std::fs::write(&manifest, bytes).unwrap();
            })
        }),
        (PUSH_CORRUPT_GRAPH_AT, {
            let (bundle, good) = (bundle.clone(), good_manifest.clone());
            Box::new(move || {
                // The good signed manifest again, with a graph changed under it.
                std::fs::write(bundle.join(MANIFEST_FILE), &*good.lock().unwrap()).unwrap();
                let head = bundle.join("head.onnx");
                let mut bytes = std::fs::read(&head).unwrap();
                let k = bytes.len() / 2;
                bytes[k] ^= 0xff;
                std::fs::write(&head, bytes).unwrap();
            })
        }),
        (PUSH_DOWNGRADE_AT, {
            let manifest = manifest.clone();
            Box::new(move || std::fs::write(&manifest, &first_manifest).unwrap())
        }),
    ];
    let trigger = Box::new(Line {
        next: 1,
        controls: controls.clone(),
        pushes,
    });
    let shots = Arc::new(Mutex::new(Shots::default()));
    let lines = CountingLines::default();
    let results = work.path().join("results");
    let journal = Journal::open(&results.join("results.jsonl"), 256 << 10, 100)?;
    let mut sink = Fanout(vec![
        Box::new(LineOutputs::new(
            lines.clone(),
            Some(Duration::from_micros(200)),
        )) as Box<dyn VerdictSink>,
        Box::new(journal),
    ]);
    let settings = Settings {
        deadline: Some(DEADLINE),
        capture_timeout: Duration::from_millis(5),
        ..Settings::default()
    };
    let started = Instant::now();
    let summary = run(
        judge,
        Box::new(FaultyCamera::new(shots.clone())),
        trigger,
        &mut sink,
        Some(loader),
        settings,
        &controls,
    )?;
    let wall = started.elapsed();
    let stats = &summary.stats;
    eprint!("{}", stats.report());
    eprintln!("soak: {TRIGGERS} triggers in {:.1} s", wall.as_secs_f64());

    // Exactly one line per trigger.
    let lines_read = read_lines(&results);
    assert_eq!(lines_read.len() as u64, TRIGGERS);
    let mut ids: Vec<u64> = lines_read.iter().map(|l| l.trigger.unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=TRIGGERS).collect::<Vec<_>>(),
        "each trigger exactly once"
    );
    assert_eq!(stats.answered, TRIGGERS);
    assert_eq!(stats.output_errors, 0);

    // Exactly one PASS or FAIL pulse per trigger, never both lines at once.
    let (_, rises, overlap) = &*lines.state.lock().unwrap();
    let pass = rises.get(&Signal::Pass).copied().unwrap_or(0);
    let fail = rises.get(&Signal::Fail).copied().unwrap_or(0);
    assert_eq!(pass + fail, TRIGGERS);
    assert_eq!(pass, stats.pass);
    assert!(!overlap, "PASS and FAIL were never on together");

    // Each fault with its reason.
    let shots = shots.lock().unwrap();
    let count = |r: ReasonCode| stats.reasons.get(&r).copied().unwrap_or(0);
    let camera_faults = shots.kinds["timeout"] + shots.kinds["gone"];
    assert_eq!(count(ReasonCode::Camera), camera_faults);
    let frame_faults = shots.kinds["corrupt"] + shots.kinds["truncated"] + shots.kinds["empty"];
    assert!(frame_faults > 100, "{frame_faults}");
    assert!(
        count(ReasonCode::Busy) > 0,
        "the bursts overflowed the queue"
    );
    assert!(
        count(ReasonCode::Deadline) > 0 && stats.late > 0,
        "the slow frames"
    );
    for line in &lines_read {
        let kind = line.image.rsplit('-').next().unwrap_or("");
        let expected = match kind {
            "red" => None,
            "blue" => Some(ReasonCode::Anomaly),
            "corrupt" | "truncated" | "empty" => Some(ReasonCode::Error),
            _ => continue,
        };
        // After the bad bundle was refused the old one kept judging, so this holds throughout.
        if line.reason != Some(ReasonCode::Deadline) {
            assert_eq!(line.reason, expected, "{line:?}");
        }
        if line.reason.is_none() {
            assert_eq!(line.verdict, Verdict::Pass);
        }
    }
    let refusals = refusals.lock().unwrap();
    assert_eq!((stats.reloads, stats.refused), (1, 3), "{refusals:?}");
    for (refusal, expected) in refusals.iter().zip([
        "bad signature",
        "corrupted",
        "lower than the running bundle's",
    ]) {
        assert!(refusal.contains(expected), "{refusal}");
    }
    assert_eq!(admission.running_sequence(), first_sequence + 1);
    Ok(())
}
