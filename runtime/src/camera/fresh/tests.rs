//! Frame selection over a scripted buffer queue.

use super::*;
use std::collections::VecDeque;

/// A queue that hands out scripted buffers: `(stamp_ns, corrupt, byte)`, then times out (or
/// fails, when `fail` is set).
struct Script {
    items: VecDeque<(Option<u64>, bool, u8)>,
    current: [u8; 1],
    fail: Option<io::ErrorKind>,
    waits: Vec<Duration>,
}

impl Script {
    fn new(items: &[(Option<u64>, bool, u8)]) -> Self {
        Self {
            items: items.iter().copied().collect(),
            current: [0],
            fail: None,
            waits: Vec::new(),
        }
    }
}

impl BufferStream for Script {
    fn next_filled(&mut self, timeout: Duration) -> io::Result<Filled<'_>> {
        self.waits.push(timeout);
        match self.items.pop_front() {
            Some((stamp_ns, corrupt, byte)) => {
                self.current = [byte];
                Ok(Filled {
                    bytes: &self.current,
                    stamp_ns,
                    corrupt,
                })
            }
            None => Err(io::Error::from(
                self.fail.unwrap_or(io::ErrorKind::TimedOut),
            )),
        }
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[test]
fn stale_stamped_frames_are_dropped() {
    let mut q = Script::new(&[
        (Some(900), false, 1),
        (Some(999), false, 2),
        (Some(1000), false, 3),
        (Some(1100), false, 4),
    ]);
    let stamped = Freshness::Stamped { exposure_ns: 0 };
    let got = take_fresh(&mut q, 1000, soon(), stamped, |b| b[0]).unwrap();
    assert_eq!((got.value, got.stamp_ns, got.dropped), (3, Some(1000), 2));
}

#[test]
fn end_of_frame_stamps_move_back_one_interval() {
    let mut q = Script::new(&[(Some(1020), false, 1), (Some(1060), false, 2)]);
    let eof = Freshness::Stamped { exposure_ns: 33 };
    let got = take_fresh(&mut q, 1000, soon(), eof, |b| b[0]).unwrap();
    assert_eq!((got.value, got.dropped), (2, 1));
}

#[test]
fn unstamped_frames_never_count_as_fresh_by_stamp() {
    let mut q = Script::new(&[(None, false, 1), (None, false, 2)]);
    let stamped = Freshness::Stamped { exposure_ns: 0 };
    let got = take_fresh(&mut q, 1000, soon(), stamped, |b| b[0]);
    assert!(
        matches!(got, Err(TakeError::Timeout { dropped: 2 })),
        "{got:?}"
    );
}

#[test]
fn counted_freshness_skips_the_queue_depth() {
    let items: Vec<_> = (1..=6).map(|k| (None, false, k)).collect();
    let mut q = Script::new(&items);
    let got = take_fresh(&mut q, 0, soon(), Freshness::Counted { skip: 5 }, |b| b[0]).unwrap();
    assert_eq!((got.value, got.dropped), (6, 5));
}

#[test]
fn corrupted_buffers_are_dropped() {
    let mut q = Script::new(&[(Some(2000), true, 1), (Some(2100), false, 2)]);
    let got = take_fresh(
        &mut q,
        1000,
        soon(),
        Freshness::Stamped { exposure_ns: 0 },
        |b| b[0],
    )
    .unwrap();
    assert_eq!((got.value, got.dropped), (2, 1));
}

#[test]
fn timeouts_and_failures_are_told_apart() {
    let mut q = Script::new(&[(Some(1), false, 1)]);
    let stamped = Freshness::Stamped { exposure_ns: 0 };
    let got = take_fresh(&mut q, 1000, soon(), stamped, |b| b[0]);
    assert!(
        matches!(got, Err(TakeError::Timeout { dropped: 1 })),
        "{got:?}"
    );

    let mut q = Script::new(&[]);
    q.fail = Some(io::ErrorKind::WouldBlock);
    let got = take_fresh(&mut q, 0, soon(), stamped, |b| b[0]);
    assert!(
        matches!(got, Err(TakeError::Timeout { dropped: 0 })),
        "{got:?}"
    );

    let mut q = Script::new(&[]);
    q.fail = Some(io::ErrorKind::NotFound);
    let got = take_fresh(&mut q, 0, soon(), stamped, |b| b[0]);
    assert!(matches!(got, Err(TakeError::Io(_))), "{got:?}");
}

#[test]
fn waits_shrink_towards_the_deadline_and_a_past_deadline_waits_not_at_all() {
    let mut q = Script::new(&[(Some(1), false, 1), (Some(2), false, 2)]);
    let deadline = Instant::now() + Duration::from_millis(500);
    let stamped = Freshness::Stamped { exposure_ns: 0 };
    let _ = take_fresh(&mut q, 10, deadline, stamped, |b| b[0]);
    assert_eq!(q.waits.len(), 3);
    assert!(q.waits.iter().all(|w| *w <= Duration::from_millis(500)));
    assert!(q.waits.windows(2).all(|w| w[1] <= w[0]));

    let mut q = Script::new(&[(Some(5), false, 1)]);
    let got = take_fresh(&mut q, 0, Instant::now(), stamped, |b| b[0]);
    assert!(
        matches!(got, Err(TakeError::Timeout { dropped: 0 })),
        "{got:?}"
    );
    assert!(q.waits.is_empty());
}
