//! TensorRT plans (engines) kept beside a bundle, and whether a stored set may run here.
//!
//! TensorRT builds one engine per graph, for one GPU and one TensorRT version, in one
//! precision. ONNX Runtime's TensorRT provider writes and reads them through its engine cache;
//! this module owns where that cache lives, what it is keyed by, and the checks before it is
//! used. A plan store is a folder, by default `BUNDLE.plans` next to the bundle folder (so a
//! bundle rewritten by `train --append` keeps its plans):
//!
//! ```text
//! BUNDLE.plans/
//!   trt10.3.0-sm87-int8/     one DeviceKey: TensorRT version, compute capability, precision
//!     plans.json             each graph's file and sha256, and every file of its engine
//!                            cache with its size and sha256
//!     timing/                TensorRT's timing cache, shared by the graphs of this key
//!     3f2a09c1d4e5b6a7/      one graph's engine cache, named by the first 16 hex digits of
//!                            the graph file's sha256
//! ```
//!
//! Graphs are keyed by content: adding a product builds only its map's engine, and a graph
//! several bundles share is built once. A store is used only when it has plans for this
//! device's key, its index records that key, and every file it lists is there with its
//! checksum; anything else is an error that names the file and the command that rebuilds
//! (`adapts-runtime plan --rebuild-plans`), never a silent rebuild on the line.

mod key;
#[cfg(test)]
mod tests;

pub use key::{ComputeCapability, DeviceKey, DeviceProbe, PlanPrecision, TrtVersion};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::sha256_file;
use crate::error::{Error, Result};

/// The index file of one key's plans.
pub const INDEX_FILE: &str = "plans.json";
/// The timing cache folder of one key's plans.
pub const TIMING_DIR: &str = "timing";
/// The index format this build writes and reads.
pub const INDEX_FORMAT: u32 = 1;
/// Hex digits of a graph's sha256 that name its engine folder.
const DIR_DIGITS: usize = 16;

/// The command a store problem points to.
const REBUILD: &str = "adapts-runtime plan --bundle BUNDLE --rebuild-plans";

/// The default store of the bundle in `bundle_dir`: `BUNDLE.plans` beside it.
pub fn default_store(bundle_dir: &Path) -> PathBuf {
    let dir = std::path::absolute(bundle_dir).unwrap_or_else(|_| bundle_dir.to_path_buf());
    let name = dir
        .file_name()
        .map_or_else(|| "bundle".into(), |n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!("{name}.plans"))
}

/// One file of a graph's engine cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    /// File name inside the graph's folder.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Hex sha256.
    pub sha256: String,
}

/// One graph's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanEntry {
    /// The graph file it was built from (relative to its bundle), for people reading the index.
    pub graph: String,
    /// Hex sha256 of that graph file: what the plan is looked up by.
    pub graph_sha256: String,
    /// Its folder inside the key's folder.
    pub dir: String,
    /// Every file ONNX Runtime's TensorRT provider wrote there.
    pub files: Vec<PlanFile>,
}

/// `plans.json`: the key the plans were built for and one entry per graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanIndex {
    /// [`INDEX_FORMAT`].
    pub format: u32,
    /// What the plans were built for.
    pub key: DeviceKey,
    /// The ONNX Runtime version that built them.
    pub onnxruntime: String,
    /// One entry per graph, in build order.
    pub plans: Vec<PlanEntry>,
}

/// One key's plans in a store, ready for sessions to use (or, while `adapts-runtime plan`
/// runs, to build into).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCache {
    /// The store.
    root: PathBuf,
    /// The key this machine runs with.
    key: DeviceKey,
    /// Whether graphs without a plan get a fresh folder (building) or are an error (using).
    build: bool,
    /// sha256 of graph files already verified against their bundle's manifest, by path, so
    /// that a session's start does not hash them again.
    known: BTreeMap<PathBuf, String>,
}

impl PlanCache {
    /// The plans for `key` in the store `root`, to run with. An error when the store has
    /// none for this key (naming the keys it has) or its index is unreadable or records
    /// another key. Each graph's files are checked when its session is created
    /// ([`PlanCache::graph_dir`]).
    pub fn open(root: &Path, key: DeviceKey) -> Result<Self> {
        let cache = Self {
            root: root.to_path_buf(),
            key,
            build: false,
            known: BTreeMap::new(),
        };
        if !cache.index_path().is_file() {
            let others = cache.other_keys();
            let reason = if others.is_empty() {
                format!("no TensorRT plans for this device ({key}); build them with `adapts-runtime plan --bundle BUNDLE`")
            } else {
                format!(
                    "plans here were built for {}, not for this device ({}: {key}); rebuild \
                     them with `{REBUILD}`",
                    others.join(", "),
                    key.dir_name()
                )
            };
            return Err(cache.error(root, reason));
        }
        cache.read_index()?;
        Ok(cache)
    }

    /// The plans for `key` in `root`, to build into: existing plans are kept (and checked
    /// before use), graphs without one get a fresh folder. With `rebuild`, this key's plans
    /// are removed first.
    pub fn for_build(root: &Path, key: DeviceKey, rebuild: bool) -> Result<Self> {
        let cache = Self {
            root: root.to_path_buf(),
            key,
            build: true,
            known: BTreeMap::new(),
        };
        let dir = cache.key_dir();
        if rebuild && dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::create_dir_all(cache.timing_dir()).map_err(|e| Error::io(&dir, e))?;
        if cache.index_path().is_file() {
            cache.read_index()?;
        }
        Ok(cache)
    }

    /// Takes the sha256 of these graph files (`(path, hex)`) as known: a bundle opened with
    /// [`Bundle::open`](crate::bundle::Bundle::open) has checked every file against them.
    pub fn with_known_hashes(
        mut self,
        hashes: impl IntoIterator<Item = (PathBuf, String)>,
    ) -> Self {
        self.known.extend(hashes);
        self
    }

    /// The sha256 of the graph file at `graph`: known, or read.
    fn graph_sha(&self, graph: &Path) -> Result<String> {
        match self.known.get(graph) {
            Some(sha) => Ok(sha.clone()),
            None => Ok(sha256_file(graph)?.0),
        }
    }

    /// The key these plans are for.
    pub fn key(&self) -> &DeviceKey {
        &self.key
    }

    /// Whether sessions may build missing plans.
    pub fn is_building(&self) -> bool {
        self.build
    }

    /// This key's folder in the store.
    pub fn key_dir(&self) -> PathBuf {
        self.root.join(self.key.dir_name())
    }

    /// The shared timing cache folder.
    pub fn timing_dir(&self) -> PathBuf {
        self.key_dir().join(TIMING_DIR)
    }

    fn index_path(&self) -> PathBuf {
        self.key_dir().join(INDEX_FILE)
    }

    fn error(&self, path: &Path, reason: String) -> Error {
        Error::Plans {
            path: path.to_path_buf(),
            reason,
        }
    }

    /// The other keys' folders in the store, by name.
    fn other_keys(&self) -> Vec<String> {
        let Ok(read) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut keys: Vec<String> = read
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(INDEX_FILE).is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        keys.sort();
        keys
    }

    /// The index (an empty one while building a key that has none yet).
    pub fn read_index(&self) -> Result<PlanIndex> {
        let path = self.index_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if self.build && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(PlanIndex {
                    format: INDEX_FORMAT,
                    key: self.key,
                    onnxruntime: String::new(),
                    plans: Vec::new(),
                })
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let index: PlanIndex = serde_json::from_str(&text).map_err(|e| {
            self.error(
                &path,
                format!("unreadable index ({e}); rebuild with `{REBUILD}`"),
            )
        })?;
        if index.format != INDEX_FORMAT {
            return Err(self.error(
                &path,
                format!(
                    "index format {} (this build reads {INDEX_FORMAT}); rebuild with `{REBUILD}`",
                    index.format
                ),
            ));
        }
        if index.key != self.key {
            return Err(self.error(
                &path,
                format!(
                    "these plans were built for {}, this device is {}; rebuild with `{REBUILD}`",
                    index.key, self.key
                ),
            ));
        }
        Ok(index)
    }

    /// The engine cache folder for the graph file at `graph`, checked: its recorded files
    /// must all be there with their sizes and checksums. A graph without a plan is an error
    /// when using, and gets a fresh folder when building.
    pub fn graph_dir(&self, graph: &Path) -> Result<PathBuf> {
        let sha = self.graph_sha(graph)?;
        let index = self.read_index()?;
        match index.plans.iter().find(|p| p.graph_sha256 == sha) {
            Some(entry) => {
                let dir = self.key_dir().join(&entry.dir);
                verify_entry(&dir, entry).map_err(|reason| {
                    self.error(&dir, format!("{reason}; rebuild with `{REBUILD}`"))
                })?;
                Ok(dir)
            }
            None if self.build => {
                let dir = self.key_dir().join(&sha[..DIR_DIGITS]);
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                Ok(dir)
            }
            None => Err(self.error(
                &self.key_dir(),
                format!(
                    "no plan for {} (sha256 {sha}); build it with `adapts-runtime plan --bundle \
                     BUNDLE` (only missing plans are built)",
                    graph.display()
                ),
            )),
        }
    }

    /// Bytes of the recorded plans of the graphs named `graphs` (as the bundle names them;
    /// graphs without a plan count 0): what a board's memory budget adds to the graphs.
    pub fn plan_bytes(&self, graphs: &[String]) -> Result<u64> {
        let index = self.read_index()?;
        Ok(index
            .plans
            .iter()
            .filter(|p| graphs.contains(&p.graph))
            .flat_map(|p| &p.files)
            .map(|f| f.bytes)
            .sum())
    }

    /// Records the plans just built for `graphs` (`(name in the bundle, file)`): each
    /// graph's folder is listed and hashed, and the index is written atomically with these
    /// entries replacing any earlier ones of the same graph. Returns the entries.
    pub fn record(
        &self,
        graphs: &[(String, PathBuf)],
        onnxruntime: &str,
    ) -> Result<Vec<PlanEntry>> {
        let mut index = self.read_index()?;
        let mut recorded = Vec::with_capacity(graphs.len());
        for (name, file) in graphs {
            let sha = self.graph_sha(file)?;
            let dir_name = index
                .plans
                .iter()
                .find(|p| p.graph_sha256 == sha)
                .map_or_else(|| sha[..DIR_DIGITS].to_owned(), |p| p.dir.clone());
            let dir = self.key_dir().join(&dir_name);
            let files = list_files(&dir)?;
            if files.is_empty() {
                // TensorRT took no node of it: the graph runs on the CUDA provider, and there
                // is nothing to cache or check.
                log::warn!("TensorRT built no engine for {name}: it runs on the CUDA provider");
            }
            let entry = PlanEntry {
                graph: name.clone(),
                graph_sha256: sha,
                dir: dir_name,
                files,
            };
            index.plans.retain(|p| p.graph_sha256 != entry.graph_sha256);
            index.plans.push(entry.clone());
            recorded.push(entry);
        }
        index.onnxruntime = onnxruntime.to_owned();
        let text = serde_json::to_string_pretty(&index).expect("the index serialises");
        crate::fsutil::write_atomic_readable(&self.index_path(), text.as_bytes())?;
        Ok(recorded)
    }
}

/// The files of one graph's folder, sorted, with sizes and checksums.
fn list_files(dir: &Path) -> Result<Vec<PlanFile>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let (sha256, bytes) = sha256_file(&dir.join(&name))?;
            Ok(PlanFile {
                name,
                bytes,
                sha256,
            })
        })
        .collect()
}

/// Every recorded file of `entry` in `dir`, with its size and checksum; the reason otherwise.
/// Files the index does not list are left alone.
fn verify_entry(dir: &Path, entry: &PlanEntry) -> std::result::Result<(), String> {
    for want in &entry.files {
        let path = dir.join(&want.name);
        if !path.is_file() {
            return Err(format!(
                "{} (plan of {}) is missing",
                path.display(),
                entry.graph
            ));
        }
        let (sha256, bytes) =
            sha256_file(&path).map_err(|e| format!("plan of {} unreadable: {e}", entry.graph))?;
        if bytes != want.bytes || sha256 != want.sha256 {
            return Err(format!(
                "{} (plan of {}) is corrupt: {bytes} bytes, sha256 {sha256}; the index records {} \
                 bytes, {}",
                path.display(),
                entry.graph,
                want.bytes,
                want.sha256
            ));
        }
    }
    Ok(())
}
