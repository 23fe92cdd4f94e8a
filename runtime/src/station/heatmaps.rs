//! Heatmaps of rejected frames on a station, with retention: the oldest files are removed
//! once the folder holds more than `max_files` heatmaps or more than `max_bytes`, so a
//! station that runs for months never fills its disk.
//!
//! Only files this store names (`t<trigger>-<frame>.png`) are counted and removed; anything
//! else in the folder is left alone. Files from an earlier run count from the start.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::error::{Error, Result};
use crate::heatmap::{file_name, write_overlay};
use crate::pipeline::Inference;

/// Prefix of the heatmaps a station writes.
const PREFIX: char = 't';

/// A folder of heatmaps kept within a count and a size.
#[derive(Debug)]
pub struct HeatmapStore {
    dir: PathBuf,
    max_files: usize,
    max_bytes: u64,
    /// Oldest first.
    files: VecDeque<(PathBuf, u64)>,
    bytes: u64,
}

impl HeatmapStore {
    /// Opens (creating) `dir` and takes stock of the heatmaps already there, then trims to the
    /// limits. `max_files` and `max_bytes` of 0 are raised to 1.
    pub fn open(dir: &Path, max_files: usize, max_bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_ours(&name) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            found.push((modified, name, entry.path(), meta.len()));
        }
        found.sort();
        let mut store = Self {
            dir: dir.to_path_buf(),
            max_files: max_files.max(1),
            max_bytes: max_bytes.max(1),
            files: VecDeque::new(),
            bytes: 0,
        };
        for (_, _, path, len) in found {
            store.bytes += len;
            store.files.push_back((path, len));
        }
        store.trim();
        Ok(store)
    }

    /// The path the heatmap of `frame_id`, answering trigger `trigger`, is written to.
    pub fn name_for(&self, trigger: u64, frame_id: &str) -> String {
        self.dir
            .join(format!("{PREFIX}{trigger:08}-{}", file_name(frame_id)))
            .to_string_lossy()
            .into_owned()
    }

    /// Writes the overlay of `result`'s map on `image` to `path` and trims the folder. A
    /// failure is logged, not returned: the verdict has already been given.
    pub fn write(&mut self, path: &str, image: &RgbImage, result: &Inference) {
        let Some(map) = &result.map else {
            log::error!("heatmap {path} not written: the frame has no full-resolution map");
            return;
        };
        let path = PathBuf::from(path);
        if let Err(err) = write_overlay(&path, image, map, result.threshold) {
            log::error!(
                "heatmap {} not written: {}",
                path.display(),
                err.chain_message()
            );
            return;
        }
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        self.bytes += len;
        self.files.push_back((path, len));
        self.trim();
    }

    /// Heatmaps held now.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn trim(&mut self) {
        while self.files.len() > self.max_files
            || (self.bytes > self.max_bytes && self.files.len() > 1)
        {
            let Some((path, len)) = self.files.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(len);
            if let Err(err) = std::fs::remove_file(&path) {
                if err.kind() != std::io::ErrorKind::NotFound {
                    log::warn!("cannot remove old heatmap {}: {err}", path.display());
                }
            }
        }
    }
}

fn is_ours(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next() == Some(PREFIX)
        && name.len() > 10
        && name[1..9].bytes().all(|b| b.is_ascii_digit())
        && name.as_bytes()[9] == b'-'
        && name.ends_with(".png")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Reason;
    use crate::tensor::Tensor;

    fn rejected() -> Inference {
        let mut r = Inference::failed("");
        r.reason = Some(Reason::Anomaly);
        r.threshold = 1.0;
        r.map = Some(Tensor::new(vec![8, 8], vec![2.0; 64]).unwrap());
        r
    }

    #[test]
    fn the_oldest_heatmaps_go_first_and_other_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.png"), b"keep me").unwrap();
        let mut store = HeatmapStore::open(dir.path(), 3, u64::MAX).unwrap();
        let image = RgbImage::new(8, 8);
        let mut names = Vec::new();
        for trigger in 1..=5 {
            let name = store.name_for(trigger, "cam/frame");
            store.write(&name, &image, &rejected());
            names.push(name);
        }
        assert_eq!(store.len(), 3);
        for (k, name) in names.iter().enumerate() {
            assert_eq!(Path::new(name).exists(), k >= 2, "{name}");
        }
        assert!(
            names[0].ends_with("t00000001-cam__frame.png"),
            "{}",
            names[0]
        );
        assert!(dir.path().join("notes.png").exists());
        // A new store finds the survivors and keeps counting them.
        let store = HeatmapStore::open(dir.path(), 2, u64::MAX).unwrap();
        assert_eq!(store.len(), 2);
        assert!(!Path::new(&names[2]).exists());
    }

    #[test]
    fn the_size_limit_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = HeatmapStore::open(dir.path(), 100, 1).unwrap();
        let image = RgbImage::new(8, 8);
        for trigger in 1..=3 {
            let name = store.name_for(trigger, "f");
            store.write(&name, &image, &rejected());
        }
        // Over the size limit, only the newest heatmap is kept.
        assert_eq!(store.len(), 1);
        let on_disk = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(on_disk, 1);
        assert_eq!(
            store.bytes(),
            std::fs::metadata(store.name_for(3, "f")).unwrap().len()
        );
    }
}
