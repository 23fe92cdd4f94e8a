//! Atomic file writes: readers see either the old file or the complete new one, never a torn
//! one. Bundle files, the bundle manifest, results files, heatmaps and every file the builder
//! writes go through here, so a crash or power cut on the line leaves the previous version
//! intact.
//!
//! The temp file comes from `tempfile` (unique name in the target's directory, removed if the
//! write is abandoned); this module adds the fsyncs that make the rename durable.

use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: a temp file in the same directory, write, fsync,
/// rename over `path`, fsync the directory. Missing parent directories are created; on any
/// failure the temp file is removed and `path` is untouched.
///
/// ```
/// # fn main() -> adapts_runtime::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("hello.txt");
/// adapts_runtime::fsutil::write_atomic(&path, b"hello")?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// # Ok(())
/// # }
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.commit()
}

/// [`write_atomic`] for a file others must read (bundle files, public keys): mode 0644, where
/// a plain atomic write gives 0600 (the temp file's mode). Who can reach it is then up to the
/// folders above it.
pub fn write_atomic_readable(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.set_mode(0o644)?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.commit()
}

/// A file written in pieces that appears at its path, whole, only when committed. Dropped
/// without [`commit`](Self::commit), it leaves no trace.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    temp: NamedTempFile,
}

impl AtomicFile {
    /// Starts writing `path`: a hidden temp file in the same directory (so the rename never
    /// crosses a filesystem). Missing parent directories are created.
    pub fn create(path: &Path) -> Result<Self> {
        let dir = parent_dir(path);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = path.file_name().ok_or_else(|| {
            Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
            )
        })?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// Sets the file's permission bits (it is created with 0600).
    pub fn set_mode(&mut self, mode: u32) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        self.temp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(&self.path, e))
    }

    /// The path the file will have once committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and fsyncs the data, renames the temp file over the path and fsyncs the
    /// directory.
    pub fn commit(self) -> Result<()> {
        self.persist(false)
    }

    /// [`commit`](Self::commit), but the path must not exist yet: an existing file is never
    /// replaced (the error is `AlreadyExists`), and the temp file is removed.
    pub fn commit_new(self) -> Result<()> {
        self.persist(true)
    }

    fn persist(mut self, no_clobber: bool) -> Result<()> {
        let path = self.path;
        self.temp.flush().map_err(|e| Error::io(&path, e))?;
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(&path, e))?;
        let persisted = if no_clobber {
            self.temp.persist_noclobber(&path)
        } else {
            self.temp.persist(&path)
        };
        persisted.map_err(|e| Error::io(&path, e.error))?;
        sync_dir(parent_dir(&path));
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

/// Makes a rename in `dir` durable. Not every filesystem supports syncing a directory, so a
/// failure here is ignored: the data itself was already synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The directory a file lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<std::ffi::OsString> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_readable_file_is_0644_and_a_plain_one_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        write_atomic(&dir.path().join("a"), b"x").unwrap();
        write_atomic_readable(&dir.path().join("b"), b"x").unwrap();
        assert_eq!(
            (mode(&dir.path().join("a")), mode(&dir.path().join("b"))),
            (0o600, 0o644)
        );
    }

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("f.bin");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second").expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert_eq!(names(&dir.path().join("sub")), ["f.bin"]);
    }

    #[test]
    fn failure_names_the_path_and_removes_the_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should go: the rename fails.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::write(path.join("x"), b"x").expect("fill");
        let err = write_atomic(&path, b"data").expect_err("rename onto a directory");
        assert!(err.to_string().contains("taken"), "{err}");
        assert_eq!(names(dir.path()), ["taken"]);
    }

    #[test]
    fn a_streamed_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.jsonl");
        std::fs::write(&path, b"old\n").expect("old version");
        let mut file = AtomicFile::create(&path).expect("create");
        file.write_all(b"new 1\n").expect("write");
        // Mid-write, readers still see the old file.
        assert_eq!(std::fs::read(&path).expect("read"), b"old\n");
        file.write_all(b"new 2\n").expect("write");
        file.commit().expect("commit");
        assert_eq!(std::fs::read(&path).expect("read"), b"new 1\nnew 2\n");
        assert_eq!(names(dir.path()), ["results.jsonl"]);

        // Abandoned: no trace, the committed file is kept.
        let mut file = AtomicFile::create(&path).expect("create");
        file.write_all(b"half").expect("write");
        drop(file);
        assert_eq!(std::fs::read(&path).expect("read"), b"new 1\nnew 2\n");
        assert_eq!(names(dir.path()), ["results.jsonl"]);
    }
}
