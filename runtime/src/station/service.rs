//! The station loop: triggers in, exactly one answer out per trigger, on time or FAIL.
//!
//! Three threads: a trigger pump (waits on the [`Trigger`] and forwards each trigger), the
//! worker (captures and judges, one job at a time) and this loop, which owns the queue, the
//! deadlines, the output signals and reloads. Because the loop never judges a frame itself, it
//! can answer FAIL `deadline` while the worker is still busy, and FAIL `busy` at once when
//! the queue is full.
//!
//! Stopping ([`Controls::stop`], SIGTERM/SIGINT on the command line) stops taking triggers,
//! answers every trigger already taken (the frame in flight and the queue), then returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use heapless::Deque;

use super::heatmaps::HeatmapStore;
use super::reload::{Loader, ManifestWatch};
use super::stats::Stats;
use super::worker::{work, CameraState, Done, Job, WorkerSettings};
use super::{min_instant, Judge, Trigger, TriggerEvent, VerdictSink, Wait};
use crate::camera::Camera;
use crate::error::{Error, Result};
use crate::pipeline::{Inference, Reason};
use crate::results::ResultLine;

/// Triggers that may wait while a frame is judged; one more is answered FAIL `busy`.
pub const QUEUE_CAPACITY: usize = 8;

/// How long the trigger pump waits before it looks at the stop flag again.
const PUMP_POLL: Duration = Duration::from_millis(100);

/// The longest the loop sleeps without looking at its flags.
const TICK: Duration = Duration::from_millis(100);

/// How the station behaves.
pub struct Settings {
    /// Time from trigger to answer; a later result is FAIL `deadline`. `None`: no deadline.
    pub deadline: Option<Duration>,
    /// How long a capture waits for a fresh frame before FAIL `camera`.
    pub capture_timeout: Duration,
    /// Threshold scale per product (sensitivity); products not listed use 1.
    pub sensitivity: HashMap<String, f32>,
    /// Heatmaps of rejected frames.
    pub heatmaps: Option<HeatmapStore>,
    /// A bundle folder whose manifest is watched for changes (reload when it changes).
    pub watch: Option<PathBuf>,
    /// How often the manifest is looked at.
    pub watch_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            deadline: None,
            capture_timeout: Duration::from_secs(1),
            sensitivity: HashMap::new(),
            heatmaps: None,
            watch: None,
            watch_every: Duration::from_secs(1),
        }
    }
}

/// Flags the station looks at while it runs (set from signal handlers, or by tests).
#[derive(Debug, Clone, Default)]
pub struct Controls {
    /// Finish what was taken, then return (SIGTERM, SIGINT).
    pub stop: Arc<AtomicBool>,
    /// Print the statistics to stderr (SIGUSR1); cleared when done.
    pub report: Arc<AtomicBool>,
    /// Reload the bundle (SIGHUP); cleared when started.
    pub reload: Arc<AtomicBool>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Counters and latencies.
    pub stats: Stats,
}

/// What reaches the loop.
pub(crate) enum Event {
    Trigger(TriggerEvent),
    /// The pump has stopped: no trigger follows.
    TriggerClosed,
    TriggerFailed(String),
    Done(Box<Done>),
    Reloaded(std::result::Result<(Box<dyn Judge>, String), String>),
}

/// The frame being judged.
struct InFlight {
    event: TriggerEvent,
    /// Already answered FAIL `deadline`; the result, when it comes, is only logged.
    answered: bool,
}

/// Output levels as last signalled, so each change is sent once.
#[derive(Default)]
struct Levels {
    ready: Option<bool>,
    busy: Option<bool>,
    fault: Option<bool>,
}

struct Station<'a> {
    sink: &'a mut dyn VerdictSink,
    jobs: Sender<Job>,
    events: Sender<Event>,
    queue: Deque<TriggerEvent, QUEUE_CAPACITY>,
    in_flight: Option<InFlight>,
    deadline: Option<Duration>,
    stats: Stats,
    levels: Levels,
    fault: bool,
    stopping: bool,
    closed: bool,
    loader: Option<Loader>,
    reloading: bool,
    reload_again: bool,
}

/// Serves triggers until the trigger closes or `controls.stop` is set: every trigger gets
/// exactly one answer at `sink`. `loader` opens a verified new bundle on reload (SIGHUP,
/// manifest change); without it reloads are refused.
pub fn run(
    judge: Box<dyn Judge>,
    camera: Box<dyn Camera>,
    trigger: Box<dyn Trigger>,
    sink: &mut dyn VerdictSink,
    loader: Option<Loader>,
    settings: Settings,
    controls: &Controls,
) -> Result<Summary> {
    let (events_tx, events) = mpsc::channel();
    let (jobs, jobs_rx) = mpsc::channel();
    let worker_settings = WorkerSettings {
        capture_timeout: settings.capture_timeout,
        sensitivity: settings.sensitivity,
        heatmaps: settings.heatmaps,
    };
    let worker_events = events_tx.clone();
    let worker = spawn("station-worker", move || {
        work(judge, camera, worker_settings, jobs_rx, worker_events)
    })?;
    let pump_stop = Arc::new(AtomicBool::new(false));
    let pump = {
        let (tx, stop) = (events_tx.clone(), pump_stop.clone());
        spawn("station-trigger", move || pump(trigger, tx, stop))?
    };
    let mut station = Station {
        sink,
        jobs,
        events: events_tx,
        queue: Deque::new(),
        in_flight: None,
        deadline: settings.deadline,
        stats: Stats::default(),
        levels: Levels::default(),
        fault: false,
        stopping: false,
        closed: false,
        loader,
        reloading: false,
        reload_again: false,
    };
    let mut watch = settings.watch.as_deref().map(ManifestWatch::new);
    let mut next_watch = Instant::now() + settings.watch_every;
    station.signal_levels();
    loop {
        if controls.stop.load(Ordering::SeqCst) && !station.stopping {
            log::info!("stopping: answering the triggers already taken, then exiting");
            station.stopping = true;
            pump_stop.store(true, Ordering::SeqCst);
        }
        if controls.report.swap(false, Ordering::SeqCst) {
            eprint!("{}", station.stats.report());
        }
        let now = Instant::now();
        let mut reload = controls.reload.swap(false, Ordering::SeqCst);
        if let Some(w) = &mut watch {
            if now >= next_watch {
                next_watch = now + settings.watch_every;
                if w.changed() {
                    log::info!("the bundle's manifest changed");
                    reload = true;
                }
            }
        }
        if reload {
            station.start_reload();
        }
        if station.closed && station.in_flight.is_none() && station.queue.is_empty() {
            break;
        }
        station.expire(now);
        let mut due = station.next_deadline();
        match station.sink.poll(now) {
            Ok(next) => due = min_instant(due, next),
            Err(e) => station.output_error(&e),
        }
        if watch.is_some() {
            due = min_instant(due, Some(next_watch));
        }
        let wait = due
            .map_or(TICK, |d| d.saturating_duration_since(now))
            .min(TICK);
        match events.recv_timeout(wait) {
            Ok(event) => station.handle(event),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        station.signal_levels();
    }
    pump_stop.store(true, Ordering::SeqCst);
    let _ = pump.join();
    drop(station.jobs);
    let _ = worker.join();
    // Let the last PASS/FAIL pulse end.
    let mut guard = 0;
    while let Ok(Some(due)) = station.sink.poll(Instant::now()) {
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        guard += 1;
        if guard > 16 {
            break;
        }
    }
    if let Err(e) = station.sink.ready(false) {
        station.stats.output_errors += 1;
        log::error!("cannot lower READY: {}", e.chain_message());
    }
    Ok(Summary {
        stats: station.stats,
    })
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| Error::io(format!("(thread {name})"), e))
}

/// Forwards triggers until the trigger closes or `stop` is set; always ends with
/// [`Event::TriggerClosed`], so the loop knows no trigger is still on its way.
fn pump(mut trigger: Box<dyn Trigger>, tx: Sender<Event>, stop: Arc<AtomicBool>) {
    let mut failing = false;
    while !stop.load(Ordering::SeqCst) {
        match trigger.wait(PUMP_POLL) {
            Ok(Wait::Trigger(event)) => {
                failing = false;
                if tx.send(Event::Trigger(event)).is_err() {
                    return;
                }
            }
            Ok(Wait::Timeout) => failing = false,
            Ok(Wait::Closed) => break,
            Err(err) => {
                if !failing {
                    let _ = tx.send(Event::TriggerFailed(err.chain_message()));
                }
                failing = true;
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    let _ = tx.send(Event::TriggerClosed);
}

impl Station<'_> {
    fn handle(&mut self, event: Event) {
        match event {
            Event::Trigger(event) => self.accept(event),
            Event::TriggerClosed => self.closed = true,
            Event::TriggerFailed(message) => {
                log::error!("the trigger failed (retrying): {message}");
            }
            Event::Done(done) => self.finish(*done),
            Event::Reloaded(result) => self.reloaded(result),
        }
    }

    /// A new trigger: judged now, queued, or answered FAIL `busy`.
    fn accept(&mut self, event: TriggerEvent) {
        if self.in_flight.is_none() {
            self.dispatch(event);
        } else if let Err(event) = self.queue.push_back(event) {
            let mut r = Inference::failed("");
            r.reason = Some(Reason::Busy);
            let mut line = ResultLine::new("", &r, None);
            line.message = Some(format!("{QUEUE_CAPACITY} triggers were already waiting"));
            self.answer(&event, line, None);
        }
    }

    fn dispatch(&mut self, event: TriggerEvent) {
        if self.jobs.send(Job::Judge(event.clone())).is_err() {
            let line = ResultLine::new("", &Inference::failed("the judging thread is gone"), None);
            self.answer(&event, line, None);
            return;
        }
        self.in_flight = Some(InFlight {
            event,
            answered: false,
        });
    }

    fn finish(&mut self, done: Done) {
        match &done.camera {
            CameraState::Gone(why) if !self.fault => {
                log::error!("FAULT: the camera is gone: {why}");
                self.fault = true;
            }
            CameraState::Present if self.fault => {
                log::info!("the camera is back; FAULT cleared");
                self.fault = false;
            }
            _ => {}
        }
        let Some(flight) = self.in_flight.take() else {
            log::warn!(
                "a result for trigger {} that nobody waits for",
                done.event.id
            );
            return;
        };
        if flight.answered {
            self.stats.late += 1;
            log::warn!(
                "late result for trigger {} (already answered FAIL deadline): {} {:?} after {:.1} ms",
                done.event.id,
                done.line.verdict,
                done.line.reason,
                done.event.at.elapsed().as_secs_f64() * 1e3
            );
        } else {
            self.answer(&done.event, done.line, Some(done.capture_ms));
        }
        self.expire(Instant::now());
        if let Some(next) = self.queue.pop_front() {
            self.dispatch(next);
        }
    }

    /// Answers FAIL `deadline` for every trigger whose deadline has passed unanswered.
    fn expire(&mut self, now: Instant) {
        let Some(deadline) = self.deadline else {
            return;
        };
        let late = |e: &TriggerEvent| now >= e.at + deadline;
        if let Some(flight) = &mut self.in_flight {
            if !flight.answered && late(&flight.event) {
                flight.answered = true;
                let event = flight.event.clone();
                self.answer(&event, deadline_line(deadline, "while it was judged"), None);
            }
        }
        while self.queue.front().is_some_and(late) {
            if let Some(event) = self.queue.pop_front() {
                self.answer(&event, deadline_line(deadline, "while it waited"), None);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let deadline = self.deadline?;
        let flight = self
            .in_flight
            .as_ref()
            .filter(|f| !f.answered)
            .map(|f| f.event.at + deadline);
        min_instant(flight, self.queue.front().map(|e| e.at + deadline))
    }

    fn answer(&mut self, event: &TriggerEvent, mut line: ResultLine, capture_ms: Option<f64>) {
        line.trigger = Some(event.id);
        if let Err(e) = self.sink.result(&line) {
            self.output_error(&e);
        }
        let response_ms = event.at.elapsed().as_secs_f64() * 1e3;
        self.stats.answer(&line, capture_ms, response_ms);
    }

    fn output_error(&mut self, e: &Error) {
        self.stats.output_errors += 1;
        log::error!("output failed: {}", e.chain_message());
    }

    fn signal_levels(&mut self) {
        let busy = self.in_flight.as_ref().is_some_and(|f| !f.answered) || !self.queue.is_empty();
        let ready = !busy && !self.fault && !self.stopping && !self.closed;
        // FAULT first, then BUSY, then READY: a PLC never sees READY before the cause of a
        // change is visible.
        let mut failed = Vec::new();
        if self.levels.fault != Some(self.fault) {
            self.levels.fault = Some(self.fault);
            failed.extend(self.sink.fault(self.fault).err());
        }
        if self.levels.busy != Some(busy) {
            self.levels.busy = Some(busy);
            failed.extend(self.sink.busy(busy).err());
        }
        if self.levels.ready != Some(ready) {
            self.levels.ready = Some(ready);
            failed.extend(self.sink.ready(ready).err());
        }
        for e in failed {
            self.output_error(&e);
        }
    }

    fn start_reload(&mut self) {
        let Some(loader) = self.loader.clone() else {
            log::warn!("reload asked for, but this station has no bundle folder to reload");
            return;
        };
        if self.reloading {
            self.reload_again = true;
            return;
        }
        self.reloading = true;
        log::info!("reload: opening the new bundle beside the running one");
        let tx = self.events.clone();
        let started = spawn("station-reload", move || {
            let _ = tx.send(Event::Reloaded(loader()));
        });
        if let Err(e) = started {
            self.reloading = false;
            log::error!("reload not started: {}", e.chain_message());
        }
    }

    fn reloaded(&mut self, result: std::result::Result<(Box<dyn Judge>, String), String>) {
        self.reloading = false;
        match result {
            Ok((judge, name)) => {
                self.stats.reloads += 1;
                log::info!("reload: {name} verified; it takes over at the next frame");
                if self.jobs.send(Job::Swap(judge, name)).is_err() {
                    log::error!("reload: the judging thread is gone");
                }
            }
            Err(message) => {
                self.stats.refused += 1;
                log::error!("reload refused, the running bundle stays: {message}");
            }
        }
        if std::mem::take(&mut self.reload_again) {
            self.start_reload();
        }
    }
}

fn deadline_line(deadline: Duration, when: &str) -> ResultLine {
    let mut r = Inference::failed("");
    r.reason = Some(Reason::Deadline);
    let mut line = ResultLine::new("", &r, None);
    line.message = Some(format!(
        "no result within {} ms (the deadline passed {when})",
        deadline.as_millis()
    ));
    line
}
