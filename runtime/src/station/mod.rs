//! The station loop: wait for a trigger, take a frame, judge it, answer exactly once.
//!
//! The loop talks to the line only through two small traits, in the manner of embedded-hal's
//! digital pins: a [`Trigger`] (wait for the next trigger, with a timeout) and a
//! [`VerdictSink`] (ready, busy, result). Frames come from any [`FrameSource`]. Every trigger
//! yields exactly one [`ResultLine`]: a frame that cannot be read is FAIL `error`, a camera
//! that gives no frame is FAIL `camera`, never a missing answer.
//!
//! This build has the stdin/stdout line protocol ([`stdio`]) and free-run at a fixed
//! interval ([`interval`]); GPIO lines, V4L2 capture,
//! deadlines, the bounded trigger queue and hot reload plug in behind the same traits.

pub mod interval;
pub mod stdio;

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::pipeline::{Inference, Pipeline, Reason};
use crate::results::ResultLine;
use crate::source::FrameSource;

/// One trigger from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerEvent {
    /// Counts triggers from 1 over the life of the trigger.
    pub id: u64,
    /// The product named with the trigger (a PLC's job number), overriding routing.
    pub product: Option<String>,
    /// When the trigger arrived.
    pub at: Instant,
}

/// What waiting for a trigger gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// A trigger.
    Trigger(TriggerEvent),
    /// None within the timeout.
    Timeout,
    /// No trigger will come again (end of input): the station stops.
    Closed,
}

/// Where triggers come from.
pub trait Trigger {
    /// Waits up to `timeout` for the next trigger.
    fn wait(&mut self, timeout: Duration) -> Result<Wait>;
}

/// Where the station's signals and answers go.
pub trait VerdictSink {
    /// The station can (`true`) or cannot judge a trigger now.
    fn ready(&mut self, ready: bool) -> Result<()>;
    /// A trigger is being judged (`true`) or the answer has been given.
    fn busy(&mut self, busy: bool) -> Result<()>;
    /// The answer to one trigger.
    fn result(&mut self, line: &ResultLine) -> Result<()>;
}

/// Triggers answered, by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Triggers answered.
    pub triggers: u64,
    /// Of those, PASS.
    pub pass: u64,
}

/// How long one wait for a trigger lasts before the loop looks again.
const POLL: Duration = Duration::from_millis(200);

/// Serves triggers until the trigger closes: for each one, the next frame of `camera` is
/// judged (as the trigger's product if it names one) and one result line goes to `sink`.
pub fn serve(
    pipeline: &mut Pipeline,
    camera: &mut dyn FrameSource,
    trigger: &mut dyn Trigger,
    sink: &mut dyn VerdictSink,
) -> Result<Served> {
    let mut served = Served::default();
    sink.ready(true)?;
    loop {
        let event = match trigger.wait(POLL)? {
            Wait::Trigger(event) => event,
            Wait::Timeout => continue,
            Wait::Closed => break,
        };
        sink.busy(true)?;
        let mut frame_info = None;
        let (id, result) = match camera.next_frame() {
            Some(Ok(frame)) => {
                frame_info = Some((frame.sequence, frame.captured));
                (
                    frame.id,
                    pipeline.infer(&frame.image, event.product.as_deref()),
                )
            }
            Some(Err(err)) => (
                err.id.clone(),
                Inference::failed(format!("frame `{}`: {}", err.id, err.error.chain_message())),
            ),
            None => {
                let mut r = Inference::failed("");
                r.reason = Some(Reason::Camera("the camera gave no frame".into()));
                (String::new(), r)
            }
        };
        let mut line = ResultLine::new(&id, &result, None);
        line.trigger = Some(event.id);
        if let Some((sequence, captured)) = frame_info {
            line.frame = Some(sequence);
            line.captured_unix_ms = captured
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as u64);
        }
        sink.result(&line)?;
        sink.busy(false)?;
        served.triggers += 1;
        served.pass += u64::from(result.verdict == crate::pipeline::Verdict::Pass);
    }
    sink.ready(false)?;
    Ok(served)
}

#[cfg(test)]
mod tests;
