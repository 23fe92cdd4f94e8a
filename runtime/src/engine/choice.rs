//! Which execution provider the ONNX Runtime sessions get: `--engine cpu|cuda|tensorrt|auto`.
//!
//! The GPU engines are ONNX Runtime's CUDA and TensorRT execution providers (cargo feature
//! `gpu`). Before a session asks for one, [`resolve`] checks that everything it loads is
//! there: ONNX Runtime's provider libraries beside `libonnxruntime`, and the CUDA runtime
//! (and TensorRT's `libnvinfer`) on the system library path. A missing one is a single error
//! that names the library and where it was looked for. Only `auto` falls back to the CPU,
//! and it logs that it did.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::error::{EngineUnavailable, Error, Result};

/// The engine asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// ONNX Runtime on the CPU (the default).
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA execution provider.
    Cuda,
    /// ONNX Runtime's TensorRT execution provider, with CUDA for what TensorRT does not take.
    TensorRt,
    /// TensorRT, else CUDA, else the CPU (logged).
    Auto,
}

impl FromStr for EngineKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "tensorrt" => Ok(Self::TensorRt),
            "auto" => Ok(Self::Auto),
            other => Err(format!(
                "unknown engine `{other}` (cpu, cuda, tensorrt or auto)"
            )),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::TensorRt => "tensorrt",
            Self::Auto => "auto",
        })
    }
}

/// The execution provider sessions are created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The CPU.
    #[default]
    Cpu,
    /// CUDA.
    Cuda,
    /// TensorRT (CUDA behind it).
    TensorRt,
}

impl Provider {
    fn engine(self) -> EngineKind {
        match self {
            Self::Cpu => EngineKind::Cpu,
            Self::Cuda => EngineKind::Cuda,
            Self::TensorRt => EngineKind::TensorRt,
        }
    }

    /// How logs and `run` name the engine, e.g. `ONNX Runtime on the CPU`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Cpu => "ONNX Runtime on the CPU",
            Self::Cuda => "ONNX Runtime's CUDA provider",
            Self::TensorRt => "ONNX Runtime's TensorRT provider (CUDA behind it)",
        }
    }
}

/// The error for a GPU provider in a build without the `gpu` feature.
pub(crate) fn gpu_not_built(provider: Provider) -> Error {
    Error::EngineUnavailable(Box::new(EngineUnavailable {
        engine: provider.engine().to_string(),
        library: "GPU engine support".into(),
        looked_in: vec![PathBuf::from("this build of adapts-runtime")],
        hint: "build it with `--features gpu` (see README, GPU engines)".into(),
    }))
}

/// A library a provider needs, by the file names it may have.
struct Needed {
    /// Shown in the error.
    library: &'static str,
    /// File names tried, newest first.
    names: &'static [&'static str],
    /// Looked up beside ONNX Runtime's library (`true`) or by the system loader.
    beside_onnxruntime: bool,
}

const PROVIDERS_SHARED: Needed = Needed {
    library: "libonnxruntime_providers_shared.so",
    names: &["libonnxruntime_providers_shared.so"],
    beside_onnxruntime: true,
};
const PROVIDERS_CUDA: Needed = Needed {
    library: "libonnxruntime_providers_cuda.so (an ONNX Runtime GPU build)",
    names: &["libonnxruntime_providers_cuda.so"],
    beside_onnxruntime: true,
};
const PROVIDERS_TENSORRT: Needed = Needed {
    library: "libonnxruntime_providers_tensorrt.so (an ONNX Runtime GPU build with TensorRT)",
    names: &["libonnxruntime_providers_tensorrt.so"],
    beside_onnxruntime: true,
};
const CUDART: Needed = Needed {
    library: "libcudart (the CUDA runtime)",
    names: &["libcudart.so.12", "libcudart.so.11.0", "libcudart.so"],
    beside_onnxruntime: false,
};
const NVINFER: Needed = Needed {
    library: "libnvinfer (TensorRT)",
    names: &["libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"],
    beside_onnxruntime: false,
};

fn needs(provider: Provider) -> &'static [Needed] {
    match provider {
        Provider::Cpu => &[],
        Provider::Cuda => &[PROVIDERS_SHARED, PROVIDERS_CUDA, CUDART],
        Provider::TensorRt => &[
            PROVIDERS_SHARED,
            PROVIDERS_TENSORRT,
            PROVIDERS_CUDA,
            CUDART,
            NVINFER,
        ],
    }
}

/// Where libraries are looked for: ONNX Runtime's folder, and whether the system loader
/// finds a name (a trait, so that tests need no GPU machine).
pub trait LibraryProbe {
    /// The folder of the ONNX Runtime library in use.
    fn onnxruntime_dir(&self) -> PathBuf;
    /// Whether the system loader opens `name`.
    fn system_has(&self, name: &str) -> bool;
    /// The folders the system loader searches, for the error message.
    fn system_dirs(&self) -> Vec<PathBuf>;
}

/// The real probe: the loaded ONNX Runtime's folder and `dlopen`.
#[derive(Debug, Default)]
pub struct SystemProbe;

impl LibraryProbe for SystemProbe {
    fn onnxruntime_dir(&self) -> PathBuf {
        crate::engine::ort::resolve_library()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    }

    fn system_has(&self, name: &str) -> bool {
        // SAFETY: opening a shared library runs its initialisers; the names are the CUDA and
        // TensorRT runtimes, whose initialisers only register themselves.
        unsafe { libloading::Library::new(name) }.is_ok()
    }

    fn system_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
            .map(|v| std::env::split_paths(&v).collect())
            .unwrap_or_default();
        dirs.push(PathBuf::from("the ld.so cache (ldconfig)"));
        dirs
    }
}

/// The first library `provider` needs that `probe` cannot find, as an error.
fn check(provider: Provider, probe: &dyn LibraryProbe) -> Result<()> {
    if provider != Provider::Cpu && !cfg!(feature = "gpu-core") {
        return Err(gpu_not_built(provider));
    }
    let engine = provider.engine().to_string();
    let ort_dir = probe.onnxruntime_dir();
    for need in needs(provider) {
        let found = if need.beside_onnxruntime {
            need.names.iter().any(|n| ort_dir.join(n).is_file())
        } else {
            need.names.iter().any(|n| probe.system_has(n))
        };
        if !found {
            let looked_in = if need.beside_onnxruntime {
                vec![ort_dir.clone()]
            } else {
                probe.system_dirs()
            };
            let hint = if need.beside_onnxruntime {
                "install the ONNX Runtime GPU build for this JetPack there, or point ORT_DYLIB_PATH \
                 at one"
            } else {
                "install it (JetPack ships it) or add its folder to LD_LIBRARY_PATH"
            };
            return Err(Error::EngineUnavailable(Box::new(EngineUnavailable {
                engine,
                library: need.library.into(),
                looked_in,
                hint: hint.into(),
            })));
        }
    }
    Ok(())
}

/// The provider for `kind`: the one asked for when all its libraries are there (else the
/// error naming the missing one), or for `auto` the first of TensorRT, CUDA and the CPU that
/// can run, with a log line when it falls back.
pub fn resolve(kind: EngineKind, probe: &dyn LibraryProbe) -> Result<Provider> {
    let single = |p: Provider| check(p, probe).map(|()| p);
    match kind {
        EngineKind::Cpu => Ok(Provider::Cpu),
        EngineKind::Cuda => single(Provider::Cuda),
        EngineKind::TensorRt => single(Provider::TensorRt),
        EngineKind::Auto => {
            let mut reasons = Vec::new();
            for p in [Provider::TensorRt, Provider::Cuda] {
                match single(p) {
                    Ok(p) => return Ok(p),
                    Err(e) => reasons.push(e.to_string()),
                }
            }
            log::info!("--engine auto: running on the CPU ({})", reasons.join("; "));
            Ok(Provider::Cpu)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine with some libraries: `ort` files in a temp folder, `system` names loadable.
    struct Fake {
        dir: tempfile::TempDir,
        system: Vec<&'static str>,
    }

    impl Fake {
        fn new(ort_files: &[&str], system: &[&'static str]) -> Self {
            let dir = tempfile::tempdir().unwrap();
            for f in ort_files {
                std::fs::write(dir.path().join(f), b"").unwrap();
            }
            Self {
                dir,
                system: system.to_vec(),
            }
        }
    }

    impl LibraryProbe for Fake {
        fn onnxruntime_dir(&self) -> PathBuf {
            self.dir.path().to_path_buf()
        }
        fn system_has(&self, name: &str) -> bool {
            self.system.contains(&name)
        }
        fn system_dirs(&self) -> Vec<PathBuf> {
            vec![PathBuf::from("/usr/lib/aarch64-linux-gnu/tegra")]
        }
    }

    const ALL_ORT: [&str; 3] = [
        "libonnxruntime_providers_shared.so",
        "libonnxruntime_providers_cuda.so",
        "libonnxruntime_providers_tensorrt.so",
    ];

    #[test]
    fn names_parse_and_print() {
        for kind in [
            EngineKind::Cpu,
            EngineKind::Cuda,
            EngineKind::TensorRt,
            EngineKind::Auto,
        ] {
            assert_eq!(kind.to_string().parse::<EngineKind>(), Ok(kind));
        }
        assert!("gpu"
            .parse::<EngineKind>()
            .unwrap_err()
            .contains("tensorrt"));
    }

    #[test]
    fn cpu_needs_nothing_and_auto_falls_back_to_it() {
        let bare = Fake::new(&[], &[]);
        assert_eq!(resolve(EngineKind::Cpu, &bare).unwrap(), Provider::Cpu);
        assert_eq!(resolve(EngineKind::Auto, &bare).unwrap(), Provider::Cpu);
    }

    #[test]
    fn a_missing_library_is_named_with_where_it_was_looked_for() {
        let bare = Fake::new(&[], &[]);
        let err = resolve(EngineKind::TensorRt, &bare)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--engine tensorrt: "), "{err}");
        if cfg!(feature = "gpu-core") {
            assert!(err.contains("libonnxruntime_providers_shared.so"), "{err}");
            assert!(
                err.contains(&bare.dir.path().display().to_string()),
                "{err}"
            );
        } else {
            assert!(err.contains("--features gpu"), "{err}");
        }
    }

    #[cfg(feature = "gpu-core")]
    #[test]
    fn each_library_is_checked_in_turn() {
        let no_cudart = Fake::new(&ALL_ORT, &[]);
        let err = resolve(EngineKind::Cuda, &no_cudart)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("libcudart") && err.contains("/usr/lib/aarch64-linux-gnu/tegra"),
            "{err}"
        );
        let cuda_only = Fake::new(&ALL_ORT, &["libcudart.so.11.0"]);
        assert_eq!(
            resolve(EngineKind::Cuda, &cuda_only).unwrap(),
            Provider::Cuda
        );
        let err = resolve(EngineKind::TensorRt, &cuda_only)
            .unwrap_err()
            .to_string();
        assert!(err.contains("libnvinfer"), "{err}");
        // auto takes the best engine that can run.
        assert_eq!(
            resolve(EngineKind::Auto, &cuda_only).unwrap(),
            Provider::Cuda
        );
        let jetson = Fake::new(&ALL_ORT, &["libcudart.so.12", "libnvinfer.so.10"]);
        assert_eq!(
            resolve(EngineKind::Auto, &jetson).unwrap(),
            Provider::TensorRt
        );
        let no_trt_provider = Fake::new(&ALL_ORT[..2], &["libcudart.so.12", "libnvinfer.so.10"]);
        let err = resolve(EngineKind::TensorRt, &no_trt_provider)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("libonnxruntime_providers_tensorrt.so"),
            "{err}"
        );
    }

    #[cfg(not(feature = "gpu-core"))]
    #[test]
    fn without_the_gpu_feature_every_gpu_engine_is_refused() {
        let jetson = Fake::new(&ALL_ORT, &["libcudart.so.12", "libnvinfer.so.10"]);
        for kind in [EngineKind::Cuda, EngineKind::TensorRt] {
            assert!(resolve(kind, &jetson)
                .unwrap_err()
                .to_string()
                .contains("--features gpu"));
        }
        assert_eq!(resolve(EngineKind::Auto, &jetson).unwrap(), Provider::Cpu);
    }
}
