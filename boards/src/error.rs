//! The crate's error type: every failure names where it came from (file or built-in profile),
//! the key and, where there is one, the offending value.

use std::fmt;
use std::path::PathBuf;

/// Result alias for board profile operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors from loading, validating or writing a board profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The profile file could not be read.
    #[error("{}: cannot read board profile", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not a well-formed profile (TOML syntax, unknown key, wrong type, bad choice).
    #[error("{origin}: {location}: {message}")]
    Parse {
        /// The file path, or `built-in profile <name>`.
        origin: String,
        location: Location,
        /// What the TOML reader reported.
        message: String,
    },
    /// The profile parsed but breaks a rule (e.g. a GPIO line used twice).
    #[error("{origin}: `{key}` = {value}: {reason}")]
    Invalid {
        origin: String,
        /// Dotted key, e.g. `gpio.fail_line`.
        key: String,
        /// The value as written, or `(missing)`.
        value: String,
        reason: String,
    },
    /// No built-in profile has this name.
    #[error("unknown board `{name}`; built-in boards: {known}")]
    UnknownBoard { name: String, known: String },
    /// The profile could not be written as TOML.
    #[error("board `{name}`: cannot write profile: {message}")]
    Write { name: String, message: String },
}

/// Where in a profile's text a parse error points.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// 1-based line number, when the reader reported a position.
    pub line: Option<usize>,
    /// Dotted key, e.g. `camera.pixel_format`, when one could be identified.
    pub key: Option<String>,
    /// The value as written on that line, when the line is a `key = value` pair.
    pub value: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(line) = self.line {
            write!(f, "line {line}")?;
            wrote = true;
        }
        if let Some(key) = &self.key {
            if wrote {
                f.write_str(": ")?;
            }
            write!(f, "`{key}`")?;
            if let Some(value) = &self.value {
                write!(f, " = {value}")?;
            }
            wrote = true;
        }
        if !wrote {
            f.write_str("document")?;
        }
        Ok(())
    }
}
