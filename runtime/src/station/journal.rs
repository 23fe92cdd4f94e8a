//! The station's results file: one JSON [`ResultLine`] per trigger, appended and written
//! through to the operating system at once, and rotated by size. A station never ends, so
//! there is no rename at the end: when the next line would take the file over `max_bytes`,
//! `results.jsonl` becomes `results.jsonl.1` (`.1` becomes `.2`, and so on up to `keep`
//! files; the oldest is removed) and a new file is started. Lines are never split across
//! files.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::VerdictSink;
use crate::error::{Error, Result};
use crate::results::ResultLine;

/// An append-only, size-rotated JSON-lines file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: File,
    size: u64,
}

impl Journal {
    /// Opens `path` for appending (creating it and its folder), rotating when a line would
    /// take it over `max_bytes`, keeping `keep` rotated files (0: none, the full file is
    /// removed).
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = open_append(path)?;
        let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Ok(Self {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep,
            file,
            size,
        })
    }

    /// Appends one line (a line break is added).
    pub fn append(&mut self, line: &str) -> Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        // One write per line: readers tailing the file never see half a line from us.
        self.file
            .write_all(&bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.size += len;
        Ok(())
    }

    /// The numbered name of rotated file `k` (1 is the newest).
    pub fn rotated(&self, k: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{k}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> Result<()> {
        let rename = |from: &Path, to: &Path| match std::fs::rename(from, to) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(from, e)),
            _ => Ok(()),
        };
        if self.keep == 0 {
            std::fs::remove_file(&self.path).map_err(|e| Error::io(&self.path, e))?;
        } else {
            let oldest = self.rotated(self.keep);
            if oldest.exists() {
                std::fs::remove_file(&oldest).map_err(|e| Error::io(&oldest, e))?;
            }
            for k in (1..self.keep).rev() {
                rename(&self.rotated(k), &self.rotated(k + 1))?;
            }
            rename(&self.path, &self.rotated(1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        log::info!("results file rotated: {}", self.path.display());
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

impl VerdictSink for Journal {
    fn ready(&mut self, _ready: bool) -> Result<()> {
        Ok(())
    }

    fn busy(&mut self, _busy: bool) -> Result<()> {
        Ok(())
    }

    fn result(&mut self, line: &ResultLine) -> Result<()> {
        self.append(&line.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn rotates_by_size_without_splitting_or_losing_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/results.jsonl");
        // Each line is 10 bytes with its break; 35 bytes hold three.
        let mut j = Journal::open(&path, 35, 2).unwrap();
        for k in 0..10 {
            j.append(&format!("line-{k:04}")).unwrap();
        }
        let (newest, r1, r2) = (lines(&path), lines(&j.rotated(1)), lines(&j.rotated(2)));
        assert_eq!(newest, ["line-0009"]);
        assert_eq!(r1, ["line-0006", "line-0007", "line-0008"]);
        assert_eq!(r2, ["line-0003", "line-0004", "line-0005"]);
        assert!(!j.rotated(3).exists(), "only `keep` rotated files");
        for file in [&path, &j.rotated(1), &j.rotated(2)] {
            assert!(std::fs::metadata(file).unwrap().len() <= 35);
        }
    }

    #[test]
    fn reopening_appends_and_counts_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        Journal::open(&path, 25, 1)
            .unwrap()
            .append("aaaaaaaaa")
            .unwrap();
        let mut j = Journal::open(&path, 25, 1).unwrap();
        j.append("bbbbbbbbb").unwrap();
        j.append("ccccccccc").unwrap();
        assert_eq!(lines(&j.rotated(1)), ["aaaaaaaaa", "bbbbbbbbb"]);
        assert_eq!(lines(&path), ["ccccccccc"]);
    }
}
