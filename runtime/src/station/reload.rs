//! Hot reload: a new bundle is opened beside the running one (checksums of every file,
//! graph contract checks, one warm-up frame through the whole pipeline), and only a bundle
//! that passes all three is swapped in, between two frames. A bad bundle is refused and
//! logged; the running one carries on.
//!
//! A reload is asked for by SIGHUP or by the bundle's manifest changing ([`ManifestWatch`]).
//! `adapts-builder train --append` writes the manifest last, by atomic rename, so a change of
//! the manifest means a complete bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use image::{Rgb, RgbImage};

use super::Judge;
use crate::bundle::manifest::MANIFEST_FILE;
use crate::bundle::Bundle;
use crate::engine::SessionConfig;
use crate::pipeline::{Pipeline, ReasonCode};
use crate::results::ResultLine;

/// Opens and verifies a bundle for judging; the message says what was wrong.
pub type Loader = Arc<dyn Fn() -> Result<(Box<dyn Judge>, String), String> + Send + Sync>;

/// Opens the bundle at `dir` and proves it runs: checksums, contract checks and one
/// warm-up frame (a mid-grey image at the trunk's input size) that must not end in FAIL
/// `error`. Returns the pipeline and a name for logs.
pub fn load_verified(dir: &Path, config: &SessionConfig) -> crate::Result<(Pipeline, String)> {
    let bundle = Bundle::open(dir)?;
    let mut pipeline = Pipeline::from_bundle(&bundle, config)?;
    let size = pipeline.manifest().trunk.input_size;
    let grey = RgbImage::from_pixel(size, size, Rgb([128, 128, 128]));
    let warm = pipeline.infer(&grey, None);
    let line = ResultLine::new("(warm-up)", &warm, None);
    if line.reason == Some(ReasonCode::Error) {
        return Err(crate::Error::InvalidBundle {
            path: dir.to_path_buf(),
            reason: format!(
                "the warm-up frame failed: {}",
                line.message.unwrap_or_default()
            ),
        });
    }
    let name = format!(
        "bundle {} ({} products)",
        dir.display(),
        pipeline.manifest().products.len()
    );
    Ok((pipeline, name))
}

/// A [`Loader`] for the bundle at `dir`.
pub fn bundle_loader(dir: PathBuf, config: SessionConfig) -> Loader {
    Arc::new(move || {
        load_verified(&dir, &config)
            .map(|(p, name)| (Box::new(p) as Box<dyn Judge>, name))
            .map_err(|e| e.chain_message())
    })
}

/// The manifest's modification time and size: what a change is judged by.
fn manifest_stamp(dir: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(dir.join(MANIFEST_FILE)).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Notices a bundle's manifest changing (modification time or size).
#[derive(Debug)]
pub struct ManifestWatch {
    dir: PathBuf,
    last: Option<(SystemTime, u64)>,
}

impl ManifestWatch {
    /// Watches the bundle at `dir`, as it is now.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            last: manifest_stamp(dir),
        }
    }

    /// Whether the manifest changed since the last look. A manifest that is missing for a
    /// moment is not a change; its return is.
    pub fn changed(&mut self) -> bool {
        match manifest_stamp(&self.dir) {
            Some(now) if Some(now) != self.last => {
                self.last = Some(now);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_manifest_is_a_change_and_a_missing_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join(MANIFEST_FILE);
        std::fs::write(&manifest, b"one").unwrap();
        let mut watch = ManifestWatch::new(dir.path());
        assert!(!watch.changed());
        std::fs::write(&manifest, b"three").unwrap();
        assert!(watch.changed());
        assert!(!watch.changed());
        std::fs::remove_file(&manifest).unwrap();
        assert!(!watch.changed());
        std::fs::write(&manifest, b"four!").unwrap();
        assert!(watch.changed());
    }
}
