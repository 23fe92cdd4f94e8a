//! Atomic file writes: readers see either the old file or the complete new one, never a torn
//! one. Bundle files, the bundle manifest, results files and heatmaps are all written this way,
//! so a crash or power cut on the line leaves the previous version intact.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: a temp file in the same directory, write, fsync,
/// rename over `path`, fsync the directory. The temp file is removed if any step fails.
/// Missing parent directories are created.
///
/// ```
/// # fn main() -> adapts_runtime::Result<()> {
/// let dir = std::env::temp_dir().join(format!("adapts-doc-{}", std::process::id()));
/// let path = dir.join("hello.txt");
/// adapts_runtime::fsutil::write_atomic(&path, b"hello")?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = temp_path(path)?;
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| Error::io(path, e))
}

/// The temp file [`write_atomic`] uses for `path`: hidden, in the same directory (so the
/// rename never crosses a filesystem), unique per process.
pub fn temp_path(path: &Path) -> Result<PathBuf> {
    let file_name = path.file_name().ok_or_else(|| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
        )
    })?;
    Ok(parent_dir(path).join(format!(
        ".{}.tmp.{}",
        file_name.to_string_lossy(),
        std::process::id()
    )))
}

/// Makes a rename in `dir` durable. Not every filesystem supports syncing a directory, so a
/// failure here is ignored: the data itself was already synced.
pub fn sync_dir(dir: &Path) {
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

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("f.bin");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second").expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.bin")]);
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
        let leftovers = std::fs::read_dir(dir.path())
            .expect("list")
            .filter(|e| {
                e.as_ref()
                    .map(|e| e.file_name().to_string_lossy().contains(".tmp."))
                    .unwrap_or(false)
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
