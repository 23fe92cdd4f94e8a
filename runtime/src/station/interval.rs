//! Free-run: a trigger at a fixed interval, for lines without a PLC and for soak runs.
//!
//! Ticks keep their schedule (`start + k * period`); a tick missed while the station was
//! busy is skipped, not queued, so a slow frame never causes a burst of catch-up triggers.

use std::time::{Duration, Instant};

use super::{Trigger, TriggerEvent, Wait};
use crate::error::Result;

/// Triggers every `period`, optionally only `count` times.
#[derive(Debug, Clone)]
pub struct IntervalTrigger {
    period: Duration,
    next: Instant,
    fired: u64,
    count: Option<u64>,
}

impl IntervalTrigger {
    /// The first trigger fires at once, then one every `period`; after `count` triggers (if
    /// given) the trigger closes. A zero period is raised to 1 ms.
    pub fn new(period: Duration, count: Option<u64>) -> Self {
        Self {
            period: period.max(Duration::from_millis(1)),
            next: Instant::now(),
            fired: 0,
            count,
        }
    }
}

impl Trigger for IntervalTrigger {
    fn wait(&mut self, timeout: Duration) -> Result<Wait> {
        if self.count.is_some_and(|c| self.fired >= c) {
            return Ok(Wait::Closed);
        }
        let now = Instant::now();
        if self.next > now {
            let gap = self.next - now;
            if gap > timeout {
                std::thread::sleep(timeout);
                return Ok(Wait::Timeout);
            }
            std::thread::sleep(gap);
        }
        let at = Instant::now();
        // Skip the ticks that passed while busy.
        while self.next <= at {
            self.next += self.period;
        }
        self.fired += 1;
        Ok(Wait::Trigger(TriggerEvent {
            id: self.fired,
            product: None,
            at,
        }))
    }
}

/// Parses `every:PERIOD`, the period as `100ms`, `2s` or plain milliseconds.
pub fn parse_period(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(ms) = t.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = t.strip_suffix('s') {
        (s, 1000.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a period (e.g. 100ms, 2s)"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("the period `{text}` must be positive"));
    }
    Ok(Duration::from_secs_f64(value * scale / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_with_units_and_bad_ones_are_named() {
        assert_eq!(parse_period("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_period("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_period("250"), Ok(Duration::from_millis(250)));
        assert!(parse_period("fast").unwrap_err().contains("`fast`"));
        assert!(parse_period("0ms").is_err());
        assert!(parse_period("-5").is_err());
    }

    #[test]
    fn fires_count_times_in_order_then_closes() {
        let mut t = IntervalTrigger::new(Duration::from_millis(1), Some(3));
        let mut ids = Vec::new();
        loop {
            match t.wait(Duration::from_secs(1)).expect("wait") {
                Wait::Trigger(e) => ids.push(e.id),
                Wait::Timeout => {}
                Wait::Closed => break,
            }
        }
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn a_tick_beyond_the_timeout_is_a_timeout_and_missed_ticks_are_skipped() {
        let mut t = IntervalTrigger::new(Duration::from_secs(3600), None);
        assert!(matches!(t.wait(Duration::ZERO), Ok(Wait::Trigger(_))));
        assert_eq!(
            t.wait(Duration::from_millis(1)).expect("wait"),
            Wait::Timeout
        );
        // Busy for five periods: one trigger, not five.
        let mut fast = IntervalTrigger::new(Duration::from_millis(1), None);
        assert!(matches!(fast.wait(Duration::ZERO), Ok(Wait::Trigger(_))));
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(fast.wait(Duration::ZERO), Ok(Wait::Trigger(_))));
        assert!(fast.next > Instant::now() - Duration::from_millis(1));
    }
}
