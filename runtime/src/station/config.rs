//! `station.toml`: what a station serves, from where, to where. Every key is documented in
//! the README ("Station configuration") and in `examples/station.toml`.
//!
//! The file is read strictly: an unknown key or a wrong value is an error naming the key
//! (and the line), never ignored. Camera and GPIO defaults come from the board profile
//! (`board = "..."`, see `adapts-boards`) unless the file sets them. [`StationConfig::plan`]
//! turns the file into a [`Plan`] with every default filled in and every value checked.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use adapts_boards::{Board, PixelFormat, TriggerEdge};
use serde::Deserialize;

use crate::engine::choice::EngineKind;

use super::gpio::{Line, OutputPlan, TriggerPlan};
use crate::error::{Error, Result};
use crate::limits::{read_limited_text, MAX_CONFIG_BYTES};

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationConfig {
    /// Bundle folder (relative paths are relative to the file).
    pub bundle: Option<PathBuf>,
    /// Board profile: a built-in name or a profile file.
    pub board: Option<String>,
    /// Trigger-to-answer deadline in milliseconds; later is FAIL `deadline`.
    pub deadline_ms: Option<u64>,
    /// Threads per graph run.
    pub threads: Option<u16>,
    /// Engine: `cpu`, `cuda`, `tensorrt` or `auto`.
    pub engine: Option<String>,
    /// Where frames come from.
    #[serde(default)]
    pub camera: CameraConfig,
    /// Where triggers come from.
    #[serde(default)]
    pub trigger: TriggerConfig,
    /// GPIO output lines.
    pub outputs: Option<OutputsConfig>,
    /// Threshold scale per product.
    #[serde(default)]
    pub sensitivity: BTreeMap<String, f32>,
    /// The results file.
    #[serde(default)]
    pub results: ResultsConfig,
    /// Heatmaps of rejected frames.
    pub heatmaps: Option<HeatmapsConfig>,
    /// Hot reload.
    #[serde(default)]
    pub reload: ReloadConfig,
    /// Which bundles are accepted.
    #[serde(default)]
    pub trust: TrustConfig,
}

/// `[camera]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// `v4l2` or `dir`.
    pub kind: Option<String>,
    /// `v4l2`: device node.
    pub device: Option<PathBuf>,
    /// `v4l2`: width in pixels.
    pub width: Option<u32>,
    /// `v4l2`: height in pixels.
    pub height: Option<u32>,
    /// `v4l2`: FourCC (`YUYV`, `MJPG`, `GREY`, `RGB3`, ...).
    pub pixel_format: Option<PixelFormat>,
    /// `v4l2`: frames per second to ask for.
    pub fps: Option<u32>,
    /// `v4l2`: buffers in the MMAP queue (2..=32).
    pub buffers: Option<u32>,
    /// `dir`: the folder of images.
    pub path: Option<PathBuf>,
    /// `dir`: start again at the first image after the last.
    #[serde(rename = "loop")]
    pub looping: Option<bool>,
    /// Capture timeout in milliseconds.
    pub timeout_ms: Option<u64>,
}

/// `[trigger]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerConfig {
    /// `stdin`, `every` or `gpio`.
    pub kind: Option<String>,
    /// `every`: the period in milliseconds.
    pub period_ms: Option<u64>,
    /// `every`: stop after this many triggers.
    pub count: Option<u64>,
    /// `gpio`: chip device.
    pub chip: Option<PathBuf>,
    /// `gpio`: trigger line offset.
    pub line: Option<u32>,
    /// `gpio`: `rising`, `falling` or `both`.
    pub edge: Option<TriggerEdge>,
    /// `gpio`: debounce in microseconds.
    pub debounce_us: Option<u32>,
    /// `gpio`: the trigger is active low.
    pub active_low: Option<bool>,
    /// `gpio`: product-select lines, least significant bit first.
    #[serde(default)]
    pub select_lines: Vec<u32>,
    /// `gpio`: the select lines are active low.
    pub select_active_low: Option<bool>,
    /// `gpio`: job number (as a string key) to product.
    #[serde(default)]
    pub jobs: BTreeMap<String, String>,
}

/// One output line: `{ line = 17, active_low = false }`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// Line offset on the chip.
    pub line: u32,
    /// Active when low.
    #[serde(default)]
    pub active_low: bool,
}

/// `[outputs]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    /// Chip device (default: the board's).
    pub chip: Option<PathBuf>,
    /// PASS/FAIL pulse width in milliseconds; 0 holds the level until the next verdict.
    pub pulse_ms: Option<u64>,
    /// READY.
    pub ready: Option<LineConfig>,
    /// BUSY.
    pub busy: Option<LineConfig>,
    /// PASS (default: the board's `pass_line`).
    pub pass: Option<LineConfig>,
    /// FAIL (default: the board's `fail_line`).
    pub fail: Option<LineConfig>,
    /// FAULT.
    pub fault: Option<LineConfig>,
}

/// `[results]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsConfig {
    /// JSON-lines file (relative to the config file).
    pub path: Option<PathBuf>,
    /// Also write each line to standard output (default true).
    pub stdout: Option<bool>,
    /// Rotate the file when it would exceed this many MiB.
    pub rotate_mb: Option<u64>,
    /// Rotated files kept.
    pub keep: Option<u32>,
}

/// `[heatmaps]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatmapsConfig {
    /// Folder (relative to the config file).
    pub dir: PathBuf,
    /// Most heatmaps kept.
    pub max_files: Option<usize>,
    /// Most MiB kept.
    pub max_mb: Option<u64>,
}

/// `[reload]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Reload when the bundle's manifest changes (default true); SIGHUP always reloads.
    pub watch: Option<bool>,
    /// How often the manifest is looked at, milliseconds.
    pub poll_ms: Option<u64>,
}

/// `[trust]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Public keys (SPKI PEM files) whose signatures are accepted; more than one during a
    /// rotation. Without any, signatures are not checked.
    pub keys: Option<Vec<PathBuf>>,
    /// Accept a reload to a bundle with a lower sequence number than the running one's.
    pub allow_downgrade: Option<bool>,
    /// Keeps the highest sequence number served across restarts.
    pub sequence_file: Option<PathBuf>,
}

/// Where frames come from, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraPlan {
    /// A folder of images.
    Dir {
        /// The folder.
        path: PathBuf,
        /// Start again after the last image.
        looping: bool,
    },
    /// A V4L2 device.
    V4l2 {
        /// Device node.
        device: PathBuf,
        /// Width, pixels.
        width: u32,
        /// Height, pixels.
        height: u32,
        /// Pixel format.
        pixel_format: PixelFormat,
        /// Frame rate to ask for.
        fps: Option<u32>,
        /// Buffers in the MMAP queue.
        buffers: u32,
    },
}

/// Where triggers come from, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerPlanKind {
    /// `TRIGGER [product]` lines on standard input.
    Stdin,
    /// Free-run.
    Every {
        /// The period.
        period: Duration,
        /// Stop after this many.
        count: Option<u64>,
    },
    /// A GPIO edge.
    Gpio(TriggerPlan),
}

/// The results file, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultsPlan {
    /// The file.
    pub path: PathBuf,
    /// Rotation size, bytes.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: u32,
}

/// Heatmap retention, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapPlan {
    /// The folder.
    pub dir: PathBuf,
    /// Most files.
    pub max_files: usize,
    /// Most bytes.
    pub max_bytes: u64,
}

/// Everything a station needs, checked, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Bundle folder.
    pub bundle: PathBuf,
    /// The board profile's name, if one was given.
    pub board: Option<String>,
    /// The board profile's memory budget in MiB: a bundle whose graphs exceed it is refused.
    pub memory_budget_mib: Option<u64>,
    /// Threads per graph run.
    pub threads: Option<u16>,
    /// The engine asked for (checked against this machine when the station starts).
    pub engine: EngineKind,
    /// Frames.
    pub camera: CameraPlan,
    /// Capture timeout.
    pub capture_timeout: Duration,
    /// Triggers.
    pub trigger: TriggerPlanKind,
    /// GPIO outputs.
    pub outputs: Option<OutputPlan>,
    /// Deadline per trigger.
    pub deadline: Option<Duration>,
    /// Threshold scale per product.
    pub sensitivity: HashMap<String, f32>,
    /// Results file.
    pub results: Option<ResultsPlan>,
    /// Result lines on standard output too.
    pub stdout: bool,
    /// Heatmaps.
    pub heatmaps: Option<HeatmapPlan>,
    /// Watch the manifest.
    pub watch: bool,
    /// Manifest poll period.
    pub watch_every: Duration,
    /// Trust key files.
    pub trust_keys: Vec<PathBuf>,
    /// Reloading an older bundle is allowed.
    pub allow_downgrade: bool,
    /// The sequence file.
    pub sequence_file: Option<PathBuf>,
}

/// Default capture timeout.
pub const DEFAULT_CAPTURE_TIMEOUT_MS: u64 = 1000;
/// Buffers in a V4L2 camera's queue when `camera.buffers` is not set.
pub const DEFAULT_V4L2_BUFFERS: u32 = 4;
/// Default results rotation size, MiB.
pub const DEFAULT_ROTATE_MB: u64 = 64;
/// Default rotated results files kept.
pub const DEFAULT_KEEP: u32 = 8;
/// Default heatmaps kept.
pub const DEFAULT_HEATMAP_FILES: usize = 1000;
/// Default heatmap MiB kept.
pub const DEFAULT_HEATMAP_MB: u64 = 512;
/// Default PASS/FAIL pulse, milliseconds.
pub const DEFAULT_PULSE_MS: u64 = 50;

impl StationConfig {
    /// Reads and parses `path`; errors name the file, the key and the line.
    pub fn read(path: &Path) -> Result<Self> {
        let text = read_limited_text(path, MAX_CONFIG_BYTES, "a station configuration")?;
        Self::parse(&text, path)
    }

    /// Parses the text of `origin`.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Config {
            path: origin.to_path_buf(),
            reason: e.to_string().trim_end().replace('\n', " | "),
        })
    }

    /// Fills in defaults (from the board profile where it has them) and checks every value.
    /// Relative paths are taken relative to `base` (the config file's folder).
    pub fn plan(&self, origin: &Path, base: &Path) -> Result<Plan> {
        let bad = |reason: String| Error::Config {
            path: origin.to_path_buf(),
            reason,
        };
        let rel = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let board = match &self.board {
            Some(name) => {
                Some(Board::load(name).map_err(|e| bad(format!("key `board` = \"{name}\": {e}")))?)
            }
            None => None,
        };
        let bundle =
            self.bundle.as_deref().map(rel).ok_or_else(|| {
                bad("key `bundle` is missing (the bundle folder to serve)".into())
            })?;
        if self.threads == Some(0) {
            return Err(bad("key `threads` = 0: at least 1".into()));
        }
        let engine = match &self.engine {
            Some(name) => name
                .parse::<EngineKind>()
                .map_err(|e| bad(format!("key `engine` = \"{name}\": {e}")))?,
            None => EngineKind::Cpu,
        };

        let c = &self.camera;
        let camera = match c.kind.as_deref().unwrap_or(if c.path.is_some() {
            "dir"
        } else {
            "v4l2"
        }) {
            "dir" => {
                let path = c.path.as_deref().map(rel).ok_or_else(|| {
                    bad("`[camera] kind = \"dir\"` needs key `camera.path`".into())
                })?;
                for (key, set) in [
                    ("device", c.device.is_some()),
                    ("width", c.width.is_some()),
                    ("height", c.height.is_some()),
                    ("pixel_format", c.pixel_format.is_some()),
                    ("fps", c.fps.is_some()),
                    ("buffers", c.buffers.is_some()),
                ] {
                    if set {
                        return Err(bad(format!(
                            "key `camera.{key}` is for `kind = \"v4l2\"`, not `dir`"
                        )));
                    }
                }
                CameraPlan::Dir {
                    path,
                    looping: c.looping.unwrap_or(false),
                }
            }
            "v4l2" => {
                if c.path.is_some() || c.looping.is_some() {
                    return Err(bad(
                        "keys `camera.path` and `camera.loop` are for `kind = \"dir\"`".into(),
                    ));
                }
                let dflt = board.as_ref().map(|b| &b.camera);
                let need = |key: &str| {
                    bad(format!(
                        "key `camera.{key}` is missing (no board profile gives it; set `board` or the key)"
                    ))
                };
                let plan = CameraPlan::V4l2 {
                    device: c
                        .device
                        .clone()
                        .or_else(|| dflt.map(|d| d.device.clone()))
                        .ok_or_else(|| need("device"))?,
                    width: c
                        .width
                        .or(dflt.map(|d| d.width_px))
                        .ok_or_else(|| need("width"))?,
                    height: c
                        .height
                        .or(dflt.map(|d| d.height_px))
                        .ok_or_else(|| need("height"))?,
                    pixel_format: c
                        .pixel_format
                        .or(dflt.map(|d| d.pixel_format))
                        .ok_or_else(|| need("pixel_format"))?,
                    fps: c.fps.or(dflt.map(|d| d.fps)),
                    buffers: c.buffers.unwrap_or(DEFAULT_V4L2_BUFFERS),
                };
                if !(2..=32).contains(&c.buffers.unwrap_or(DEFAULT_V4L2_BUFFERS)) {
                    return Err(bad(format!(
                        "key `camera.buffers` = {}: expected 2..=32",
                        c.buffers.unwrap_or_default()
                    )));
                }
                if let CameraPlan::V4l2 { width, height, .. } = &plan {
                    if *width == 0 || *height == 0 || *width > 16384 || *height > 16384 {
                        return Err(bad(format!(
                            "keys `camera.width` x `camera.height` = {width} x {height}: each must be 1..16384"
                        )));
                    }
                }
                plan
            }
            other => {
                return Err(bad(format!(
                    "key `camera.kind` = \"{other}\": expected \"v4l2\" or \"dir\""
                )))
            }
        };
        let capture_timeout = Duration::from_millis(positive(
            c.timeout_ms,
            DEFAULT_CAPTURE_TIMEOUT_MS,
            "camera.timeout_ms",
            &bad,
        )?);

        let t = &self.trigger;
        let gpio_default = board.as_ref().and_then(|b| b.gpio.clone());
        let trigger = match t.kind.as_deref().unwrap_or("stdin") {
            "stdin" => TriggerPlanKind::Stdin,
            "every" => TriggerPlanKind::Every {
                period: Duration::from_millis(t.period_ms.ok_or_else(|| {
                    bad("`[trigger] kind = \"every\"` needs key `trigger.period_ms`".into())
                })?),
                count: t.count,
            },
            "gpio" => {
                let need = |key: &str| {
                    bad(format!(
                        "key `trigger.{key}` is missing (no board profile with a GPIO block gives it)"
                    ))
                };
                let g = gpio_default.as_ref();
                let select_low = t.select_active_low.unwrap_or(false);
                let mut jobs = BTreeMap::new();
                for (job, product) in &t.jobs {
                    let n: u32 = job.parse().map_err(|_| {
                        bad(format!(
                            "key `trigger.jobs.{job}`: a job number must be a whole number"
                        ))
                    })?;
                    if n == 0 || (t.select_lines.len() < 32 && n >= 1 << t.select_lines.len()) {
                        return Err(bad(format!(
                            "key `trigger.jobs.{job}`: job numbers run from 1 to {} with {} select lines",
                            (1u64 << t.select_lines.len().min(32)) - 1,
                            t.select_lines.len()
                        )));
                    }
                    jobs.insert(n, product.clone());
                }
                TriggerPlanKind::Gpio(TriggerPlan {
                    chip: t
                        .chip
                        .clone()
                        .or_else(|| g.map(|g| g.chip.clone()))
                        .ok_or_else(|| need("chip"))?,
                    line: Line {
                        offset: t
                            .line
                            .or(g.map(|g| g.trigger_line))
                            .ok_or_else(|| need("line"))?,
                        active_low: t.active_low.unwrap_or(false),
                    },
                    edge: t
                        .edge
                        .or(g.map(|g| g.trigger_edge))
                        .unwrap_or(TriggerEdge::Rising),
                    debounce: Duration::from_micros(u64::from(
                        t.debounce_us.or(g.map(|g| g.debounce_us)).unwrap_or(0),
                    )),
                    select: t
                        .select_lines
                        .iter()
                        .map(|&offset| Line {
                            offset,
                            active_low: select_low,
                        })
                        .collect(),
                    jobs,
                })
            }
            other => {
                return Err(bad(format!(
                    "key `trigger.kind` = \"{other}\": expected \"stdin\", \"every\" or \"gpio\""
                )))
            }
        };
        if !matches!(trigger, TriggerPlanKind::Gpio(_)) {
            for (key, set) in [
                ("chip", t.chip.is_some()),
                ("line", t.line.is_some()),
                ("edge", t.edge.is_some()),
                ("debounce_us", t.debounce_us.is_some()),
                ("select_lines", !t.select_lines.is_empty()),
                ("jobs", !t.jobs.is_empty()),
            ] {
                if set {
                    return Err(bad(format!("key `trigger.{key}` is for `kind = \"gpio\"`")));
                }
            }
        }

        let outputs = match &self.outputs {
            None => None,
            Some(o) => {
                let g = gpio_default.as_ref();
                let line = |l: Option<LineConfig>| {
                    l.map(|l| Line {
                        offset: l.line,
                        active_low: l.active_low,
                    })
                };
                let plan = OutputPlan {
                    chip: o
                        .chip
                        .clone()
                        .or_else(|| g.map(|g| g.chip.clone()))
                        .ok_or_else(|| bad("key `outputs.chip` is missing (no board profile with a GPIO block gives it)".into()))?,
                    ready: line(o.ready),
                    busy: line(o.busy),
                    pass: line(o.pass).or(g.map(|g| Line {
                        offset: g.pass_line,
                        active_low: false,
                    })),
                    fail: line(o.fail).or(g.map(|g| Line {
                        offset: g.fail_line,
                        active_low: false,
                    })),
                    fault: line(o.fault),
                    pulse: match o.pulse_ms.unwrap_or(DEFAULT_PULSE_MS) {
                        0 => None,
                        ms => Some(Duration::from_millis(ms)),
                    },
                };
                let mut used = BTreeMap::new();
                for (name, l) in [
                    ("ready", plan.ready),
                    ("busy", plan.busy),
                    ("pass", plan.pass),
                    ("fail", plan.fail),
                    ("fault", plan.fault),
                ] {
                    if let Some(l) = l {
                        if let Some(other) = used.insert(l.offset, name) {
                            return Err(bad(format!(
                                "keys `outputs.{other}` and `outputs.{name}` both use line {}",
                                l.offset
                            )));
                        }
                    }
                }
                if plan.pass.is_none() || plan.fail.is_none() {
                    return Err(bad(
                        "`[outputs]` needs lines `outputs.pass` and `outputs.fail`".into(),
                    ));
                }
                Some(plan)
            }
        };

        let mut sensitivity = HashMap::new();
        for (product, &scale) in &self.sensitivity {
            if !(scale.is_finite() && scale > 0.0) {
                return Err(bad(format!(
                    "key `sensitivity.{product}` = {scale}: a threshold scale must be above 0"
                )));
            }
            sensitivity.insert(product.clone(), scale);
        }
        let deadline = match self.deadline_ms {
            Some(0) => return Err(bad("key `deadline_ms` = 0: at least 1".into())),
            ms => ms.map(Duration::from_millis),
        };
        let r = &self.results;
        let results = match &r.path {
            Some(path) => Some(ResultsPlan {
                path: rel(path),
                max_bytes: positive(r.rotate_mb, DEFAULT_ROTATE_MB, "results.rotate_mb", &bad)?
                    << 20,
                keep: r.keep.unwrap_or(DEFAULT_KEEP),
            }),
            None if r.rotate_mb.is_some() || r.keep.is_some() => {
                return Err(bad(
                    "keys `results.rotate_mb` and `results.keep` need `results.path`".into(),
                ))
            }
            None => None,
        };
        let heatmaps = match &self.heatmaps {
            Some(h) => Some(HeatmapPlan {
                dir: rel(&h.dir),
                max_files: positive(
                    h.max_files.map(|n| n as u64),
                    DEFAULT_HEATMAP_FILES as u64,
                    "heatmaps.max_files",
                    &bad,
                )? as usize,
                max_bytes: positive(h.max_mb, DEFAULT_HEATMAP_MB, "heatmaps.max_mb", &bad)? << 20,
            }),
            None => None,
        };
        Ok(Plan {
            bundle,
            memory_budget_mib: board.as_ref().map(|b| b.memory_budget_mb),
            board: board.map(|b| b.name),
            threads: self.threads,
            engine,
            camera,
            capture_timeout,
            trigger,
            outputs,
            deadline,
            sensitivity,
            results,
            stdout: r.stdout.unwrap_or(true),
            heatmaps,
            watch: self.reload.watch.unwrap_or(true),
            watch_every: Duration::from_millis(positive(
                self.reload.poll_ms,
                1000,
                "reload.poll_ms",
                &bad,
            )?),
            trust_keys: self.trust.keys.iter().flatten().map(|p| rel(p)).collect(),
            allow_downgrade: self.trust.allow_downgrade.unwrap_or(false),
            sequence_file: self.trust.sequence_file.as_deref().map(rel),
        })
    }
}

fn positive(v: Option<u64>, default: u64, key: &str, bad: &dyn Fn(String) -> Error) -> Result<u64> {
    match v {
        Some(0) => Err(bad(format!("key `{key}` = 0: at least 1"))),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

#[cfg(test)]
mod tests;
