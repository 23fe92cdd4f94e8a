//! GPIO through the Linux GPIO character device (`gpiocdev`, uAPI v2): the trigger input
//! with its edge, kernel debounce and kernel timestamp; product-select inputs from the PLC (a
//! binary job number naming the product); and the output lines READY, BUSY, PASS, FAIL and
//! FAULT, each with its active level, PASS/FAIL as pulses of a set width.
//!
//! Lines are requested once, when the station starts, and held for the life of the process
//! (the kernel releases them when it exits). The signal logic ([`LineOutputs`]) is written
//! against a small [`OutputLines`] trait, so it is tested with a fake; [`ChipOutputs`] is
//! the real one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use adapts_boards::TriggerEdge;
use gpiocdev::line::{EdgeDetection, EventClock, Value};
use gpiocdev::Request;

use super::{Trigger, TriggerEvent, VerdictSink, Wait};
use crate::error::{Error, Result};
use crate::pipeline::Verdict;
use crate::results::ResultLine;

/// Name the lines are requested under (shown by `gpioinfo`).
pub const CONSUMER: &str = "adapts-runtime";

/// One line offset on a chip and its active level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Offset of the line on its chip.
    pub offset: u32,
    /// Active when the pin is low.
    pub active_low: bool,
}

/// The trigger input and its product-select inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerPlan {
    /// GPIO chip, e.g. `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// The trigger line.
    pub line: Line,
    /// Which edge is a trigger (of the active level: rising means becoming active).
    pub edge: TriggerEdge,
    /// Kernel debounce period.
    pub debounce: Duration,
    /// Product-select lines, least significant bit first (empty: routing decides).
    pub select: Vec<Line>,
    /// Job number to product; job 0 means "route by image".
    pub jobs: BTreeMap<u32, String>,
}

/// The job number the select lines show, least significant bit first.
pub fn job_number(bits: &[bool]) -> u32 {
    bits.iter()
        .take(32)
        .enumerate()
        .fold(0, |n, (k, &on)| n | (u32::from(on) << k))
}

/// The product a job number names: `None` for job 0 (route by image), the product's name
/// when the table has it, and otherwise a name no bundle has (`job-N`), so the frame is FAIL
/// `error` naming the job rather than judged as something else.
pub fn product_for_job(job: u32, jobs: &BTreeMap<u32, String>) -> Option<String> {
    match job {
        0 => None,
        n => Some(jobs.get(&n).cloned().unwrap_or_else(|| format!("job-{n}"))),
    }
}

/// Now on CLOCK_MONOTONIC, in nanoseconds.
pub(crate) fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
}

/// The [`Instant`] of a CLOCK_MONOTONIC timestamp `stamp_ns`, given the clock read as
/// `now_ns` at `now`. A stamp from the future (clock skew) is `now`.
pub fn instant_of(stamp_ns: u64, now_ns: u64, now: Instant) -> Instant {
    let age = Duration::from_nanos(now_ns.saturating_sub(stamp_ns));
    now.checked_sub(age).unwrap_or(now)
}

fn gpio_error(chip: &Path, lines: &str, what: &str) -> impl FnOnce(gpiocdev::Error) -> Error {
    let chip = format!("{} {lines}", chip.display());
    let what = what.to_owned();
    move |source| Error::Gpio { chip, what, source }
}

/// Triggers from an edge on a GPIO line, stamped with the kernel's edge time.
pub struct GpioTrigger {
    request: Request,
    select: Option<(Request, Vec<u32>)>,
    jobs: BTreeMap<u32, String>,
    chip: PathBuf,
    next_id: u64,
}

impl GpioTrigger {
    /// Requests the trigger line (and the select lines) as inputs and holds them.
    pub fn open(plan: &TriggerPlan) -> Result<Self> {
        let edge = match plan.edge {
            TriggerEdge::Rising => EdgeDetection::RisingEdge,
            TriggerEdge::Falling => EdgeDetection::FallingEdge,
            TriggerEdge::Both => EdgeDetection::BothEdges,
        };
        let mut builder = Request::builder();
        builder
            .on_chip(&plan.chip)
            .with_consumer(CONSUMER)
            .with_line(plan.line.offset)
            .as_input()
            .with_edge_detection(edge)
            .with_event_clock(EventClock::Monotonic)
            .with_debounce_period(plan.debounce);
        if plan.line.active_low {
            builder.as_active_low();
        }
        let what = format!("line {} (trigger)", plan.line.offset);
        let request = builder.request().map_err(gpio_error(
            &plan.chip,
            &what,
            "cannot request the trigger line",
        ))?;
        let select = if plan.select.is_empty() {
            None
        } else {
            let offsets: Vec<u32> = plan.select.iter().map(|l| l.offset).collect();
            let mut builder = Request::builder();
            builder.on_chip(&plan.chip).with_consumer(CONSUMER);
            for line in &plan.select {
                builder.with_line(line.offset).as_input();
                if line.active_low {
                    builder.as_active_low();
                }
            }
            let what = format!("lines {offsets:?} (product select)");
            let request = builder.request().map_err(gpio_error(
                &plan.chip,
                &what,
                "cannot request the select lines",
            ))?;
            Some((request, offsets))
        };
        Ok(Self {
            request,
            select,
            jobs: plan.jobs.clone(),
            chip: plan.chip.clone(),
            next_id: 1,
        })
    }

    fn selected_product(&self) -> Result<Option<String>> {
        let Some((request, offsets)) = &self.select else {
            return Ok(None);
        };
        let mut bits = Vec::with_capacity(offsets.len());
        for &offset in offsets {
            let value = request.value(offset).map_err(gpio_error(
                &self.chip,
                &format!("line {offset}"),
                "cannot read a product-select line",
            ))?;
            bits.push(value == Value::Active);
        }
        Ok(product_for_job(job_number(&bits), &self.jobs))
    }
}

impl Trigger for GpioTrigger {
    fn wait(&mut self, timeout: Duration) -> Result<Wait> {
        let err = |what: &str| gpio_error(&self.chip, "trigger line", what);
        if !self
            .request
            .wait_edge_event(timeout)
            .map_err(err("cannot wait for an edge"))?
        {
            return Ok(Wait::Timeout);
        }
        let event = self
            .request
            .read_edge_event()
            .map_err(err("cannot read the edge"))?;
        let at = instant_of(event.timestamp_ns, monotonic_ns(), Instant::now());
        // The PLC sets the job lines before it raises the trigger; read them right away.
        let product = self.selected_product()?;
        let id = self.next_id;
        self.next_id += 1;
        Ok(Wait::Trigger(TriggerEvent { id, product, at }))
    }
}

/// The station's output signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// The station can take a trigger.
    Ready,
    /// A trigger is taken and not answered yet.
    Busy,
    /// The part passed (a pulse).
    Pass,
    /// The part failed (a pulse).
    Fail,
    /// The camera or engine is gone.
    Fault,
}

/// Output lines that can be set to their active or inactive level.
pub trait OutputLines: Send {
    /// Drives `signal`'s line active or inactive; a signal with no line does nothing.
    fn set(&mut self, signal: Signal, active: bool) -> Result<()>;
}

/// The output lines on one chip (any may be left out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputPlan {
    /// GPIO chip, e.g. `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// READY line.
    pub ready: Option<Line>,
    /// BUSY line.
    pub busy: Option<Line>,
    /// PASS line.
    pub pass: Option<Line>,
    /// FAIL line.
    pub fail: Option<Line>,
    /// FAULT line.
    pub fault: Option<Line>,
    /// Width of a PASS or FAIL pulse; `None` holds the level until the next verdict.
    pub pulse: Option<Duration>,
}

impl OutputPlan {
    fn lines(&self) -> [(Signal, Option<Line>); 5] {
        [
            (Signal::Ready, self.ready),
            (Signal::Busy, self.busy),
            (Signal::Pass, self.pass),
            (Signal::Fail, self.fail),
            (Signal::Fault, self.fault),
        ]
    }
}

/// The real output lines: one request for all of them, held for the life of the process,
/// every line starting inactive.
pub struct ChipOutputs {
    request: Request,
    offsets: BTreeMap<Signal, u32>,
    chip: PathBuf,
}

impl ChipOutputs {
    /// Requests the plan's lines as outputs, all inactive.
    pub fn open(plan: &OutputPlan) -> Result<Self> {
        let mut builder = Request::builder();
        builder.on_chip(&plan.chip).with_consumer(CONSUMER);
        let mut offsets = BTreeMap::new();
        for (signal, line) in plan.lines() {
            let Some(line) = line else { continue };
            builder.with_line(line.offset).as_output(Value::Inactive);
            if line.active_low {
                builder.as_active_low();
            }
            offsets.insert(signal, line.offset);
        }
        let listed: Vec<u32> = offsets.values().copied().collect();
        let request = builder.request().map_err(gpio_error(
            &plan.chip,
            &format!("lines {listed:?}"),
            "cannot request the output lines",
        ))?;
        Ok(Self {
            request,
            offsets,
            chip: plan.chip.clone(),
        })
    }
}

impl OutputLines for ChipOutputs {
    fn set(&mut self, signal: Signal, active: bool) -> Result<()> {
        let Some(&offset) = self.offsets.get(&signal) else {
            return Ok(());
        };
        let value = if active {
            Value::Active
        } else {
            Value::Inactive
        };
        self.request.set_value(offset, value).map_err(gpio_error(
            &self.chip,
            &format!("line {offset} ({signal:?})"),
            "cannot drive an output line",
        ))
    }
}

/// The station's signals on output lines: levels for READY, BUSY and FAULT, and exactly one
/// PASS or FAIL pulse per answer. A new answer while the last pulse is still on ends that
/// pulse first, so two answers are always two pulses.
pub struct LineOutputs<L: OutputLines> {
    lines: L,
    pulse: Option<Duration>,
    /// The verdict line that is on, and when it goes off.
    on: Option<(Signal, Option<Instant>)>,
}

impl<L: OutputLines> LineOutputs<L> {
    /// Signals on `lines`, PASS/FAIL pulses `pulse` wide (`None`: held until the next answer).
    pub fn new(lines: L, pulse: Option<Duration>) -> Self {
        Self {
            lines,
            pulse,
            on: None,
        }
    }

    /// The lines back.
    pub fn into_inner(self) -> L {
        self.lines
    }
}

impl<L: OutputLines> VerdictSink for LineOutputs<L> {
    fn ready(&mut self, ready: bool) -> Result<()> {
        self.lines.set(Signal::Ready, ready)
    }

    fn busy(&mut self, busy: bool) -> Result<()> {
        self.lines.set(Signal::Busy, busy)
    }

    fn fault(&mut self, fault: bool) -> Result<()> {
        self.lines.set(Signal::Fault, fault)
    }

    fn result(&mut self, line: &ResultLine) -> Result<()> {
        if let Some((signal, _)) = self.on.take() {
            self.lines.set(signal, false)?;
        }
        let signal = match line.verdict {
            Verdict::Pass => Signal::Pass,
            Verdict::Fail => Signal::Fail,
        };
        self.lines.set(signal, true)?;
        self.on = Some((signal, self.pulse.map(|w| Instant::now() + w)));
        Ok(())
    }

    fn poll(&mut self, now: Instant) -> Result<Option<Instant>> {
        match self.on {
            Some((signal, Some(off))) if now >= off => {
                self.on = None;
                self.lines.set(signal, false)?;
                Ok(None)
            }
            Some((_, off)) => Ok(off),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Inference;

    /// Output lines that record every change.
    #[derive(Default)]
    struct Recorded(Vec<(Signal, bool)>);

    impl OutputLines for Recorded {
        fn set(&mut self, signal: Signal, active: bool) -> Result<()> {
            self.0.push((signal, active));
            Ok(())
        }
    }

    fn line(verdict: Verdict) -> ResultLine {
        let mut r = Inference::failed("x");
        if verdict == Verdict::Pass {
            r.verdict = Verdict::Pass;
            r.reason = None;
        }
        ResultLine::new("f", &r, None)
    }

    #[test]
    fn job_lines_read_least_significant_bit_first() {
        assert_eq!(job_number(&[]), 0);
        assert_eq!(job_number(&[true, false, true]), 5);
        assert_eq!(job_number(&[false, true, true, true]), 14);
        let jobs = BTreeMap::from([(1, "washer".to_string()), (2, "bolt".to_string())]);
        assert_eq!(product_for_job(0, &jobs), None);
        assert_eq!(product_for_job(2, &jobs).as_deref(), Some("bolt"));
        assert_eq!(product_for_job(3, &jobs).as_deref(), Some("job-3"));
    }

    #[test]
    fn kernel_timestamps_land_in_the_past_of_now() {
        let now = Instant::now() + Duration::from_secs(10);
        let at = instant_of(5_000_000_000, 5_250_000_000, now);
        assert_eq!(now - at, Duration::from_millis(250));
        assert_eq!(instant_of(6_000_000_000, 5_000_000_000, now), now);
        // The real clock agrees with itself to well within a second.
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && b - a < 1_000_000_000);
    }

    #[test]
    fn each_answer_is_one_pulse_of_its_own_line() {
        let mut out = LineOutputs::new(Recorded::default(), Some(Duration::from_millis(5)));
        out.ready(true).unwrap();
        out.busy(true).unwrap();
        out.result(&line(Verdict::Pass)).unwrap();
        let due = out.poll(Instant::now()).unwrap().expect("pulse on");
        // A second answer before the first pulse ended: PASS ends, FAIL starts.
        out.result(&line(Verdict::Fail)).unwrap();
        assert_eq!(out.poll(due + Duration::from_secs(1)).unwrap(), None);
        assert_eq!(
            out.poll(Instant::now() + Duration::from_secs(2)).unwrap(),
            None
        );
        out.fault(true).unwrap();
        let Recorded(changes) = out.into_inner();
        assert_eq!(
            changes,
            [
                (Signal::Ready, true),
                (Signal::Busy, true),
                (Signal::Pass, true),
                (Signal::Pass, false),
                (Signal::Fail, true),
                (Signal::Fail, false),
                (Signal::Fault, true),
            ]
        );
    }

    #[test]
    fn held_verdicts_change_only_with_the_next_answer() {
        let mut out = LineOutputs::new(Recorded::default(), None);
        out.result(&line(Verdict::Fail)).unwrap();
        assert_eq!(
            out.poll(Instant::now() + Duration::from_secs(60)).unwrap(),
            None
        );
        out.result(&line(Verdict::Pass)).unwrap();
        let Recorded(changes) = out.into_inner();
        assert_eq!(
            changes,
            [
                (Signal::Fail, true),
                (Signal::Fail, false),
                (Signal::Pass, true)
            ]
        );
    }

    #[test]
    fn a_missing_chip_is_an_error_naming_it() {
        let plan = OutputPlan {
            chip: "/dev/gpiochip-absent".into(),
            pass: Some(Line {
                offset: 3,
                active_low: false,
            }),
            ..OutputPlan::default()
        };
        let err = ChipOutputs::open(&plan).err().expect("no such chip");
        let text = err.chain_message();
        assert!(text.contains("/dev/gpiochip-absent"), "{text}");
    }
}
