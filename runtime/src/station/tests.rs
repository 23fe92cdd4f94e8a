//! The station loop against scripted triggers, a scripted camera and a recording sink.

use std::collections::VecDeque;

use super::stdio::{parse_line, Command, JsonLinesSink, LineTrigger};
use super::*;
use crate::bundle::tests::sample_manifest;
use crate::engine::fake::Script;
use crate::pipeline::{Graphs, ReasonCode, Verdict};
use crate::source::{Frame, FrameError};

struct Scripted(VecDeque<Wait>);

impl Trigger for Scripted {
    fn wait(&mut self, _timeout: Duration) -> Result<Wait> {
        Ok(self.0.pop_front().unwrap_or(Wait::Closed))
    }
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
    fn result(&mut self, line: &ResultLine) -> Result<()> {
        self.signals.push("result".into());
        self.lines.push(line.clone());
        Ok(())
    }
}

/// A camera of unreadable frames followed by nothing: no graph ever runs.
struct Camera(VecDeque<&'static str>);

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Option<std::result::Result<Frame, FrameError>> {
        let id = self.0.pop_front()?;
        Some(Err(FrameError {
            id: id.into(),
            error: crate::error::Error::Image {
                path: id.into(),
                message: "corrupt JPEG".into(),
            },
        }))
    }
}

fn trigger(id: u64) -> Wait {
    Wait::Trigger(TriggerEvent {
        id,
        product: None,
        at: Instant::now(),
    })
}

fn pipeline() -> Pipeline {
    let script = Script::default();
    let m = sample_manifest(&["bolt"]);
    let graphs = Graphs {
        trunk: Box::new(script.runner("trunk")),
        later_stages: vec![Box::new(script.runner("layer3"))],
        features: None,
        head: Box::new(script.runner("head")),
        adapters: vec![vec![
            Box::new(script.runner("bolt/layer2")),
            Box::new(script.runner("bolt/layer3")),
        ]],
    };
    Pipeline::new(m, graphs).expect("pipeline")
}

#[test]
fn every_trigger_gets_exactly_one_answer_also_without_a_frame() {
    let mut trigger = Scripted(vec![trigger(1), Wait::Timeout, trigger(2), trigger(3)].into());
    let mut camera = Camera(vec!["a.jpg", "b.jpg"].into());
    let mut sink = Recorder::default();
    let served = serve(&mut pipeline(), &mut camera, &mut trigger, &mut sink).expect("serve");
    assert_eq!(
        served,
        Served {
            triggers: 3,
            pass: 0
        }
    );
    let reasons: Vec<_> = sink.lines.iter().map(|l| l.reason).collect();
    assert_eq!(
        reasons,
        [
            Some(ReasonCode::Error),
            Some(ReasonCode::Error),
            Some(ReasonCode::Camera)
        ]
    );
    assert!(sink.lines.iter().all(|l| l.verdict == Verdict::Fail));
    let ids: Vec<_> = sink.lines.iter().map(|l| l.trigger).collect();
    assert_eq!(ids, [Some(1), Some(2), Some(3)]);
    assert!(sink.lines[0]
        .message
        .as_deref()
        .unwrap()
        .contains("corrupt JPEG"));
    // READY once at the start and dropped at the end; BUSY around every answer.
    let expected: Vec<String> = std::iter::once("ready true".to_string())
        .chain((0..3).flat_map(|_| ["busy true", "result", "busy false"].map(String::from)))
        .chain(std::iter::once("ready false".to_string()))
        .collect();
    assert_eq!(sink.signals, expected);
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
fn json_lines_carry_the_trigger_and_read_back() {
    let mut trigger = Scripted(vec![trigger(7)].into());
    let mut sink = JsonLinesSink::new(Vec::new());
    let mut camera = Camera(VecDeque::new());
    serve(&mut pipeline(), &mut camera, &mut trigger, &mut sink).expect("serve");
    let text = String::from_utf8(sink.into_inner()).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1);
    let line = ResultLine::parse(lines[0]).expect("parse");
    assert_eq!(line.trigger, Some(7));
    assert_eq!(line.reason, Some(ReasonCode::Camera));
}
