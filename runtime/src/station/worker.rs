//! The judging thread: owns the camera and the [`Judge`], takes one job at a time, captures a
//! frame exposed after the trigger, judges it and sends the answer back to the station loop.
//!
//! Jobs are handled strictly in order, so a [`Job::Swap`] (a reloaded bundle) always lands
//! between two frames. A panic inside the judge is caught and answered FAIL `error`; the
//! thread carries on. Heatmaps of rejected frames are written after the answer is sent, so
//! the line never waits on PNG encoding.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::heatmaps::HeatmapStore;
use super::service::Event;
use super::{Judge, TriggerEvent};
use crate::camera::{Camera, CaptureError};
use crate::pipeline::{Inference, Reason, Verdict};
use crate::results::ResultLine;

/// What the station loop asks of the worker.
pub(crate) enum Job {
    /// Capture and judge for this trigger.
    Judge(TriggerEvent),
    /// From now on judge with this (a verified new bundle), named for the log.
    Swap(Box<dyn Judge>, String),
}

/// The camera's state after a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CameraState {
    /// It gave a frame (or a frame that failed to decode: it is there).
    Present,
    /// It timed out: present, but gave nothing.
    Silent,
    /// It is gone; the message says why.
    Gone(String),
}

/// One answered job.
pub(crate) struct Done {
    /// The trigger it answers.
    pub event: TriggerEvent,
    /// The answer.
    pub line: ResultLine,
    /// Capture time, milliseconds (waiting for a fresh frame included).
    pub capture_ms: f64,
    /// How the camera fared.
    pub camera: CameraState,
}

/// The worker's fixed settings.
pub(crate) struct WorkerSettings {
    /// How long a capture may wait for a frame.
    pub capture_timeout: Duration,
    /// Threshold scale per product (absent: 1).
    pub sensitivity: HashMap<String, f32>,
    /// Where heatmaps of rejected frames go, if anywhere.
    pub heatmaps: Option<HeatmapStore>,
}

/// Runs jobs until the job channel closes.
pub(crate) fn work(
    mut judge: Box<dyn Judge>,
    mut camera: Box<dyn Camera>,
    mut settings: WorkerSettings,
    jobs: Receiver<Job>,
    events: Sender<Event>,
) {
    for job in jobs {
        let event = match job {
            Job::Judge(event) => event,
            Job::Swap(next, name) => {
                judge = next;
                log::info!("now judging with {name}");
                continue;
            }
        };
        let (done, heatmap) = judge_one(judge.as_mut(), camera.as_mut(), &settings, event);
        if events.send(Event::Done(Box::new(done))).is_err() {
            break;
        }
        if let (Some(store), Some((path, image, mut result))) = (&mut settings.heatmaps, heatmap) {
            let completed = catch_unwind(AssertUnwindSafe(|| judge.complete_map(&mut result)))
                .unwrap_or_else(|panic| {
                    Err(format!("the engine panicked: {}", panic_message(&panic)))
                });
            match completed {
                Ok(()) => store.write(&path, &image, &result),
                // The answer, already out, names this file: say which one is missing.
                Err(why) => log::error!("heatmap {path} not written: {why}"),
            }
        }
    }
}

/// A rejected frame's heatmap to write once the answer is out.
type PendingHeatmap = (String, image::RgbImage, Inference);

fn judge_one(
    judge: &mut dyn Judge,
    camera: &mut dyn Camera,
    settings: &WorkerSettings,
    event: TriggerEvent,
) -> (Done, Option<PendingHeatmap>) {
    let start = Instant::now();
    let captured = catch_unwind(AssertUnwindSafe(|| {
        camera.capture(event.at, settings.capture_timeout)
    }))
    .unwrap_or_else(|panic| {
        Err(CaptureError::Gone(format!(
            "the camera driver panicked: {}",
            panic_message(&panic)
        )))
    });
    let capture_ms = start.elapsed().as_secs_f64() * 1e3;
    let (frame, camera_state) = match captured {
        Ok(frame) => (Ok(frame), CameraState::Present),
        Err(CaptureError::Timeout(t)) => (
            Err((
                String::new(),
                Reason::Camera(format!("no frame within {} ms", t.as_millis())),
            )),
            CameraState::Silent,
        ),
        Err(CaptureError::Gone(why)) => (
            Err((String::new(), Reason::Camera(why.clone()))),
            CameraState::Gone(why),
        ),
        Err(CaptureError::Frame(err)) => (
            Err((
                err.id.clone(),
                Reason::Error(format!("frame `{}`: {}", err.id, err.error.chain_message())),
            )),
            CameraState::Present,
        ),
    };
    let frame = match frame {
        Ok(frame) => frame,
        Err((id, reason)) => {
            let mut result = Inference::failed("");
            result.reason = Some(reason);
            let mut line = ResultLine::new(&id, &result, None);
            line.trigger = Some(event.id);
            let done = Done {
                event,
                line,
                capture_ms,
                camera: camera_state,
            };
            return (done, None);
        }
    };
    let product = event.product.as_deref();
    let mut result = catch_unwind(AssertUnwindSafe(|| judge.judge(&frame.image, product)))
        .unwrap_or_else(|panic| {
            Inference::failed(format!("the engine panicked: {}", panic_message(&panic)))
        });
    if let Some(scale) = result
        .product
        .as_ref()
        .and_then(|p| settings.sensitivity.get(p))
    {
        result.scale_threshold(*scale);
    }
    let heatmap_name = (result.verdict == Verdict::Fail
        && (result.map.is_some() || result.coarse_map.is_some()))
    .then_some(settings.heatmaps.as_ref())
    .flatten()
    .map(|store| store.name_for(event.id, &frame.id));
    let mut line = ResultLine::new(&frame.id, &result, heatmap_name.clone());
    line.trigger = Some(event.id);
    line.frame = Some(frame.sequence);
    line.captured_unix_ms = frame
        .captured
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64);
    let done = Done {
        event,
        line,
        capture_ms,
        camera: camera_state,
    };
    (done, heatmap_name.map(|name| (name, frame.image, result)))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
