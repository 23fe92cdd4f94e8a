//! The station loop against scripted triggers, a scripted camera, a fake judge and a
//! recording sink: one answer per trigger, deadlines, the bounded queue, reloads, stopping.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::heatmaps::HeatmapStore;
use super::reload::Loader;
use super::stdio::{parse_line, Command, JsonLinesSink, LineTrigger};
use super::*;
use crate::camera::{Camera, CaptureError};
use crate::error::Error;
use crate::pipeline::{Reason, ReasonCode, Verdict};
use crate::source::{Frame, FrameError};

/// Triggers given all at once, then closed.
struct Burst {
    left: VecDeque<TriggerEvent>,
    gap: Duration,
}

impl Burst {
    fn new(n: u64, gap: Duration) -> Box<Self> {
        Box::new(Self {
            left: (1..=n).map(|id| event(id, None)).collect(),
            gap,
        })
    }
}

impl Trigger for Burst {
    fn wait(&mut self, _timeout: Duration) -> Result<Wait> {
        std::thread::sleep(self.gap);
        Ok(match self.left.pop_front() {
            Some(mut e) => {
                e.at = Instant::now();
                Wait::Trigger(e)
            }
            None => Wait::Closed,
        })
    }
}

fn event(id: u64, product: Option<&str>) -> TriggerEvent {
    TriggerEvent {
        id,
        product: product.map(str::to_string),
        at: Instant::now(),
    }
}

/// What a scripted capture gives.
#[derive(Clone)]
enum Shot {
    Good,
    Bad,
    Corrupt,
    Timeout,
    Gone,
}

/// A camera that plays a script, then gives good frames.
struct Scripted(VecDeque<Shot>, u64);

impl Camera for Scripted {
    fn capture(
        &mut self,
        _after: Instant,
        _t: Duration,
    ) -> std::result::Result<Frame, CaptureError> {
        self.1 += 1;
        let frame = |value: u8| Frame {
            id: format!("f{}", self.1),
            image: image::RgbImage::from_pixel(4, 4, image::Rgb([value; 3])),
            sequence: self.1,
            captured: std::time::SystemTime::now(),
        };
        match self.0.pop_front().unwrap_or(Shot::Good) {
            Shot::Good => Ok(frame(10)),
            Shot::Bad => Ok(frame(200)),
            Shot::Corrupt => Err(CaptureError::Frame(FrameError {
                id: format!("f{}", self.1),
                error: Error::Image {
                    path: "mjpg".into(),
                    message: "corrupt JPEG".into(),
                },
            })),
            Shot::Timeout => Err(CaptureError::Timeout(Duration::from_millis(5))),
            Shot::Gone => Err(CaptureError::Gone("unplugged".into())),
        }
    }

    fn describe(&self) -> String {
        "scripted".into()
    }
}

/// Bright frames are anomalies; every judgement takes `delay`.
struct Brightness {
    delay: Duration,
    threshold: f32,
}

impl Judge for Brightness {
    fn judge(&mut self, image: &image::RgbImage, product: Option<&str>) -> Inference {
        std::thread::sleep(self.delay);
        let mut r = Inference::failed("");
        r.reason = None;
        r.product = Some(product.unwrap_or("bolt").to_string());
        r.score = f32::from(image.get_pixel(0, 0)[0]);
        r.threshold = self.threshold;
        r.ratio = r.score / r.threshold;
        if r.score > r.threshold {
            r.reason = Some(Reason::Anomaly);
        } else {
            r.verdict = Verdict::Pass;
        }
        r
    }

    fn products(&self) -> Vec<String> {
        vec!["bolt".into()]
    }
}

fn judge(delay_ms: u64) -> Box<dyn Judge> {
    Box::new(Brightness {
        delay: Duration::from_millis(delay_ms),
        threshold: 100.0,
    })
}

#[derive(Default)]
struct Recorder {
    signals: Vec<String>,
    lines: Vec<ResultLine>,
}

impl VerdictSink for Recorder {
    fn ready(&mut self, ready: bool) -> Result<()> {
        self.signals.push(format!("ready {ready}"));
        Ok(())
    }
    fn busy(&mut self, busy: bool) -> Result<()> {
        self.signals.push(format!("busy {busy}"));
        Ok(())
    }
    fn fault(&mut self, fault: bool) -> Result<()> {
        self.signals.push(format!("fault {fault}"));
        Ok(())
    }
    fn result(&mut self, line: &ResultLine) -> Result<()> {
        self.signals.push("result".into());
        self.lines.push(line.clone());
        Ok(())
    }
}

fn serve(
    judge: Box<dyn Judge>,
    shots: Vec<Shot>,
    trigger: Box<dyn Trigger>,
    settings: Settings,
) -> (Recorder, Summary) {
    let mut sink = Recorder::default();
    let summary = run(
        judge,
        Box::new(Scripted(shots.into(), 0)),
        trigger,
        &mut sink,
        None,
        settings,
        &Controls::default(),
    )
    .expect("run");
    (sink, summary)
}

fn reasons(sink: &Recorder) -> Vec<Option<ReasonCode>> {
    sink.lines.iter().map(|l| l.reason).collect()
}

#[test]
fn every_trigger_gets_exactly_one_answer_with_its_reason() {
    use Shot::*;
    let shots = vec![Good, Bad, Corrupt, Timeout, Gone, Good];
    let (sink, summary) = serve(
        judge(0),
        shots,
        Burst::new(6, Duration::from_millis(5)),
        Settings::default(),
    );
    assert_eq!(
        reasons(&sink),
        [
            None,
            Some(ReasonCode::Anomaly),
            Some(ReasonCode::Error),
            Some(ReasonCode::Camera),
            Some(ReasonCode::Camera),
            None
        ]
    );
    let ids: Vec<_> = sink.lines.iter().map(|l| l.trigger.unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    assert!(sink.lines[2]
        .message
        .as_deref()
        .unwrap()
        .contains("corrupt JPEG"));
    assert!(sink.lines[4]
        .message
        .as_deref()
        .unwrap()
        .contains("unplugged"));
    assert_eq!(summary.stats.answered, 6);
    assert_eq!(summary.stats.pass, 2);
    // FAULT rose when the camera was gone and fell when it was back.
    let fault: Vec<_> = sink
        .signals
        .iter()
        .filter(|s| s.starts_with("fault"))
        .collect();
    assert_eq!(fault, ["fault false", "fault true", "fault false"]);
    // READY starts up and ends down; every result happens while BUSY.
    assert_eq!(
        sink.signals
            .iter()
            .find(|s| s.starts_with("ready"))
            .unwrap(),
        "ready true"
    );
    assert_eq!(sink.signals.last().unwrap(), "ready false");
    let mut busy = false;
    for s in &sink.signals {
        match s.as_str() {
            "busy true" => busy = true,
            "busy false" => busy = false,
            "result" => assert!(busy, "a result outside BUSY: {:?}", sink.signals),
            _ => {}
        }
    }
}

#[test]
fn a_slow_frame_is_fail_deadline_once_and_its_late_result_is_not_sent() {
    let settings = Settings {
        deadline: Some(Duration::from_millis(30)),
        ..Settings::default()
    };
    let (sink, summary) = serve(judge(120), vec![], Burst::new(2, Duration::ZERO), settings);
    assert_eq!(sink.lines.len(), 2);
    assert_eq!(reasons(&sink), [Some(ReasonCode::Deadline); 2]);
    assert!(sink.lines[0].message.as_deref().unwrap().contains("30 ms"));
    // The first was judged late; the second expired in the queue and was never judged.
    assert_eq!(summary.stats.late, 1);
    let response = summary.stats.stage("response").unwrap();
    assert!(
        response.max_ms < 100.0,
        "answered at the deadline: {response:?}"
    );
}

#[test]
fn triggers_beyond_the_queue_are_answered_busy_at_once() {
    let n = QUEUE_CAPACITY as u64 + 12;
    let (sink, summary) = serve(
        judge(40),
        vec![],
        Burst::new(n, Duration::ZERO),
        Settings::default(),
    );
    assert_eq!(sink.lines.len() as u64, n);
    let busy = reasons(&sink)
        .iter()
        .filter(|r| **r == Some(ReasonCode::Busy))
        .count();
    let judged = sink
        .lines
        .iter()
        .filter(|l| l.verdict == Verdict::Pass)
        .count();
    assert_eq!(
        judged,
        1 + QUEUE_CAPACITY,
        "the frame in flight and a full queue"
    );
    assert_eq!(busy as u64, n - 1 - QUEUE_CAPACITY as u64);
    let mut ids: Vec<_> = sink.lines.iter().map(|l| l.trigger.unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=n).collect::<Vec<_>>(), "each trigger once");
    assert_eq!(summary.stats.reasons[&ReasonCode::Busy] as usize, busy);
}

#[test]
fn a_reload_swaps_between_frames_and_a_bad_one_is_refused() {
    let strict: Loader = Arc::new(|| {
        Ok((
            Box::new(Brightness {
                delay: Duration::from_millis(2),
                threshold: 5.0,
            }) as Box<dyn Judge>,
            "strict".into(),
        ))
    });
    let broken: Loader = Arc::new(|| Err("checksum mismatch in products/bolt/map.onnx".into()));
    for (loader, expect_fail) in [(strict, true), (broken, false)] {
        let controls = Controls::default();
        let flag = controls.reload.clone();
        let mut sink = Recorder::default();
        let trigger = Burst::new(30, Duration::from_millis(3));
        let trip = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            flag.store(true, Ordering::SeqCst);
        });
        let summary = run(
            judge(2),
            Box::new(Scripted(VecDeque::new(), 0)),
            trigger,
            &mut sink,
            Some(loader),
            Settings::default(),
            &controls,
        )
        .unwrap();
        trip.join().unwrap();
        assert_eq!(sink.lines.len(), 30, "no trigger lost across the swap");
        let fails = sink
            .lines
            .iter()
            .filter(|l| l.verdict == Verdict::Fail)
            .count();
        if expect_fail {
            assert_eq!(summary.stats.reloads, 1);
            // Good frames (value 10) fail against threshold 5 once the new judge runs; before
            // the swap they passed, and once failing they stay failing.
            assert!(fails > 0 && fails < 30, "{fails}");
            let first = sink
                .lines
                .iter()
                .position(|l| l.verdict == Verdict::Fail)
                .unwrap();
            assert!(sink.lines[first..]
                .iter()
                .all(|l| l.verdict == Verdict::Fail));
        } else {
            assert_eq!((summary.stats.reloads, summary.stats.refused), (0, 1));
            assert_eq!(fails, 0, "the old bundle keeps judging");
        }
    }
}

#[test]
fn stopping_answers_what_was_taken_and_returns() {
    let controls = Controls::default();
    controls.stop.store(false, Ordering::SeqCst);
    let stop = controls.stop.clone();
    let mut sink = Recorder::default();
    let trigger = Box::new(interval::IntervalTrigger::new(
        Duration::from_millis(2),
        None,
    ));
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::SeqCst);
    });
    let summary = run(
        judge(5),
        Box::new(Scripted(VecDeque::new(), 0)),
        trigger,
        &mut sink,
        None,
        Settings::default(),
        &controls,
    )
    .unwrap();
    assert!(!sink.lines.is_empty());
    assert_eq!(summary.stats.answered as usize, sink.lines.len());
    let mut ids: Vec<_> = sink.lines.iter().map(|l| l.trigger.unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "no trigger lost"
    );
}

#[test]
fn sensitivity_scales_the_threshold_of_its_product() {
    let mut settings = Settings::default();
    settings.sensitivity.insert("bolt".into(), 0.05);
    let (sink, _) = serve(
        judge(0),
        vec![Shot::Good],
        Burst::new(1, Duration::ZERO),
        settings,
    );
    let line = &sink.lines[0];
    assert_eq!(line.reason, Some(ReasonCode::Anomaly));
    assert_eq!(line.threshold, Some(5.0));
    assert_eq!(line.ratio, Some(2.0));
}

#[test]
fn the_line_protocol_reads_triggers_and_names_bad_lines() {
    assert_eq!(parse_line("TRIGGER"), Ok(Some(Command::Trigger(None))));
    assert_eq!(
        parse_line("  trigger washer \r"),
        Ok(Some(Command::Trigger(Some("washer".into()))))
    );
    assert_eq!(parse_line("   "), Ok(None));
    assert!(parse_line("FIRE").unwrap_err().contains("`FIRE`"));
    assert!(parse_line("TRIGGER a b").unwrap_err().contains("`b`"));

    let input = std::io::Cursor::new("TRIGGER\nbogus\n\nTRIGGER nut\n");
    let mut t = LineTrigger::spawn(input);
    let mut got = Vec::new();
    loop {
        match t.wait(Duration::from_secs(5)).expect("wait") {
            Wait::Trigger(e) => got.push((e.id, e.product)),
            Wait::Timeout => panic!("input is all there"),
            Wait::Closed => break,
        }
    }
    assert_eq!(got, [(1, None), (2, Some("nut".to_string()))]);
}

#[test]
fn lines_over_the_limit_or_not_utf8_are_skipped_whole_and_the_next_line_still_counts() {
    use crate::station::stdio::{read_bounded_line, InputLine};
    let long = "x".repeat(50);
    let text = format!("TRIGGER a\r\n{long}\n\u{fffd}\nTRIGGER b");
    let mut bytes = text.into_bytes();
    // An invalid UTF-8 byte in place of the replacement character.
    let at = bytes
        .windows(3)
        .position(|w| w == "\u{fffd}".as_bytes())
        .unwrap();
    bytes.splice(at..at + 3, [0xff]);
    // A small buffer, so that lines cross buffer boundaries.
    let mut input = std::io::BufReader::with_capacity(7, std::io::Cursor::new(bytes));
    let mut got = Vec::new();
    while let Some(line) = read_bounded_line(&mut input, 20).unwrap() {
        got.push(line);
    }
    assert_eq!(
        got,
        [
            InputLine::Text("TRIGGER a".into()),
            InputLine::TooLong(51),
            InputLine::NotUtf8,
            InputLine::Text("TRIGGER b".into()),
        ]
    );
    // Exactly at the limit, newline included, is kept.
    let mut input = std::io::Cursor::new(b"12345\n".to_vec());
    assert_eq!(
        read_bounded_line(&mut input, 6).unwrap(),
        Some(InputLine::Text("12345".into()))
    );
    assert_eq!(read_bounded_line(&mut input, 6).unwrap(), None);
}

#[test]
fn json_lines_carry_the_trigger_and_read_back() {
    let out = Arc::new(Mutex::new(Vec::new()));
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = JsonLinesSink::new(Shared(out.clone()));
    let input = std::io::Cursor::new("TRIGGER bolt\n");
    run(
        judge(0),
        Box::new(Scripted(VecDeque::new(), 0)),
        Box::new(LineTrigger::spawn(input)),
        &mut sink,
        None,
        Settings::default(),
        &Controls::default(),
    )
    .unwrap();
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1);
    let line = ResultLine::parse(lines[0]).expect("parse");
    assert_eq!(line.trigger, Some(1));
    assert_eq!(line.product.as_deref(), Some("bolt"));
    assert_eq!(line.frame, Some(1));
}

#[test]
fn fanout_signals_every_sink_and_returns_the_first_error() {
    struct Failing;
    impl VerdictSink for Failing {
        fn ready(&mut self, _: bool) -> Result<()> {
            Err(Error::io("(gpio)", std::io::Error::other("line gone")))
        }
        fn busy(&mut self, _: bool) -> Result<()> {
            Ok(())
        }
        fn result(&mut self, _: &ResultLine) -> Result<()> {
            Ok(())
        }
    }
    let mut fan = Fanout(vec![Box::new(Failing), Box::new(Recorder::default())]);
    assert!(fan.ready(true).is_err());
    assert!(fan.busy(true).is_ok());
}

/// [`Brightness`], judging with a feature-resolution map only; its full map is made on
/// request, and the requests are counted.
struct CoarseBrightness {
    inner: Brightness,
    completed: Arc<Mutex<usize>>,
    /// Completing a map fails (as an engine error would).
    fails: bool,
}

impl Judge for CoarseBrightness {
    fn judge(&mut self, image: &image::RgbImage, product: Option<&str>) -> Inference {
        let mut r = self.inner.judge(image, product);
        r.coarse_map = Some(crate::Tensor::new(vec![2, 2], vec![r.score; 4]).expect("coarse"));
        r
    }

    fn products(&self) -> Vec<String> {
        self.inner.products()
    }

    fn complete_map(&mut self, result: &mut Inference) -> std::result::Result<(), String> {
        *self.completed.lock().unwrap() += 1;
        if self.fails {
            return Err("the head graph failed".into());
        }
        result.map = Some(crate::Tensor::new(vec![8, 8], vec![result.score; 64]).expect("map"));
        Ok(())
    }
}

/// A judge scoring on coarse maps (completing them fails when `fails`), the counter of its
/// completion requests, and settings that keep heatmaps in `dir`.
fn coarse_station(
    dir: &std::path::Path,
    fails: bool,
) -> (Box<CoarseBrightness>, Arc<Mutex<usize>>, Settings) {
    let completed = Arc::new(Mutex::new(0));
    let judge = Box::new(CoarseBrightness {
        inner: Brightness {
            delay: Duration::ZERO,
            threshold: 100.0,
        },
        completed: completed.clone(),
        fails,
    });
    let settings = Settings {
        heatmaps: Some(HeatmapStore::open(dir, 10, 1 << 20).unwrap()),
        ..Settings::default()
    };
    (judge, completed, settings)
}

#[test]
fn a_rejected_part_judged_on_its_coarse_map_gets_its_heatmap_after_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (judge, completed, settings) = coarse_station(dir.path(), false);
    let (sink, _) = serve(
        judge,
        vec![Shot::Good, Shot::Bad],
        Burst::new(2, Duration::ZERO),
        settings,
    );
    assert_eq!(reasons(&sink), [None, Some(ReasonCode::Anomaly)]);
    assert_eq!(sink.lines[0].heatmap, None);
    let named = sink.lines[1]
        .heatmap
        .clone()
        .expect("the rejected part names its heatmap");
    // Only the rejected part's map was made, and its heatmap is the file the line names.
    assert_eq!(*completed.lock().unwrap(), 1);
    assert!(std::path::Path::new(&named).is_file(), "{named}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_heatmap_that_cannot_be_made_leaves_the_answers_and_the_station_going() {
    let dir = tempfile::tempdir().unwrap();
    let (judge, completed, settings) = coarse_station(dir.path(), true);
    let (sink, _) = serve(
        judge,
        vec![Shot::Bad, Shot::Good, Shot::Bad],
        Burst::new(3, Duration::ZERO),
        settings,
    );
    // Every trigger is answered as judged; both rejected parts asked for their map.
    assert_eq!(
        reasons(&sink),
        [Some(ReasonCode::Anomaly), None, Some(ReasonCode::Anomaly)]
    );
    assert_eq!(*completed.lock().unwrap(), 2);
    // No file was written, and none stands in for the missing ones.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
