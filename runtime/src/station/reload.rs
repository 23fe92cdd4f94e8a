//! Hot reload: a new bundle is opened beside the running one (signature against the trust keys,
//! the downgrade rule, checksums of every file, graph contract checks, one warm-up frame
//! through the whole pipeline), and only a bundle that passes all of them is swapped in,
//! between two frames. A bad bundle is refused and logged; the running one carries on.
//!
//! A reload is asked for by SIGHUP or by the bundle's manifest changing ([`ManifestWatch`]).
//! `adapts-builder train --append` writes the manifest last, by atomic rename, so a change of
//! the manifest means a complete bundle.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use image::{Rgb, RgbImage};

use super::Judge;
use crate::bundle::manifest::MANIFEST_FILE;
use crate::bundle::{Bundle, GraphPrecision};
use crate::engine::SessionConfig;
use crate::pipeline::{Inference, Pipeline, ReasonCode};
use crate::results::ResultLine;
use crate::trust::{check_sequence, perms, TrustPolicy};

/// Opens and verifies a bundle for judging; the message says what was wrong.
pub type Loader = Arc<dyn Fn() -> Result<(Box<dyn Judge>, String), String> + Send + Sync>;

/// What a bundle must pass before it is loaded: the trust keys, and the downgrade rule
/// against the sequence number of the last bundle admitted.
#[derive(Debug, Default)]
pub struct Admission {
    trust: TrustPolicy,
    allow_downgrade: bool,
    running: AtomicU64,
    /// Where the highest admitted sequence number is kept across restarts.
    sequence_file: Option<PathBuf>,
    /// The board's name and memory budget in MiB: larger bundles are refused unloaded.
    budget: Option<(String, u64)>,
}

impl Admission {
    /// Admits bundles signed by `trust`'s keys (any bundle without keys); with
    /// `allow_downgrade`, also one older than the running bundle.
    pub fn new(trust: TrustPolicy, allow_downgrade: bool) -> Self {
        Self {
            trust,
            allow_downgrade,
            running: AtomicU64::new(0),
            sequence_file: None,
            budget: None,
        }
    }

    /// Refuses, before loading, a bundle whose graphs exceed `board`'s memory budget
    /// (`budget_mib`), as [`Manifest::check_memory_budget`](crate::bundle::Manifest) counts
    /// them for the precision the station runs.
    pub fn with_memory_budget(mut self, board: &str, budget_mib: u64) -> Self {
        self.budget = Some((board.to_string(), budget_mib));
        self
    }

    /// The board's name and memory budget in MiB, when one is set.
    pub fn budget(&self) -> Option<(&str, u64)> {
        self.budget.as_ref().map(|(b, m)| (b.as_str(), *m))
    }

    /// Keeps the highest admitted sequence number in `path` (one decimal number), so that the
    /// downgrade rule holds across restarts: the number in it is the floor for the first
    /// bundle. A missing file is a floor of 0; an unreadable or malformed one is an error
    /// naming it.
    pub fn with_sequence_file(mut self, path: &Path) -> crate::Result<Self> {
        let floor = match std::fs::read_to_string(path) {
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| crate::Error::Config {
                    path: path.to_path_buf(),
                    reason: format!(
                        "the sequence file holds `{}`, not a sequence number",
                        text.trim()
                    ),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => {
                return Err(crate::Error::Io {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        self.running = AtomicU64::new(floor);
        self.sequence_file = Some(path.to_path_buf());
        Ok(self)
    }

    /// Makes `sequence` the running one, and records it in the sequence file (an allowed
    /// downgrade too: the operator asked for it).
    fn admitted(&self, sequence: u64) {
        let before = self.running.swap(sequence, Ordering::SeqCst);
        if let Some(path) = &self.sequence_file {
            if sequence != before || !path.exists() {
                let written = crate::fsutil::write_atomic(path, format!("{sequence}\n").as_bytes());
                if let Err(e) = written {
                    log::error!(
                        "cannot record sequence {sequence}: {}; after a restart an older \
                         bundle would be accepted",
                        e.chain_message()
                    );
                }
            }
        }
    }

    /// Sequence number of the last bundle admitted (before the first: 0, or the sequence
    /// file's).
    pub fn running_sequence(&self) -> u64 {
        self.running.load(Ordering::SeqCst)
    }

    /// Opens the bundle at `dir`: signature first, then the downgrade rule, then every file's
    /// checksum. Bundle files others can write are logged.
    fn open(&self, dir: &Path) -> crate::Result<Bundle> {
        let bundle = Bundle::open_admitted(dir, &self.trust, |manifest| {
            check_sequence(
                dir,
                manifest.sequence,
                self.running_sequence(),
                self.allow_downgrade,
            )
        })?;
        perms::warn_shared_bundle(
            dir,
            &bundle.manifest().files,
            self.trust.checks_signatures(),
        );
        if let Some((board, mib)) = &self.budget {
            bundle
                .manifest()
                .check_memory_budget(dir, GraphPrecision::Auto, board, *mib)?;
        }
        Ok(bundle)
    }
}

/// Opens the bundle at `dir` through `admission` and proves it runs: signature, downgrade
/// rule, checksums, contract checks and one warm-up frame (a mid-grey image at the trunk's
/// input size) that must not end in FAIL `error`. On success its sequence number becomes
/// the running one. Returns the pipeline and a name for logs.
pub fn load_verified(
    dir: &Path,
    config: &SessionConfig,
    admission: &Admission,
) -> crate::Result<(Pipeline, String)> {
    let bundle = admission.open(dir)?;
    // TensorRT runs this bundle's plans from BUNDLE.plans (read again at every load, so plans
    // built for an added product are found by the reload that follows).
    let config = crate::gpu::with_plans(
        config.clone(),
        bundle.dir(),
        None,
        bundle.manifest(),
        GraphPrecision::Auto,
        None,
    )?;
    if let (Some(_), Some((board, mib))) = (&config.plans, admission.budget()) {
        crate::gpu::check_memory_budget(
            &config,
            bundle.dir(),
            bundle.manifest(),
            GraphPrecision::Auto,
            board,
            mib,
        )?;
    }
    let mut pipeline = Pipeline::from_bundle(&bundle, &config)?;
    // The answer needs the score alone; a rejected part's heatmap is made after it is out.
    pipeline.set_full_maps(false);
    let size = pipeline.manifest().trunk.input_size;
    let grey = RgbImage::from_pixel(size, size, Rgb([128, 128, 128]));
    let mut warm = pipeline.infer(&grey, None);
    if let Err(err) = pipeline.complete_map(&mut warm) {
        warm = Inference::failed(format!("its heatmap: {}", err.chain_message()));
    }
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
    let sequence = bundle.manifest().sequence;
    admission.admitted(sequence);
    let name = format!(
        "bundle {} ({} products, sequence {sequence}, {})",
        dir.display(),
        pipeline.manifest().products.len(),
        bundle.signature()
    );
    Ok((pipeline, name))
}

/// A [`Loader`] for the bundle at `dir`, admitted by `admission` (share it with the first
/// load, so that the downgrade rule knows the running bundle).
pub fn bundle_loader(dir: PathBuf, config: SessionConfig, admission: Arc<Admission>) -> Loader {
    Arc::new(move || {
        load_verified(&dir, &config, &admission)
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
    fn the_sequence_file_is_the_floor_after_a_restart_and_records_each_admission() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        crate::bundle::tests::write_bundle(&bundle, &["bottle"]); // sequence 1
        let file = dir.path().join("state/sequence");

        // No file yet: a floor of 0, and the first admission writes it.
        let fresh = Admission::default().with_sequence_file(&file).unwrap();
        fresh.open(&bundle).unwrap();
        fresh.admitted(1);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "1\n");

        // A restart after a newer bundle ran: the older one is a downgrade.
        std::fs::write(&file, "5\n").unwrap();
        let restarted = Admission::default().with_sequence_file(&file).unwrap();
        assert_eq!(restarted.running_sequence(), 5);
        let err = restarted.open(&bundle).unwrap_err();
        assert!(
            matches!(
                err,
                crate::Error::Downgrade {
                    found: 1,
                    running: 5,
                    ..
                }
            ),
            "{err:?}"
        );
        let allowed = Admission::new(TrustPolicy::default(), true)
            .with_sequence_file(&file)
            .unwrap();
        allowed.open(&bundle).unwrap();
        allowed.admitted(1);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "1\n");

        std::fs::write(&file, "five").unwrap();
        let err = Admission::default().with_sequence_file(&file).unwrap_err();
        assert!(err.to_string().contains("`five`"), "{err}");
    }

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
