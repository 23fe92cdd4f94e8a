//! TensorRT's INT8 calibration cache, the text file an implicit-quantization build (JetPack 5,
//! TensorRT 8.5) reads instead of calibrating on the device:
//!
//! ```text
//! TRT-8502-EntropyCalibration2
//! input: 3c010204
//! (Unnamed Layer* 64) [Shuffle]_output: 0
//! ```
//!
//! The header names the TensorRT version as one integer and the calibration algorithm. Each
//! following line is `<tensor name>: <scale>`, the scale being the f32 bit pattern in
//! lowercase hex without leading zeros (`0` for a zero scale). The scale is amax / 127;
//! TensorRT applies the dynamic range [-127 * scale, 127 * scale]. Tensor names may contain
//! spaces and colons, so a line splits at its last colon. A cache is only valid for the
//! TensorRT version in its header. [`CalibrationCache::to_text`] gives the file's content; the
//! caller writes it (atomically, with `adapts_runtime::fsutil`).

use std::fmt::{self, Write as _};
use std::path::Path;

use crate::error::{Error, Result};
use crate::params::QuantParams;

/// The calibration algorithm a cache was produced with, as named in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CalibrationAlgorithm {
    /// `EntropyCalibration2` (IInt8EntropyCalibrator2, TensorRT's recommended calibrator).
    Entropy2,
    /// `MinMaxCalibration` (IInt8MinMaxCalibrator).
    MinMax,
}

impl CalibrationAlgorithm {
    /// The name as it appears in the header.
    pub const fn header_name(self) -> &'static str {
        match self {
            CalibrationAlgorithm::Entropy2 => "EntropyCalibration2",
            CalibrationAlgorithm::MinMax => "MinMaxCalibration",
        }
    }

    fn from_header_name(name: &str) -> Option<Self> {
        [CalibrationAlgorithm::Entropy2, CalibrationAlgorithm::MinMax]
            .into_iter()
            .find(|a| a.header_name() == name)
    }
}

impl fmt::Display for CalibrationAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header_name())
    }
}

/// The version integer TensorRT writes in cache headers (its `NV_TENSORRT_VERSION`):
/// major * 1000 + minor * 100 + patch before TensorRT 10 (8.5.2 -> 8502), and
/// major * 10000 + minor * 100 + patch from TensorRT 10 on (10.3.0 -> 100300).
pub fn tensorrt_version_tag(major: u32, minor: u32, patch: u32) -> u32 {
    let major_weight = if major >= 10 { 10_000 } else { 1_000 };
    major * major_weight + minor * 100 + patch
}

/// A TensorRT calibration cache: header plus per-tensor scales, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationCache {
    tensorrt_version: u32,
    algorithm: CalibrationAlgorithm,
    entries: Vec<(String, f32)>,
}

impl CalibrationCache {
    /// An empty cache for the TensorRT version tag (see [`tensorrt_version_tag`]).
    pub fn new(tensorrt_version: u32, algorithm: CalibrationAlgorithm) -> Self {
        Self {
            tensorrt_version,
            algorithm,
            entries: Vec::new(),
        }
    }

    pub fn tensorrt_version(&self) -> u32 {
        self.tensorrt_version
    }

    pub fn algorithm(&self) -> CalibrationAlgorithm {
        self.algorithm
    }

    /// The header line, e.g. `TRT-8502-EntropyCalibration2`.
    pub fn header(&self) -> String {
        format!("TRT-{}-{}", self.tensorrt_version, self.algorithm)
    }

    /// Sets a tensor's scale (amax / 127), replacing any earlier one in place.
    pub fn insert_scale(&mut self, name: &str, scale: f32) -> Result<()> {
        check_name(name)?;
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(Error::InvalidCacheScale {
                name: name.to_owned(),
                scale,
            });
        }
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = scale,
            None => self.entries.push((name.to_owned(), scale)),
        }
        Ok(())
    }

    /// Sets a tensor's scale from symmetric INT8 parameters.
    pub fn insert(&mut self, name: &str, params: &QuantParams) -> Result<()> {
        if !params.is_symmetric_int8() {
            return Err(Error::NotSymmetricInt8 {
                name: name.to_owned(),
            });
        }
        self.insert_scale(name, params.scale())
    }

    /// A tensor's scale.
    pub fn scale(&self, name: &str) -> Option<f32> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, s)| s)
    }

    /// A tensor's dynamic range magnitude as TensorRT applies it, 127 * scale.
    pub fn amax(&self, name: &str) -> Option<f32> {
        self.scale(name).map(|s| s * 127.0)
    }

    /// (name, scale) pairs in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, f32)> {
        self.entries.iter().map(|(n, s)| (n.as_str(), *s))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cache text, one line per entry, each ending in a newline.
    pub fn to_text(&self) -> String {
        let mut text = self.header();
        text.push('\n');
        for (name, scale) in &self.entries {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "{name}: {:x}", scale.to_bits());
        }
        text
    }

    /// Parses cache text. Blank lines are skipped; anything else that is not a valid header
    /// or entry is an error naming the line number and its content.
    pub fn parse(text: &str) -> Result<Self> {
        parse_text(text, None)
    }

    /// Reads and parses a cache file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        parse_text(&text, Some(path))
    }
}

fn check_name(name: &str) -> Result<()> {
    let fail = |reason| Error::InvalidTensorName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(fail("it is empty"));
    }
    if name.contains(['\n', '\r']) {
        return Err(fail("it contains a line break"));
    }
    Ok(())
}

fn parse_text(text: &str, path: Option<&Path>) -> Result<CalibrationCache> {
    let fail = |line: usize, content: &str, reason: String| Error::CacheParse {
        path: path.map(Path::to_path_buf),
        line,
        content: content.to_owned(),
        reason,
    };
    let mut lines = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l));

    let (_, header) = lines.next().ok_or_else(|| {
        fail(
            1,
            "",
            "empty file; expected a `TRT-<version>-<algorithm>` header".into(),
        )
    })?;
    let (tensorrt_version, algorithm) =
        parse_header(header.trim()).map_err(|reason| fail(1, header, reason))?;

    let mut cache = CalibrationCache::new(tensorrt_version, algorithm);
    for (number, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let (name, value) = line
            .rsplit_once(':')
            .ok_or_else(|| fail(number, line, "expected `<tensor name>: <hex scale>`".into()))?;
        if name.is_empty() {
            return Err(fail(number, line, "empty tensor name".into()));
        }
        let scale = parse_scale(value.trim()).map_err(|reason| fail(number, line, reason))?;
        if cache.scale(name).is_some() {
            return Err(fail(number, line, format!("tensor `{name}` appears twice")));
        }
        cache.entries.push((name.to_owned(), scale));
    }
    Ok(cache)
}

fn parse_header(header: &str) -> std::result::Result<(u32, CalibrationAlgorithm), String> {
    let expected = "expected a `TRT-<version>-<algorithm>` header";
    let rest = header.strip_prefix("TRT-").ok_or(expected)?;
    let (version, algorithm) = rest.split_once('-').ok_or(expected)?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("TensorRT version `{version}` is not a number"));
    }
    let version = version
        .parse()
        .map_err(|_| format!("TensorRT version `{version}` is out of range"))?;
    let algorithm = CalibrationAlgorithm::from_header_name(algorithm).ok_or_else(|| {
        format!(
            "unsupported calibration algorithm `{algorithm}` (supported: {}, {})",
            CalibrationAlgorithm::Entropy2,
            CalibrationAlgorithm::MinMax
        )
    })?;
    Ok((version, algorithm))
}

fn parse_scale(hex: &str) -> std::result::Result<f32, String> {
    if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("scale `{hex}` is not 1 to 8 hex digits"));
    }
    let bits = u32::from_str_radix(hex, 16).map_err(|e| format!("scale `{hex}`: {e}"))?;
    let scale = f32::from_bits(bits);
    if scale.is_finite() && scale >= 0.0 {
        Ok(scale)
    } else {
        Err(format!("scale `{hex}` decodes to {scale}"))
    }
}
