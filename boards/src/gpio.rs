//! Default station I/O lines of a board: one trigger input and PASS/FAIL outputs on a GPIO
//! character device.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which trigger edge starts an inspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerEdge {
    Rising,
    Falling,
    Both,
}

impl fmt::Display for TriggerEdge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TriggerEdge::Rising => "rising",
            TriggerEdge::Falling => "falling",
            TriggerEdge::Both => "both",
        })
    }
}

/// GPIO lines of the station, as line offsets within one GPIO chip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gpio {
    /// GPIO character device, e.g. `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// Input line that triggers a capture.
    pub trigger_line: u32,
    /// Output line raised for a PASS verdict.
    pub pass_line: u32,
    /// Output line raised for a FAIL verdict.
    pub fail_line: u32,
    pub trigger_edge: TriggerEdge,
    /// Debounce period applied to the trigger input, in microseconds.
    pub debounce_us: u32,
}
