//! The rules a profile must satisfy beyond its types, checked once at load.

use std::fmt::Display;
use std::path::Path;

use crate::board::{Board, Engine};
use crate::error::{Error, Result};

/// The longest trigger debounce accepted; longer would swallow real triggers on a line.
const MAX_DEBOUNCE_US: u32 = 1_000_000;

impl Board {
    /// Checks the rules a profile must follow: a TensorRT engine names its TensorRT, CUDA and
    /// SM versions and its cudarc feature; the cudarc feature matches the CUDA version; the
    /// memory budget and camera format are positive; device paths are absolute; GPIO lines
    /// are distinct. The first broken rule is returned, naming its key and value.
    pub fn validate(&self) -> Result<()> {
        self.check(&format!("board `{}`", self.name))
    }

    pub(crate) fn check(&self, origin: &str) -> Result<()> {
        let fail = |key: &str, value: String, reason: &str| Error::Invalid {
            origin: origin.to_owned(),
            key: key.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        let missing = || "(missing)".to_owned();

        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(fail(
                "name",
                quoted(&self.name),
                "use lowercase letters, digits and `-`",
            ));
        }
        if self.memory_budget_mb == 0 {
            return Err(fail("memory_budget_mb", "0".into(), "must be positive"));
        }

        if self.engine == Engine::Tensorrt {
            if self.tensorrt.is_none() {
                return Err(fail(
                    "tensorrt",
                    missing(),
                    "the tensorrt engine needs the TensorRT version (plans are specific to it)",
                ));
            }
            if self.cuda_arch_sm.is_none() {
                return Err(fail(
                    "cuda_arch_sm",
                    missing(),
                    "the tensorrt engine needs the GPU's SM version (plans are specific to it)",
                ));
            }
            if self.cuda_feature.is_none() {
                return Err(fail(
                    "cuda_feature",
                    missing(),
                    "the tensorrt engine needs the cudarc CUDA feature for its buffers",
                ));
            }
        }
        if self.tensorrt.is_some() && self.cuda.is_none() {
            return Err(fail(
                "cuda",
                missing(),
                "TensorRT runs on CUDA; name its version",
            ));
        }
        if let Some(feature) = self.cuda_feature {
            let Some(cuda) = self.cuda else {
                return Err(fail(
                    "cuda",
                    missing(),
                    "a cudarc feature is set, so the CUDA version must be too",
                ));
            };
            if !feature.cuda_version().same_minor(&cuda) {
                return Err(fail(
                    "cuda_feature",
                    quoted(feature),
                    &format!(
                        "stands for CUDA {}, but cuda = \"{cuda}\"",
                        feature.cuda_version()
                    ),
                ));
            }
        }
        if let Some(sm) = self.cuda_arch_sm {
            if !(10..=199).contains(&sm) {
                return Err(fail(
                    "cuda_arch_sm",
                    sm.to_string(),
                    "write major * 10 + minor, e.g. 87 for SM 8.7",
                ));
            }
        }
        if self.dla_cores > 0 && self.tensorrt.is_none() {
            return Err(fail(
                "dla_cores",
                self.dla_cores.to_string(),
                "DLA cores are reached through TensorRT; name its version",
            ));
        }

        let camera = &self.camera;
        check_device(&camera.device, "camera.device", &fail)?;
        for (key, value) in [
            ("camera.width_px", camera.width_px),
            ("camera.height_px", camera.height_px),
            ("camera.fps", camera.fps),
        ] {
            if value == 0 {
                return Err(fail(key, "0".into(), "must be positive"));
            }
        }

        if let Some(gpio) = &self.gpio {
            check_device(&gpio.chip, "gpio.chip", &fail)?;
            let lines = [
                ("gpio.trigger_line", gpio.trigger_line),
                ("gpio.pass_line", gpio.pass_line),
                ("gpio.fail_line", gpio.fail_line),
            ];
            for (i, (key, line)) in lines.iter().enumerate() {
                if let Some((other, _)) = lines[..i].iter().find(|(_, l)| l == line) {
                    return Err(fail(
                        key,
                        line.to_string(),
                        &format!("same line as {other}; each station signal needs its own line"),
                    ));
                }
            }
            if gpio.debounce_us > MAX_DEBOUNCE_US {
                return Err(fail(
                    "gpio.debounce_us",
                    gpio.debounce_us.to_string(),
                    "longer than one second would swallow triggers",
                ));
            }
        }
        Ok(())
    }
}

fn check_device(path: &Path, key: &str, fail: &impl Fn(&str, String, &str) -> Error) -> Result<()> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(fail(
            key,
            quoted(path.display()),
            "must be an absolute device path, e.g. /dev/video0",
        ))
    }
}

fn quoted(value: impl Display) -> String {
    format!("\"{value}\"")
}
