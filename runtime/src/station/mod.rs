//! The station: wait for a trigger, take a frame exposed after it, judge it, answer exactly
//! once, for months, while products are added.
//!
//! The loop talks to the line only through small traits, in the manner of embedded-hal's
//! digital pins: a [`Trigger`] (wait for the next trigger, with a timeout), a
//! [`VerdictSink`] (ready, busy, fault, result) and a [`Camera`](crate::camera::Camera);
//! what judges a frame is a [`Judge`] (the [`Pipeline`], or a fake in tests). The loop itself
//! is [`service::run`]:
//!
//! - every trigger yields exactly one [`ResultLine`] and one verdict at the sink;
//! - a result not ready within the deadline is FAIL `deadline` (the late result is logged,
//!   never sent);
//! - triggers that arrive while a frame is judged wait in a fixed-capacity queue
//!   ([`QUEUE_CAPACITY`]); beyond it they are answered FAIL `busy` at once;
//! - a capture timeout or a camera that is gone is FAIL `camera` (FAULT is raised while it is
//!   gone); a frame that cannot be decoded, or an engine failure, is FAIL `error`;
//! - a new bundle is opened and verified beside the running one and swapped in between two
//!   frames ([`reload`]); a bad one is refused and the old one keeps running.
//!
//! Triggers: the stdin line protocol ([`stdio`]), free-run ([`interval`]) and GPIO edges
//! ([`gpio`]). Outputs: JSON lines ([`stdio::JsonLinesSink`], [`journal`]), GPIO lines
//! ([`gpio`]). Configuration: [`config`].

pub mod config;
pub mod gpio;
pub mod heatmaps;
pub mod interval;
pub mod journal;
pub mod reload;
pub mod service;
pub mod stats;
pub mod stdio;
mod worker;

use std::time::{Duration, Instant};

use image::RgbImage;

use crate::error::Result;
use crate::pipeline::{Inference, Pipeline};
use crate::results::ResultLine;

pub use service::{run, Controls, Settings, Summary, QUEUE_CAPACITY};

/// One trigger from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerEvent {
    /// Counts triggers from 1 over the life of the trigger.
    pub id: u64,
    /// The product named with the trigger (a PLC's job number), overriding routing.
    pub product: Option<String>,
    /// When the trigger arrived (for GPIO: the kernel's edge timestamp).
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

/// Where triggers come from. The station waits on it from a thread of its own.
pub trait Trigger: Send {
    /// Waits up to `timeout` for the next trigger.
    fn wait(&mut self, timeout: Duration) -> Result<Wait>;
}

/// Where the station's signals and answers go.
pub trait VerdictSink {
    /// The station can (`true`) or cannot take a trigger now.
    fn ready(&mut self, ready: bool) -> Result<()>;
    /// A trigger has been taken and is not answered yet (`true`), or all are answered.
    fn busy(&mut self, busy: bool) -> Result<()>;
    /// The camera (or engine) is gone (`true`) or back.
    fn fault(&mut self, _fault: bool) -> Result<()> {
        Ok(())
    }
    /// The answer to one trigger: exactly one call per trigger.
    fn result(&mut self, line: &ResultLine) -> Result<()>;
    /// Ends what is due at `now` (the end of a PASS/FAIL pulse) and says when to call again.
    fn poll(&mut self, _now: Instant) -> Result<Option<Instant>> {
        Ok(None)
    }
}

/// Several sinks fed the same signals, in order (say JSON lines and GPIO lines). An error in
/// one does not keep the others from their signal; the first error is returned.
pub struct Fanout(pub Vec<Box<dyn VerdictSink>>);

impl Fanout {
    fn each(&mut self, mut f: impl FnMut(&mut dyn VerdictSink) -> Result<()>) -> Result<()> {
        let mut first = Ok(());
        for sink in &mut self.0 {
            let r = f(sink.as_mut());
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl VerdictSink for Fanout {
    fn ready(&mut self, ready: bool) -> Result<()> {
        self.each(|s| s.ready(ready))
    }
    fn busy(&mut self, busy: bool) -> Result<()> {
        self.each(|s| s.busy(busy))
    }
    fn fault(&mut self, fault: bool) -> Result<()> {
        self.each(|s| s.fault(fault))
    }
    fn result(&mut self, line: &ResultLine) -> Result<()> {
        self.each(|s| s.result(line))
    }
    fn poll(&mut self, now: Instant) -> Result<Option<Instant>> {
        let mut next: Option<Instant> = None;
        let mut first = Ok(());
        for sink in &mut self.0 {
            match sink.poll(now) {
                Ok(due) => next = min_instant(next, due),
                Err(e) if first.is_ok() => first = Err(e),
                Err(_) => {}
            }
        }
        first.map(|()| next)
    }
}

/// The earlier of two optional instants.
pub(crate) fn min_instant(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// What judges one frame: the bundle's [`Pipeline`] on a station, a fake in tests.
pub trait Judge: Send {
    /// Judges `image`, as `product` when the trigger names one. Never fails: problems are
    /// FAIL verdicts with their reason.
    fn judge(&mut self, image: &RgbImage, product: Option<&str>) -> Inference;
    /// The products it knows, in bundle order.
    fn products(&self) -> Vec<String>;
    /// Fills in `result`'s full-resolution map when it was judged without one, for the
    /// heatmap of a rejected part, once the answer is out; `Err` says why it could not.
    /// Judges that always compute their map have nothing to do.
    fn complete_map(&mut self, _result: &mut Inference) -> std::result::Result<(), String> {
        Ok(())
    }
}

impl Judge for Pipeline {
    fn judge(&mut self, image: &RgbImage, product: Option<&str>) -> Inference {
        self.infer(image, product)
    }

    fn products(&self) -> Vec<String> {
        self.manifest()
            .products
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    fn complete_map(&mut self, result: &mut Inference) -> std::result::Result<(), String> {
        Pipeline::complete_map(self, result).map_err(|err| err.chain_message())
    }
}

#[cfg(test)]
mod tests;
