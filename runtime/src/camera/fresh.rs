//! Picking the first frame exposed after a trigger out of a camera's buffer queue.
//!
//! A streaming camera fills its buffers continuously, so when a trigger comes the driver
//! may already hold frames exposed before it. [`take_fresh`] dequeues and drops those until
//! one was exposed no earlier than the trigger, or the timeout passes. It works on any
//! [`BufferStream`]: the V4L2 device, or a fake in the tests.
//!
//! How freshness is told ([`Freshness`]):
//! - with kernel timestamps on CLOCK_MONOTONIC (what UVC and most drivers give), by the
//!   buffer's timestamp, moved back by one frame interval when the driver stamps the end of
//!   the frame rather than the start of exposure;
//! - without them, by count: a queue of N buffers holds at most N finished frames and one in
//!   progress, so the (N + 2)th frame dequeued after the trigger is the first that is
//!   certainly fresh. That costs N + 1 frame intervals of latency.

use std::io;
use std::time::{Duration, Instant};

/// One filled buffer, borrowed from the stream until the next call.
#[derive(Debug)]
pub struct Filled<'a> {
    /// The bytes the driver wrote (`bytesused` of them).
    pub bytes: &'a [u8],
    /// The buffer's timestamp on CLOCK_MONOTONIC, in nanoseconds, when the driver gives one.
    pub stamp_ns: Option<u64>,
    /// The driver flagged the buffer's data as corrupted.
    pub corrupt: bool,
}

/// A queue of filled buffers.
pub trait BufferStream {
    /// The next filled buffer, waiting at most `timeout`. A timeout is an error of kind
    /// [`io::ErrorKind::TimedOut`].
    fn next_filled(&mut self, timeout: Duration) -> io::Result<Filled<'_>>;
}

/// How a frame is told to be fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// By timestamp: fresh when `stamp - exposure_ns >= trigger`.
    Stamped {
        /// Subtracted from a stamp to get the start of exposure (one frame interval for
        /// end-of-frame stamps, 0 for start-of-exposure stamps).
        exposure_ns: u64,
    },
    /// By count: the first `skip` frames dequeued after the trigger are dropped.
    Counted {
        /// Frames to drop (buffers + 1).
        skip: u32,
    },
}

/// A fresh frame.
#[derive(Debug)]
pub struct Taken<T> {
    /// What `decode` made of its bytes.
    pub value: T,
    /// Its timestamp on CLOCK_MONOTONIC, when the driver gives one.
    pub stamp_ns: Option<u64>,
    /// Stale or corrupted frames dropped before it.
    pub dropped: u32,
}

/// Why no fresh frame was taken.
#[derive(Debug)]
pub enum TakeError {
    /// The timeout passed; `dropped` stale or corrupted frames came before it did.
    Timeout {
        /// Frames dropped before the timeout.
        dropped: u32,
    },
    /// The stream failed (for a V4L2 device, usually: unplugged).
    Io(io::Error),
}

/// Dequeues frames until one is fresh for a trigger at `trigger_ns` (CLOCK_MONOTONIC) and
/// decodes it, waiting until `deadline` at most. Frames the driver flags as corrupted are
/// dropped as well.
pub fn take_fresh<S: BufferStream + ?Sized, T>(
    stream: &mut S,
    trigger_ns: u64,
    deadline: Instant,
    freshness: Freshness,
    mut decode: impl FnMut(&[u8]) -> T,
) -> Result<Taken<T>, TakeError> {
    let mut dropped = 0u32;
    let mut seen = 0u32;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(TakeError::Timeout { dropped });
        }
        let filled = match stream.next_filled(left) {
            Ok(filled) => filled,
            Err(err) if is_timeout(&err) => return Err(TakeError::Timeout { dropped }),
            Err(err) => return Err(TakeError::Io(err)),
        };
        seen += 1;
        let fresh = match freshness {
            Freshness::Stamped { exposure_ns } => filled
                .stamp_ns
                .is_some_and(|stamp| stamp.saturating_sub(exposure_ns) >= trigger_ns),
            Freshness::Counted { skip } => seen > skip,
        };
        if !fresh || filled.corrupt {
            dropped += 1;
            continue;
        }
        let stamp_ns = filled.stamp_ns;
        return Ok(Taken {
            value: decode(filled.bytes),
            stamp_ns,
            dropped,
        });
    }
}

/// A wait that ended without a buffer (`poll` timed out, or a non-blocking dequeue found
/// none).
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests;
