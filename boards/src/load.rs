//! Reading and writing profiles as TOML, from text, from a user path or by name, with parse
//! errors located at the offending line, key and value.

use std::ops::Range;
use std::path::Path;

use crate::board::Board;
use crate::error::{Error, Location, Result};

/// Largest board profile file read.
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;

impl Board {
    /// Parses and validates a profile from TOML text. `origin` names the text in errors
    /// (a file path, or `built-in profile <name>`).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Board> {
        let board = parse(text, origin)?;
        board.check(origin)?;
        Ok(board)
    }

    /// Reads, parses and validates a profile file; one over [`MAX_PROFILE_BYTES`] is refused
    /// unread.
    pub fn from_path(path: &Path) -> Result<Board> {
        use std::io::Read;
        let read_error = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(read_error)?
            .take(MAX_PROFILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > MAX_PROFILE_BYTES {
            return Err(read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("over the {MAX_PROFILE_BYTES}-byte limit for a board profile"),
            )));
        }
        Board::from_toml_str(&text, &path.display().to_string())
    }

    /// Resolves a board as a user gives it: a built-in profile name, or a path to a profile
    /// file (anything containing a path separator or ending in `.toml`).
    pub fn load(spec: &str) -> Result<Board> {
        let looks_like_path = spec.contains('/')
            || spec.contains(std::path::MAIN_SEPARATOR)
            || spec.ends_with(".toml");
        if looks_like_path {
            Board::from_path(Path::new(spec))
        } else {
            Board::builtin(spec)
        }
    }

    /// The profile as TOML text that [`Board::from_toml_str`] reads back to an equal board.
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Write {
            name: self.name.clone(),
            message: e.to_string(),
        })
    }
}

/// Deserialises without validating.
fn parse(text: &str, origin: &str) -> Result<Board> {
    toml::from_str(text).map_err(|e| Error::Parse {
        origin: origin.to_owned(),
        location: locate(text, e.span(), e.message()),
        message: e.message().trim().to_owned(),
    })
}

/// Turns the reader's byte span into a line number, a dotted key and the value as written.
fn locate(text: &str, span: Option<Range<usize>>, message: &str) -> Location {
    let missing = missing_field(message);
    let Some(before) = span.and_then(|s| text.get(..s.start)) else {
        return Location {
            line: None,
            key: missing,
            value: None,
        };
    };
    let start = before.len();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = text[line_start..line_end].trim();
    let table = current_table(&text[..line_start]);

    let (mut key, mut value) = (None, None);
    if let Some(header) = table_header(line) {
        key = Some(header.to_owned());
    } else if let Some((k, v)) = line.split_once('=') {
        key = Some(join(table.as_deref(), k.trim()));
        value = Some(v.trim().to_owned());
    }
    if let Some(field) = missing {
        // The reader points at the table that lacks the field.
        let base = table_header(line).map(str::to_owned).or(table);
        key = Some(join(base.as_deref(), &field));
        value = None;
    }
    Location {
        line: Some(before.matches('\n').count() + 1),
        key,
        value,
    }
}

/// The field named by a "missing field `x`" message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.split("missing field `").nth(1)?;
    rest.split('`').next().map(str::to_owned)
}

/// `[name]` -> `name`.
fn table_header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(inner[..end].trim().trim_matches('['))
}

/// The table in effect at the end of `text`, skipping multi-line strings.
fn current_table(text: &str) -> Option<String> {
    let mut in_multiline = false;
    let mut table = None;
    for line in text.lines() {
        let quotes = line.matches("\"\"\"").count() + line.matches("'''").count();
        if !in_multiline {
            if let Some(header) = table_header(line.trim()) {
                table = Some(header.to_owned());
            }
        }
        if quotes % 2 == 1 {
            in_multiline = !in_multiline;
        }
    }
    table
}

fn join(table: Option<&str>, key: &str) -> String {
    match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_keys_inside_tables() {
        let text = "name = \"a\"\n[camera]\nfps = \"fast\"\n";
        let at = text.find("\"fast\"").expect("value present");
        let loc = locate(text, Some(at..at + 6), "invalid type");
        assert_eq!(loc.line, Some(3));
        assert_eq!(loc.key.as_deref(), Some("camera.fps"));
        assert_eq!(loc.value.as_deref(), Some("\"fast\""));
    }

    #[test]
    fn ignores_brackets_inside_multiline_strings() {
        let text = "description = \"\"\"\n[not a table]\n\"\"\"\nengine = \"x\"\n";
        let at = text.find("engine").expect("key present");
        let loc = locate(text, Some(at..at + 6), "unknown variant");
        assert_eq!(loc.key.as_deref(), Some("engine"));
    }

    #[test]
    fn names_missing_fields() {
        let loc = locate("", None, "missing field `camera`");
        assert_eq!(loc.key.as_deref(), Some("camera"));
        assert_eq!(loc.line, None);
    }
}
