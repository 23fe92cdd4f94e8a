//! The line protocol for PLC gateways and scripts: `TRIGGER [product]` lines in, one JSON
//! [`ResultLine`] per trigger out, flushed at once.
//!
//! Commands are case-insensitive; blank lines are ignored; any other line is logged as a
//! warning naming it and answers nothing (it is not a trigger), as is a line over
//! [`MAX_LINE_BYTES`] (never held in memory whole) or one that is not UTF-8. End of input
//! closes the trigger, and the station stops after answering what it was given.

use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{Trigger, TriggerEvent, VerdictSink, Wait};
use crate::error::{Error, Result};
use crate::limits::MAX_LINE_BYTES;
use crate::results::ResultLine;

/// One parsed input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `TRIGGER [product]`.
    Trigger(Option<String>),
}

/// Parses one input line: `Ok(None)` for a blank line, an error naming anything else.
pub fn parse_line(line: &str) -> std::result::Result<Option<Command>, String> {
    let mut words = line.split_whitespace();
    let Some(word) = words.next() else {
        return Ok(None);
    };
    if !word.eq_ignore_ascii_case("TRIGGER") {
        return Err(format!(
            "unknown command `{word}` in line `{}` (expected `TRIGGER [product]`)",
            line.trim()
        ));
    }
    let product = words.next().map(str::to_string);
    if let Some(extra) = words.next() {
        return Err(format!(
            "`{extra}` after the product in line `{}` (expected `TRIGGER [product]`)",
            line.trim()
        ));
    }
    Ok(Some(Command::Trigger(product)))
}

/// One line of input as [`read_bounded_line`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputLine {
    /// The line, without its `\n` (or `\r\n`).
    Text(String),
    /// A line of this many bytes, over the limit; it was skipped.
    TooLong(usize),
    /// A line that is not UTF-8; it was skipped.
    NotUtf8,
}

/// Reads the next line of `input`, keeping at most `max` bytes of it: a longer line is read
/// to its end and dropped, reported as [`InputLine::TooLong`]. `None` at the end of input.
pub fn read_bounded_line<R: BufRead>(
    input: &mut R,
    max: usize,
) -> std::io::Result<Option<InputLine>> {
    let mut line = Vec::new();
    let mut total = 0usize;
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            if total == 0 {
                return Ok(None);
            }
            break;
        }
        let (taken, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if total + taken <= max {
            line.extend_from_slice(&buf[..taken]);
        }
        total += taken;
        input.consume(taken);
        if ended {
            break;
        }
    }
    if total > max {
        return Ok(Some(InputLine::TooLong(total)));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(Some(match String::from_utf8(line) {
        Ok(text) => InputLine::Text(text),
        Err(_) => InputLine::NotUtf8,
    }))
}

/// Triggers read from lines of text (standard input), on a reader thread so that waiting
/// can time out.
pub struct LineTrigger {
    lines: Receiver<std::io::Result<InputLine>>,
    next_id: u64,
}

impl LineTrigger {
    /// Reads `input` line by line on its own thread, each line at most [`MAX_LINE_BYTES`].
    pub fn spawn<R: BufRead + Send + 'static>(mut input: R) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || loop {
            let line = match read_bounded_line(&mut input, MAX_LINE_BYTES) {
                Ok(Some(line)) => Ok(line),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            let failed = line.is_err();
            if tx.send(line).is_err() || failed {
                break;
            }
        });
        Self {
            lines: rx,
            next_id: 1,
        }
    }
}

impl Trigger for LineTrigger {
    fn wait(&mut self, timeout: Duration) -> Result<Wait> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(Ok(InputLine::Text(line))) => line,
                Ok(Ok(InputLine::TooLong(n))) => {
                    log::warn!(
                        "a line of {n} bytes on the input was skipped: the limit is \
                         {MAX_LINE_BYTES} bytes"
                    );
                    continue;
                }
                Ok(Ok(InputLine::NotUtf8)) => {
                    log::warn!("a line on the input that is not UTF-8 was skipped");
                    continue;
                }
                Ok(Err(err)) => return Err(Error::io("(standard input)", err)),
                Err(RecvTimeoutError::Timeout) => return Ok(Wait::Timeout),
                Err(RecvTimeoutError::Disconnected) => return Ok(Wait::Closed),
            };
            match parse_line(&line) {
                Ok(Some(Command::Trigger(product))) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    return Ok(Wait::Trigger(TriggerEvent {
                        id,
                        product,
                        at: Instant::now(),
                    }));
                }
                Ok(None) => {}
                Err(message) => log::warn!("{message}"),
            }
        }
    }
}

/// Result lines written as JSON, one per line, flushed after each; ready and busy are not
/// signalled on a text stream.
pub struct JsonLinesSink<W: Write> {
    out: W,
}

impl<W: Write> JsonLinesSink<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> VerdictSink for JsonLinesSink<W> {
    fn ready(&mut self, _ready: bool) -> Result<()> {
        Ok(())
    }

    fn busy(&mut self, _busy: bool) -> Result<()> {
        Ok(())
    }

    fn result(&mut self, line: &ResultLine) -> Result<()> {
        let io = |e| Error::io("(results output)", e);
        self.out.write_all(line.to_json().as_bytes()).map_err(io)?;
        self.out.write_all(b"\n").map_err(io)?;
        self.out.flush().map_err(io)
    }
}
