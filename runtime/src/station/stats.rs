//! What a station has done: per-stage latency (p50, p99 and max) and answers counted by
//! verdict and reason, printed on SIGUSR1 and on exit.
//!
//! Percentiles are exact over the most recent [`WINDOW`] triggers (a fixed ring, so memory
//! stays flat over months); the maximum and the counts cover the whole run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::pipeline::{ReasonCode, Verdict};
use crate::results::ResultLine;

/// Triggers the percentiles are taken over.
pub const WINDOW: usize = 4096;

/// The stages timed per trigger, in report order.
pub const STAGES: [&str; 8] = [
    "capture",
    "preprocess",
    "trunk",
    "route",
    "adapters",
    "head",
    "judge",
    "response",
];

/// Latencies of one stage.
#[derive(Debug, Clone, Default)]
struct Ring {
    samples: Vec<f64>,
    next: usize,
    max: f64,
    count: u64,
}

impl Ring {
    fn push(&mut self, ms: f64) {
        if self.samples.len() < WINDOW {
            self.samples.push(ms);
        } else {
            self.samples[self.next] = ms;
        }
        self.next = (self.next + 1) % WINDOW;
        self.max = self.max.max(ms);
        self.count += 1;
    }

    fn summary(&self) -> Option<StageSummary> {
        if self.samples.is_empty() {
            return None;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        Some(StageSummary {
            p50_ms: nearest_rank(&sorted, 0.50),
            p99_ms: nearest_rank(&sorted, 0.99),
            max_ms: self.max,
            count: self.count,
        })
    }
}

/// The nearest-rank percentile of sorted samples.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One stage's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StageSummary {
    /// Median over the window.
    pub p50_ms: f64,
    /// 99th percentile over the window.
    pub p99_ms: f64,
    /// Largest over the run.
    pub max_ms: f64,
    /// Samples over the run.
    pub count: u64,
}

/// The station's counters.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    stages: [Ring; STAGES.len()],
    /// Triggers answered.
    pub answered: u64,
    /// Of those, PASS.
    pub pass: u64,
    /// FAIL answers by reason.
    pub reasons: BTreeMap<ReasonCode, u64>,
    /// Results that came after their trigger had been answered FAIL `deadline`.
    pub late: u64,
    /// Bundles swapped in.
    pub reloads: u64,
    /// New bundles refused.
    pub refused: u64,
    /// Errors of the outputs (results file, GPIO lines).
    pub output_errors: u64,
}

impl Stats {
    /// Counts one answer; `capture_ms` and `response_ms` (trigger to answer) when known.
    pub fn answer(&mut self, line: &ResultLine, capture_ms: Option<f64>, response_ms: f64) {
        self.answered += 1;
        match (line.verdict, line.reason) {
            (Verdict::Pass, _) => self.pass += 1,
            (_, reason) => {
                *self
                    .reasons
                    .entry(reason.unwrap_or(ReasonCode::Error))
                    .or_default() += 1
            }
        }
        if let Some(ms) = capture_ms {
            self.stages[0].push(ms);
        }
        let l = &line.latency_ms;
        if l.total > 0.0 {
            for (k, ms) in [l.preprocess, l.trunk, l.route, l.adapters, l.head, l.total]
                .into_iter()
                .enumerate()
            {
                self.stages[k + 1].push(ms);
            }
        }
        self.stages[STAGES.len() - 1].push(response_ms);
    }

    /// The figures of `stage` (one of [`STAGES`]), `None` before its first sample.
    pub fn stage(&self, stage: &str) -> Option<StageSummary> {
        let k = STAGES.iter().position(|s| *s == stage)?;
        self.stages[k].summary()
    }

    /// FAIL answers.
    pub fn fail(&self) -> u64 {
        self.answered - self.pass
    }

    /// The report, several lines of text.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "station: {} triggers answered, PASS {}, FAIL {}",
            self.answered,
            self.pass,
            self.fail()
        );
        let reasons: Vec<String> = ReasonCode::ALL
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r.as_str(),
                    self.reasons.get(r).copied().unwrap_or(0)
                )
            })
            .collect();
        let _ = writeln!(out, "station: FAIL by reason: {}", reasons.join(", "));
        let _ = writeln!(
            out,
            "station: late results {}, bundles reloaded {}, refused {}, output errors {}",
            self.late, self.reloads, self.refused, self.output_errors
        );
        let _ = writeln!(
            out,
            "station: {:<10} {:>9} {:>9} {:>9} {:>8}   (ms; p50/p99 over the last {WINDOW})",
            "stage", "p50", "p99", "max", "count"
        );
        for (name, ring) in STAGES.iter().zip(&self.stages) {
            if let Some(s) = ring.summary() {
                let _ = writeln!(
                    out,
                    "station: {name:<10} {:>9.3} {:>9.3} {:>9.3} {:>8}",
                    s.p50_ms, s.p99_ms, s.max_ms, s.count
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Inference, Reason};

    #[test]
    fn percentiles_are_nearest_rank_over_the_window_and_max_over_the_run() {
        let mut ring = Ring::default();
        ring.push(1000.0);
        for k in 1..=WINDOW {
            ring.push(k as f64);
        }
        let s = ring.summary().unwrap();
        // The 1000 ms sample has left the window (WINDOW + 1 pushes) but is still the max.
        assert_eq!(s.p50_ms, (WINDOW / 2) as f64);
        assert_eq!(s.p99_ms, (0.99 * WINDOW as f64).ceil());
        assert_eq!(s.max_ms, WINDOW as f64);
        let mut ring = Ring::default();
        for ms in [5.0, 1.0, 3.0] {
            ring.push(ms);
        }
        let s = ring.summary().unwrap();
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms, s.count), (3.0, 5.0, 5.0, 3));
    }

    #[test]
    fn answers_are_counted_by_reason() {
        let mut stats = Stats::default();
        let mut busy = Inference::failed("");
        busy.reason = Some(Reason::Busy);
        stats.answer(&ResultLine::new("", &busy, None), None, 0.1);
        stats.answer(
            &ResultLine::new("", &Inference::failed("x"), None),
            Some(2.0),
            5.0,
        );
        assert_eq!(stats.answered, 2);
        assert_eq!(stats.reasons[&ReasonCode::Busy], 1);
        assert_eq!(stats.reasons[&ReasonCode::Error], 1);
        assert_eq!(stats.stage("response").unwrap().count, 2);
        assert_eq!(stats.stage("capture").unwrap().max_ms, 2.0);
        let report = stats.report();
        assert!(
            report.contains("busy 1") && report.contains("error 1"),
            "{report}"
        );
    }
}
