//! The ONNX Runtime shared library and its process-wide environment.
//!
//! The device binary does not link ONNX Runtime: it opens `libonnxruntime` at run time, once
//! per process. This module owns where that library comes from and the one [`OrtRuntime`] that
//! every ONNX Runtime session is created under. The library is taken from
//!
//! 1. the file named by [`ORT_DYLIB_ENV`] (`ORT_DYLIB_PATH`), if that variable is set and not
//!    empty; a missing file there is an error, never a silent fallback;
//! 2. otherwise [`DEFAULT_LIBRARY`] (`vendor/onnxruntime/libonnxruntime.so`, where
//!    `scripts/setup.sh` puts it), looked up in the current directory and then in each of its
//!    ancestors, so that tests run from a member crate find the workspace root's copy.

use std::ffi::{c_char, CStr, OsStr};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::error::OrtError;
use crate::error::{Error, Result};

/// Environment variable naming the ONNX Runtime library to load.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Where the workspace keeps its ONNX Runtime library, relative to the workspace root.
pub const DEFAULT_LIBRARY: &str = "vendor/onnxruntime/libonnxruntime.so";

/// The loaded ONNX Runtime library and the environment all sessions share.
pub struct OrtRuntime {
    library_path: PathBuf,
    version: String,
    environment: ort::environment::Environment,
}

impl OrtRuntime {
    /// Absolute path of the library that was loaded.
    pub fn library_path(&self) -> &Path {
        &self.library_path
    }

    /// ONNX Runtime's own version string, e.g. `1.32.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The environment sessions are built in.
    pub(crate) fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }
}

impl std::fmt::Debug for OrtRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtRuntime")
            .field("library_path", &self.library_path)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

static RUNTIME: OnceLock<OrtRuntime> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Returns the process's ONNX Runtime, loading the library on first use.
///
/// The library comes from `ORT_DYLIB_PATH` if set, else from [`DEFAULT_LIBRARY`] found in the
/// working directory or one of its ancestors (see [`resolve_library_path`]). A failure is
/// not cached: a later call resolves again.
pub fn ort_runtime() -> Result<&'static OrtRuntime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let _guard = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let path = resolve_library()?;
    let runtime = load(path)?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Resolves the library path from this process's environment variable and working directory.
pub fn resolve_library() -> Result<PathBuf> {
    let env_value = std::env::var_os(ORT_DYLIB_ENV);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    resolve_library_path(env_value.as_deref(), &cwd)
}

/// Resolves the library path from an explicit variable value and start directory.
///
/// `env_value` is the content of [`ORT_DYLIB_ENV`] (`None` or empty: unset); a relative value is
/// taken relative to the working directory. The returned path is absolute.
pub fn resolve_library_path(env_value: Option<&OsStr>, start_dir: &Path) -> Result<PathBuf> {
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return if path.is_file() {
            Ok(absolute(path))
        } else {
            Err(OrtError::LibraryMissing {
                var: ORT_DYLIB_ENV,
                path,
            }
            .into())
        };
    }
    start_dir
        .ancestors()
        .map(|dir| dir.join(DEFAULT_LIBRARY))
        .find(|candidate| candidate.is_file())
        .map(absolute)
        .ok_or_else(|| {
            OrtError::LibraryNotFound {
                var: ORT_DYLIB_ENV,
                default: DEFAULT_LIBRARY,
                searched_from: start_dir.to_path_buf(),
            }
            .into()
        })
}

/// Absolute form of `path` without resolving symlinks. `ort` resolves a relative library
/// path against the executable's directory, not the working directory, so only absolute paths
/// are handed to it.
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// Loads the library, checks its version and creates the process-wide environment.
fn load(path: PathBuf) -> Result<OrtRuntime> {
    let builder = ort::init_from(&path).map_err(|err| {
        Error::from(OrtError::LibraryLoad {
            path: path.clone(),
            reason: load_failure_reason(&err),
        })
    })?;
    let version = library_version(&path)?;
    let environment = builder
        .with_name("adapts-runtime")
        .with_telemetry(false)
        .build()
        .map_err(|e| Error::from(OrtError::Environment(e)))?;
    log::info!("ONNX Runtime {version} loaded from {}", path.display());
    Ok(OrtRuntime {
        library_path: path,
        version,
        environment,
    })
}

/// Explains a failed load. For a loader failure this is the loader's own message (`dlerror`,
/// e.g. "invalid ELF header"), which `ort`'s error keeps one level down; otherwise `ort`'s text,
/// which for a too-old library names both versions.
fn load_failure_reason(err: &ort::LoadDynamicError) -> String {
    match err {
        ort::LoadDynamicError::Dlopen { error, .. } => match std::error::Error::source(error) {
            Some(detail) => detail.to_string(),
            None => error.to_string(),
        },
        other => other.to_string(),
    }
}

/// Reads ONNX Runtime's version string (`OrtGetApiBase()->GetVersionString()`), which `ort`
/// checks but does not expose.
fn library_version(path: &Path) -> Result<String> {
    let version_error = |reason: String| {
        Error::from(OrtError::Version {
            path: path.to_path_buf(),
            reason,
        })
    };
    // SAFETY: `ort::init_from` has already opened and validated this same file, so the loader
    // returns the existing handle and runs no new initialisers. `OrtGetApiBase` has this exact
    // signature in every ONNX Runtime release, and its result is checked for null before use.
    // `GetVersionString` returns a pointer to a static NUL-terminated string inside the
    // library, which stays loaded (ort keeps its own handle) while it is copied out here.
    unsafe {
        let library = libloading::Library::new(path).map_err(|e| version_error(e.to_string()))?;
        let get_api_base: libloading::Symbol<
            unsafe extern "C" fn() -> *const ort::sys::OrtApiBase,
        > = library
            .get(b"OrtGetApiBase")
            .map_err(|e| version_error(e.to_string()))?;
        let base = get_api_base();
        if base.is_null() {
            return Err(version_error("OrtGetApiBase returned null".into()));
        }
        let version: *const c_char = ((*base).GetVersionString)();
        if version.is_null() {
            return Err(version_error("GetVersionString returned null".into()));
        }
        CStr::from_ptr(version)
            .to_str()
            .map(str::to_owned)
            .map_err(|e| version_error(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fresh scratch directory, removed when the guard drops.
    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().expect("create scratch dir")
    }

    #[test]
    fn env_var_naming_missing_file_is_an_error_naming_both() {
        let dir = scratch();
        let missing = dir.path().join("no-such-libonnxruntime.so");
        let err = resolve_library_path(Some(missing.as_os_str()), Path::new("/"))
            .expect_err("a missing file must not resolve");
        assert!(
            matches!(OrtError::of(&err), Some(OrtError::LibraryMissing { .. })),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("ORT_DYLIB_PATH"), "{msg}");
        assert!(msg.contains(&*missing.to_string_lossy()), "{msg}");
    }

    #[test]
    fn env_var_wins_over_default_location() {
        let dir = scratch();
        let root = dir.path().to_path_buf();
        let default = root.join(DEFAULT_LIBRARY);
        fs::create_dir_all(default.parent().expect("has parent")).expect("mkdir");
        fs::write(&default, b"").expect("write");
        let chosen = root.join("custom.so");
        fs::write(&chosen, b"").expect("write");

        let resolved = resolve_library_path(Some(chosen.as_os_str()), &root).expect("resolves");
        assert_eq!(resolved, chosen);
    }

    #[test]
    fn default_location_is_found_from_a_nested_directory() {
        let dir = scratch();
        let root = dir.path().to_path_buf();
        let default = root.join(DEFAULT_LIBRARY);
        fs::create_dir_all(default.parent().expect("has parent")).expect("mkdir");
        fs::write(&default, b"").expect("write");
        let nested = root.join("runtime").join("tests");
        fs::create_dir_all(&nested).expect("mkdir");

        // An empty variable counts as unset.
        let resolved = resolve_library_path(Some(OsStr::new("")), &nested).expect("resolves");
        assert_eq!(resolved, default);
    }

    #[test]
    fn nothing_found_names_variable_default_and_setup_script() {
        let dir = scratch();
        let root = dir.path().to_path_buf();
        let err = resolve_library_path(None, &root).expect_err("nothing to find");
        let msg = err.to_string();
        assert!(msg.contains("ORT_DYLIB_PATH"), "{msg}");
        assert!(msg.contains(DEFAULT_LIBRARY), "{msg}");
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
    }
}
