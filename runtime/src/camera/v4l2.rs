//! V4L2 cameras through the `v4l` crate: MMAP streaming, one frame exposed after each
//! trigger, reopening after an unplug.
//!
//! The device is opened and its format set once; the stream runs between triggers, so a
//! capture costs at most one frame interval plus the conversion, and [`take_fresh`] drops
//! the buffers that were exposed before the trigger.
//!
//! Two behaviours of `v4l` 0.14 are worked around here: its `Stream` queues every buffer on
//! the first `next()` before STREAMON (so the stream is only ever started through it), and
//! after a dequeue that timed out it would queue the same buffer a second time on the next
//! call, so a timeout closes the stream and the next capture opens a fresh one. Its `Drop`
//! panics when STREAMOFF fails for a reason other than an unplug; the stream is stopped
//! here first, and a stream that cannot be stopped is leaked, not dropped.
//!
//! A failed dequeue other than a timeout (ENODEV after an unplug, EIO) closes the device:
//! the capture is [`CaptureError::Gone`], and every later capture tries to open the device
//! node again, with the same format, until it is back. Name the camera by a stable path
//! (`/dev/v4l/by-id/...`) so that it is found again under the same name.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use adapts_boards::PixelFormat;
use v4l::buffer::{Flags, Type};
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

use super::convert;
use super::fresh::{take_fresh, BufferStream, Filled, Freshness, TakeError};
use super::{Camera, CaptureError, Frame};
use crate::error::{Error, Result};
use crate::source::FrameError;
use crate::station::gpio::monotonic_ns;

/// How long opening waits for the first frame (UVC cameras take up to a second to start).
const START_TIMEOUT: Duration = Duration::from_secs(3);

/// What to open and how to set it.
#[derive(Debug, Clone, PartialEq)]
pub struct V4l2Config {
    /// Device node, e.g. `/dev/video0` or `/dev/v4l/by-id/usb-...-video-index0`.
    pub device: PathBuf,
    /// Width in pixels to ask for.
    pub width: u32,
    /// Height in pixels to ask for.
    pub height: u32,
    /// Pixel format to ask for; the driver must accept it.
    pub pixel_format: PixelFormat,
    /// Frames per second to ask for (the driver's default when `None`).
    pub fps: Option<u32>,
    /// Buffers in the MMAP queue (2..=32).
    pub buffers: u32,
}

/// The format the driver agreed to.
#[derive(Debug, Clone, Copy)]
struct Negotiated {
    width: u32,
    height: u32,
    stride: usize,
    pixel_format: PixelFormat,
    interval_ns: u64,
}

/// A V4L2 capture device, streaming.
pub struct V4l2Camera {
    config: V4l2Config,
    spec: String,
    card: String,
    device: Option<Device>,
    stream: Option<Streaming>,
    format: Negotiated,
    freshness: Freshness,
    delivered: u64,
}

impl V4l2Camera {
    /// Opens the device, sets its format and frame rate, starts streaming and waits for one
    /// frame, which also shows how the driver stamps its buffers.
    pub fn open(config: &V4l2Config) -> Result<Self> {
        let spec = format!("v4l2:{}", config.device.display());
        let bad = |reason: String| Error::Source {
            spec: spec.clone(),
            reason,
        };
        if !(2..=32).contains(&config.buffers) {
            return Err(bad(format!("{} buffers: expected 2..=32", config.buffers)));
        }
        let (device, format) = open_device(config).map_err(bad)?;
        let card = device
            .query_caps()
            .map(|caps| format!("{}, {}", caps.driver, caps.card))
            .unwrap_or_default();
        let mut stream = Streaming::start(&device, config.buffers)
            .map_err(|e| bad(format!("cannot map {} buffers: {e}", config.buffers)))?;
        let flags = match stream.next_filled(START_TIMEOUT) {
            Ok(_) => stream.flags,
            Err(e) => {
                close(stream);
                return Err(bad(format!(
                    "no first frame within {} s: {e}",
                    START_TIMEOUT.as_secs()
                )));
            }
        };
        let freshness = freshness_of(flags, format.interval_ns, config.buffers);
        if let Freshness::Counted { skip } = freshness {
            log::warn!(
                "{spec}: the driver gives no monotonic buffer timestamps; each capture drops \
                 {skip} frames to be sure of a fresh one (fewer `buffers` make that shorter)"
            );
        }
        Ok(Self {
            config: config.clone(),
            spec,
            card,
            device: Some(device),
            stream: Some(stream),
            format,
            freshness,
            delivered: 0,
        })
    }

    /// Opens the device again after an unplug, and a stream after a timeout.
    fn reopen(&mut self) -> std::result::Result<&mut Streaming, CaptureError> {
        if self.device.is_none() {
            let (device, format) = open_device(&self.config).map_err(CaptureError::Gone)?;
            if (format.width, format.height, format.pixel_format)
                != (
                    self.format.width,
                    self.format.height,
                    self.format.pixel_format,
                )
            {
                return Err(CaptureError::Gone(format!(
                    "{} came back as {}x{} {}",
                    self.spec, format.width, format.height, format.pixel_format
                )));
            }
            log::info!("{}: open again", self.spec);
            self.format = format;
            self.device = Some(device);
        }
        if self.stream.is_none() {
            let device = self.device.as_ref().expect("opened above");
            match Streaming::start(device, self.config.buffers) {
                Ok(stream) => self.stream = Some(stream),
                Err(e) => {
                    self.device = None;
                    return Err(CaptureError::Gone(format!(
                        "{}: cannot map buffers: {e}",
                        self.spec
                    )));
                }
            }
        }
        Ok(self.stream.as_mut().expect("started above"))
    }

    fn close_stream(&mut self) {
        if let Some(stream) = self.stream.take() {
            close(stream);
        }
    }
}

impl Camera for V4l2Camera {
    fn capture(
        &mut self,
        after: Instant,
        timeout: Duration,
    ) -> std::result::Result<Frame, CaptureError> {
        let (now, now_ns) = (Instant::now(), monotonic_ns());
        let deadline = now + timeout;
        let trigger_ns = now_ns.saturating_sub(duration_ns(now.saturating_duration_since(after)));
        let format = self.format;
        let freshness = self.freshness;
        let stream = self.reopen()?;
        let taken = take_fresh(stream, trigger_ns, deadline, freshness, |bytes| {
            convert::to_rgb(
                format.pixel_format,
                format.width,
                format.height,
                format.stride,
                bytes,
            )
        });
        match taken {
            Ok(taken) => {
                self.delivered += 1;
                if taken.dropped > 0 {
                    log::debug!("{}: dropped {} stale frames", self.spec, taken.dropped);
                }
                let id = format!("v4l2-{:08}", self.delivered);
                let image = taken.value.map_err(|err| {
                    CaptureError::Frame(FrameError {
                        id: id.clone(),
                        error: Error::Source {
                            spec: self.spec.clone(),
                            reason: err.to_string(),
                        },
                    })
                })?;
                let age = taken.stamp_ns.map_or(Duration::ZERO, |s| {
                    Duration::from_nanos(monotonic_ns().saturating_sub(s))
                });
                Ok(Frame {
                    id,
                    image,
                    sequence: self.delivered,
                    captured: SystemTime::now()
                        .checked_sub(age)
                        .unwrap_or_else(SystemTime::now),
                })
            }
            Err(TakeError::Timeout { dropped }) => {
                // `v4l` would queue the timed-out buffer twice on the next call.
                self.close_stream();
                log::debug!(
                    "{}: timeout after dropping {dropped} stale frames",
                    self.spec
                );
                Err(CaptureError::Timeout(timeout))
            }
            Err(TakeError::Io(err)) => {
                self.close_stream();
                self.device = None;
                Err(CaptureError::Gone(format!("{}: {err}", self.spec)))
            }
        }
    }

    fn describe(&self) -> String {
        let f = &self.format;
        let fps = match f.interval_ns {
            0 => String::new(),
            ns => format!(" {:.1} fps", 1e9 / ns as f64),
        };
        let card = if self.card.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.card)
        };
        format!(
            "{} {}x{} {}{fps}{card}",
            self.spec, f.width, f.height, f.pixel_format
        )
    }
}

impl Drop for V4l2Camera {
    fn drop(&mut self) {
        self.close_stream();
    }
}

/// The MMAP stream and the flags of the last buffer it gave.
struct Streaming {
    stream: Stream<'static>,
    flags: Flags,
}

impl Streaming {
    /// Maps the buffers; the first [`BufferStream::next_filled`] queues them all and starts
    /// streaming.
    fn start(device: &Device, buffers: u32) -> io::Result<Self> {
        Ok(Self {
            stream: Stream::with_buffers(device, Type::VideoCapture, buffers)?,
            flags: Flags::empty(),
        })
    }
}

impl BufferStream for Streaming {
    fn next_filled(&mut self, timeout: Duration) -> io::Result<Filled<'_>> {
        self.stream
            .set_timeout(timeout.max(Duration::from_millis(1)));
        let (bytes, meta) = CaptureStream::next(&mut self.stream)?;
        self.flags = meta.flags;
        let used = match meta.bytesused as usize {
            0 => bytes.len(),
            n => n.min(bytes.len()),
        };
        let monotonic = (meta.flags & Flags::TIMESTAMP_MASK) == Flags::TIMESTAMP_MONOTONIC;
        let stamp_ns = monotonic.then(|| {
            let (sec, usec) = (
                meta.timestamp.sec.max(0) as u64,
                meta.timestamp.usec.max(0) as u64,
            );
            sec.saturating_mul(1_000_000_000)
                .saturating_add(usec * 1_000)
        });
        Ok(Filled {
            bytes: &bytes[..used],
            stamp_ns,
            corrupt: meta.flags.contains(Flags::ERROR),
        })
    }
}

/// Stops a stream before it is dropped; one that cannot be stopped is leaked rather than
/// dropped, since `v4l`'s `Drop` would panic on it.
fn close(mut stream: Streaming) {
    match stream.stream.stop() {
        Ok(()) => drop(stream),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) => drop(stream),
        Err(e) => {
            log::error!("cannot stop the V4L2 stream ({e}); its buffers stay mapped");
            std::mem::forget(stream);
        }
    }
}

/// How captures tell fresh frames, from the flags of a first buffer.
fn freshness_of(flags: Flags, interval_ns: u64, buffers: u32) -> Freshness {
    if (flags & Flags::TIMESTAMP_MASK) == Flags::TIMESTAMP_MONOTONIC {
        let start_of_exposure = (flags & Flags::TSTAMP_SRC_MASK) == Flags::TSTAMP_SRC_SOE;
        Freshness::Stamped {
            exposure_ns: if start_of_exposure { 0 } else { interval_ns },
        }
    } else {
        Freshness::Counted { skip: buffers + 1 }
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Opens the node, checks it can stream video, and sets format and frame rate.
fn open_device(config: &V4l2Config) -> std::result::Result<(Device, Negotiated), String> {
    let path = &config.device;
    let device =
        Device::with_path(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let caps = device
        .query_caps()
        .map_err(|e| format!("{} is not a V4L2 device: {e}", path.display()))?;
    use v4l::capability::Flags as Caps;
    if !caps.capabilities.contains(Caps::VIDEO_CAPTURE)
        || !caps.capabilities.contains(Caps::STREAMING)
    {
        return Err(format!(
            "{} ({}) cannot stream video capture (single-planar, MMAP)",
            path.display(),
            caps.card
        ));
    }
    let wanted = FourCC::new(&config.pixel_format.fourcc());
    let set = device
        .set_format(&Format::new(config.width, config.height, wanted))
        .map_err(|e| {
            format!(
                "cannot set {}x{} {}: {e}",
                config.width, config.height, config.pixel_format
            )
        })?;
    if set.fourcc != wanted {
        let offered: Vec<String> = device
            .enum_formats()
            .unwrap_or_default()
            .iter()
            .map(|d| d.fourcc.to_string())
            .collect();
        return Err(format!(
            "the driver does not take {} (it offers {})",
            config.pixel_format,
            offered.join(", ")
        ));
    }
    if (set.width, set.height) != (config.width, config.height) {
        log::warn!(
            "{}: asked for {}x{}, the driver set {}x{}",
            path.display(),
            config.width,
            config.height,
            set.width,
            set.height
        );
    }
    let interval = match config.fps {
        Some(fps) => device.set_params(&v4l::video::capture::Parameters::with_fps(fps)),
        None => device.params(),
    }
    .map(|p| p.interval)
    .map_err(|e| format!("cannot set the frame rate: {e}"))?;
    let interval_ns = match interval.denominator {
        0 => 0,
        d => u64::from(interval.numerator) * 1_000_000_000 / u64::from(d),
    };
    Ok((
        device,
        Negotiated {
            width: set.width,
            height: set.height,
            stride: set.stride as usize,
            pixel_format: config.pixel_format,
            interval_ns,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_follows_the_timestamp_flags() {
        let eof = Flags::TIMESTAMP_MONOTONIC;
        assert_eq!(
            freshness_of(eof, 33_333_333, 4),
            Freshness::Stamped {
                exposure_ns: 33_333_333
            }
        );
        let soe = Flags::TIMESTAMP_MONOTONIC | Flags::TSTAMP_SRC_SOE;
        assert_eq!(
            freshness_of(soe, 33_333_333, 4),
            Freshness::Stamped { exposure_ns: 0 }
        );
        assert_eq!(
            freshness_of(Flags::TIMESTAMP_COPY, 1, 4),
            Freshness::Counted { skip: 5 }
        );
        assert_eq!(
            freshness_of(Flags::empty(), 1, 2),
            Freshness::Counted { skip: 3 }
        );
    }

    #[test]
    fn a_missing_device_is_an_error_naming_it() {
        let config = V4l2Config {
            device: "/dev/no-such-video-device".into(),
            width: 640,
            height: 480,
            pixel_format: PixelFormat::Yuyv,
            fps: None,
            buffers: 4,
        };
        let err = V4l2Camera::open(&config).err().expect("no such device");
        let text = err.to_string();
        assert!(text.contains("/dev/no-such-video-device"), "{text}");
        let few = V4l2Config {
            buffers: 1,
            ..config
        };
        assert!(V4l2Camera::open(&few)
            .err()
            .unwrap()
            .to_string()
            .contains("2..=32"));
    }
}
