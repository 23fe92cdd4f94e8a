//! What a TensorRT plan is specific to: the TensorRT version, the GPU's compute capability,
//! the precision it was built in and the DLA core, as one [`DeviceKey`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::bundle::{GraphPrecision, Manifest};
use crate::error::Result;

/// The precision TensorRT builds a plan in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanPrecision {
    /// The FP32 graphs, built with FP16 kernels allowed.
    Fp16,
    /// The INT8 twins (explicit quantization: their Q/DQ pairs), FP16 for the layers
    /// between them, and the FP32 graphs of the graphs without a twin.
    Int8,
}

impl PlanPrecision {
    /// The graphs a pipeline in `precision` loads from `manifest` decide the plans it needs:
    /// any INT8 twin makes them INT8 plans.
    pub fn for_graphs(precision: GraphPrecision, manifest: &Manifest) -> Self {
        match precision {
            GraphPrecision::Fp32 => Self::Fp16,
            GraphPrecision::Int8 => Self::Int8,
            GraphPrecision::Auto if manifest.int8_graphs().is_empty() => Self::Fp16,
            GraphPrecision::Auto => Self::Int8,
        }
    }

    /// The graphs a plan of this precision is built from.
    pub fn graph_precision(self) -> GraphPrecision {
        match self {
            Self::Fp16 => GraphPrecision::Fp32,
            Self::Int8 => GraphPrecision::Int8,
        }
    }
}

impl FromStr for PlanPrecision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "fp16" => Ok(Self::Fp16),
            "int8" => Ok(Self::Int8),
            other => Err(format!("unknown plan precision `{other}` (fp16 or int8)")),
        }
    }
}

impl fmt::Display for PlanPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fp16 => "fp16",
            Self::Int8 => "int8",
        })
    }
}

/// A TensorRT version, e.g. 10.3.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TrtVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level.
    pub patch: u32,
}

impl TrtVersion {
    /// Decodes what `getInferLibVersion()` returns: `major * 1000 + minor * 100 + patch` up to
    /// TensorRT 9 (8502 is 8.5.2), `major * 10000 + minor * 100 + patch` from TensorRT 10
    /// (100300 is 10.3.0). `None` for a value neither can give.
    pub fn from_lib_version(v: i32) -> Option<Self> {
        let v = u32::try_from(v).ok()?;
        let (major, rest) = if v >= 100_000 {
            (v / 10_000, v % 10_000)
        } else if (1_000..10_000).contains(&v) {
            (v / 1_000, v % 1_000)
        } else {
            return None;
        };
        Some(Self {
            major,
            minor: rest / 100,
            patch: rest % 100,
        })
    }
}

impl fmt::Display for TrtVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A GPU's compute capability, e.g. 8.7 (Orin) or 7.2 (Xavier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeCapability {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Everything a set of plans is specific to, besides the graphs themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKey {
    /// TensorRT version the plans were built with; another version cannot load them.
    pub tensorrt: TrtVersion,
    /// The GPU they were built for; plans are not portable across compute capabilities.
    pub compute_capability: ComputeCapability,
    /// Precision they were built in.
    pub precision: PlanPrecision,
    /// The DLA core they run on, or `None` for the GPU alone.
    pub dla_core: Option<u32>,
}

impl DeviceKey {
    /// The folder name of these plans in a store, e.g. `trt10.3.0-sm87-int8` or
    /// `trt8.5.2-sm72-fp16-dla0`.
    pub fn dir_name(&self) -> String {
        let dla = self
            .dla_core
            .map_or_else(String::new, |core| format!("-dla{core}"));
        format!(
            "trt{}-sm{}{}-{}{dla}",
            self.tensorrt,
            self.compute_capability.major,
            self.compute_capability.minor,
            self.precision
        )
    }
}

impl fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TensorRT {} on compute capability {}, {}",
            self.tensorrt, self.compute_capability, self.precision
        )?;
        if let Some(core) = self.dla_core {
            write!(f, ", DLA core {core}")?;
        }
        Ok(())
    }
}

/// Where the key of this machine comes from: the TensorRT library and the GPU (a trait, so
/// that the store is tested without either).
pub trait DeviceProbe {
    /// The TensorRT version of the `libnvinfer` the engine loads.
    fn tensorrt_version(&self) -> Result<TrtVersion>;
    /// The compute capability of GPU 0.
    fn compute_capability(&self) -> Result<ComputeCapability>;

    /// This machine's key for plans in `precision` on `dla_core`.
    fn key(&self, precision: PlanPrecision, dla_core: Option<u32>) -> Result<DeviceKey> {
        Ok(DeviceKey {
            tensorrt: self.tensorrt_version()?,
            compute_capability: self.compute_capability()?,
            precision,
            dla_core,
        })
    }
}
