//! Cameras for the station: take one frame exposed after a trigger, within a timeout.
//!
//! A [`Camera`] is what the station loop captures from. Unlike a [`FrameSource`] (a folder
//! read in order), a camera is asked for a frame *after* a given instant, so a trigger is
//! never judged on a stale buffer that was queued before it, and it says apart a timeout, a
//! camera that is gone (unplugged) and a frame that cannot be decoded ([`CaptureError`]).
//!
//! Implementations: [`SourceCamera`] over any [`FrameSource`] (`dir:PATH`, optionally looping,
//! and test sources); `v4l2:/dev/videoN` through the `v4l` crate with the `v4l2` feature
//! ([`v4l2`]). Pixel formats are converted to RGB in [`convert`], which needs no device.

pub mod convert;
pub mod fresh;
#[cfg(feature = "v4l2")]
pub mod v4l2;

use std::fmt;
use std::time::{Duration, Instant};

use crate::source::{Frame, FrameError, FrameSource, SourceSpec};

/// Why a capture gave no frame.
#[derive(Debug)]
pub enum CaptureError {
    /// No frame within the timeout (the trigger is answered FAIL `camera`).
    Timeout(Duration),
    /// The camera is gone (unplugged, or the device cannot be opened); the station raises
    /// FAULT and keeps trying to reopen it.
    Gone(String),
    /// A frame came but could not be decoded (FAIL `error`).
    Frame(FrameError),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Timeout(t) => write!(f, "no frame within {} ms", t.as_millis()),
            CaptureError::Gone(why) => write!(f, "the camera is gone: {why}"),
            CaptureError::Frame(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for CaptureError {}

/// Something that captures frames on request.
pub trait Camera: Send {
    /// One frame exposed no earlier than `after`, waiting at most `timeout` for it.
    fn capture(&mut self, after: Instant, timeout: Duration) -> Result<Frame, CaptureError>;

    /// What the camera is, for logs (e.g. `v4l2:/dev/video0 640x480 YUYV`).
    fn describe(&self) -> String;
}

impl<T: Camera + ?Sized> Camera for Box<T> {
    fn capture(&mut self, after: Instant, timeout: Duration) -> Result<Frame, CaptureError> {
        (**self).capture(after, timeout)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A camera over a frame source: every capture reads the source's next frame, which is
/// always fresh (a file is read when asked for). With `looping`, a source that ends is
/// opened again from its first frame and frames keep counting; otherwise the end of the
/// source is a camera that is gone.
pub struct SourceCamera {
    spec: Option<SourceSpec>,
    inner: Box<dyn FrameSource + Send>,
    delivered: u64,
    name: String,
}

impl SourceCamera {
    /// Opens `spec`, reopening it whenever it ends when `looping`.
    pub fn open(spec: SourceSpec, looping: bool) -> crate::Result<Self> {
        let inner = spec.open()?;
        let name = format!("{spec}{}", if looping { " (looping)" } else { "" });
        Ok(Self {
            spec: looping.then_some(spec),
            inner,
            delivered: 0,
            name,
        })
    }

    /// A camera over any source (tests, generated frames), not reopened when it ends.
    pub fn from_source(name: &str, source: Box<dyn FrameSource + Send>) -> Self {
        Self {
            spec: None,
            inner: source,
            delivered: 0,
            name: name.to_owned(),
        }
    }

    fn next_item(&mut self) -> Result<Frame, CaptureError> {
        if let Some(item) = self.inner.next_frame() {
            return item.map_err(CaptureError::Frame);
        }
        let Some(spec) = &self.spec else {
            return Err(CaptureError::Gone(format!(
                "{} has no more frames",
                self.name
            )));
        };
        self.inner = spec.open().map_err(|e| {
            CaptureError::Gone(format!("cannot reopen {spec}: {}", e.chain_message()))
        })?;
        match self.inner.next_frame() {
            Some(item) => item.map_err(CaptureError::Frame),
            None => Err(CaptureError::Gone(format!("{spec} has no frames"))),
        }
    }
}

impl Camera for SourceCamera {
    fn capture(&mut self, _after: Instant, _timeout: Duration) -> Result<Frame, CaptureError> {
        let item = self.next_item();
        self.delivered += 1;
        item.map(|frame| Frame {
            sequence: self.delivered,
            ..frame
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
