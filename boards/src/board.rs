//! The board profile type: one target board's software stack, accelerators, memory budget
//! and station defaults.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::camera::Camera;
use crate::gpio::Gpio;
use crate::version::{CudaFeature, Version};

/// The inference engine a board runs by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// ONNX Runtime on the CPU, executing the bundle's ONNX graphs.
    Ort,
    /// TensorRT plans built on the device from the bundle's ONNX graphs.
    Tensorrt,
}

impl Engine {
    /// The name used in profiles and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Engine::Ort => "ort",
            Engine::Tensorrt => "tensorrt",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A board profile. Load one with [`Board::builtin`], [`Board::from_path`] or
/// [`Board::load`]; all of them validate before returning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Profile name: lowercase letters, digits and `-` (e.g. `jetson-orin-nano-8gb`).
    pub name: String,
    /// What the board is and what in the profile was not verified on hardware.
    pub description: String,
    /// Engine the runtime uses unless told otherwise.
    pub engine: Engine,
    /// JetPack release, for Jetson boards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jetpack: Option<Version>,
    /// TensorRT version; plans are specific to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensorrt: Option<Version>,
    /// CUDA version of the board's toolkit and driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<Version>,
    /// cudarc feature matching `cuda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_feature: Option<CudaFeature>,
    /// GPU compute capability as major * 10 + minor (87 for SM 8.7); plans are specific to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_arch_sm: Option<u32>,
    /// Number of deep learning accelerator (DLA) cores reachable through TensorRT.
    #[serde(default)]
    pub dla_cores: u32,
    /// Memory the inspection app may use, in MiB (trunk, adapters, buffers, plans).
    pub memory_budget_mb: u64,
    /// Default camera.
    pub camera: Camera,
    /// Default station GPIO lines; absent on boards without a GPIO header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpio: Option<Gpio>,
}
