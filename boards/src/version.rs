//! Software versions as written in profiles (`"10.3"`, `"8.5.2"`) and the cudarc feature that
//! pins the CUDA API version a device build links against.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A `MAJOR.MINOR[.PATCH]` version, e.g. TensorRT `10.3` or JetPack `5.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: Option<u32>,
}

impl Version {
    /// A `MAJOR.MINOR` version.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self {
            major,
            minor,
            patch: None,
        }
    }

    /// True when major and minor agree (the patch level is ignored).
    pub fn same_minor(&self, other: &Version) -> bool {
        self.major == other.major && self.minor == other.minor
    }
}

/// A version string that is not `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected a version like \"10.3\" or \"8.5.2\", found \"{0}\"")]
pub struct ParseVersionError(pub String);

impl FromStr for Version {
    type Err = ParseVersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = || ParseVersionError(text.to_owned());
        let parts: Vec<&str> = text.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(fail());
        }
        let mut numbers = [0u32; 3];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(fail());
            }
            *slot = part.parse().map_err(|_| fail())?;
        }
        Ok(Version {
            major: numbers[0],
            minor: numbers[1],
            patch: (parts.len() == 3).then_some(numbers[2]),
        })
    }
}

impl TryFrom<String> for Version {
    type Error = ParseVersionError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Version> for String {
    fn from(version: Version) -> String {
        version.to_string()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

/// The cudarc cargo feature that pins the CUDA API version of a device build
/// (`cuda-11040` for JetPack 5, `cuda-12060` for JetPack 6.1 and later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CudaFeature {
    /// CUDA 11.4 (JetPack 5.x).
    #[serde(rename = "cuda-11040")]
    Cuda11040,
    /// CUDA 12.6 (JetPack 6.1 and later 6.x).
    #[serde(rename = "cuda-12060")]
    Cuda12060,
}

impl CudaFeature {
    /// The cargo feature name, as passed to `cudarc`'s `features = [..]`.
    pub const fn name(self) -> &'static str {
        match self {
            CudaFeature::Cuda11040 => "cuda-11040",
            CudaFeature::Cuda12060 => "cuda-12060",
        }
    }

    /// The CUDA version the feature stands for.
    pub const fn cuda_version(self) -> Version {
        match self {
            CudaFeature::Cuda11040 => Version::new(11, 4),
            CudaFeature::Cuda12060 => Version::new(12, 6),
        }
    }
}

impl fmt::Display for CudaFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_and_three_part_versions() {
        assert_eq!("10.3".parse(), Ok(Version::new(10, 3)));
        let full: Version = "8.5.2".parse().expect("three parts");
        assert_eq!((full.major, full.minor, full.patch), (8, 5, Some(2)));
        assert_eq!(full.to_string(), "8.5.2");
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in ["10", "10.", ".3", "10.3.1.4", "10.x", "v10.3", "10.-3", ""] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cuda_features_name_their_cuda_version() {
        // The feature name encodes major * 1000 + minor * 10.
        for feature in [CudaFeature::Cuda11040, CudaFeature::Cuda12060] {
            let v = feature.cuda_version();
            let encoded = format!("cuda-{}", v.major * 1000 + v.minor * 10);
            assert_eq!(feature.name(), encoded);
        }
    }
}
