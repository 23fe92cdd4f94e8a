//! Default camera settings of a board: a V4L2 device and the format to ask it for.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// V4L2 pixel formats a station camera may deliver, named by their FourCC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PixelFormat {
    /// Packed YUV 4:2:2, Y0 U Y1 V (the usual USB UVC format).
    #[serde(rename = "YUYV")]
    Yuyv,
    /// Packed YUV 4:2:2, U Y0 V Y1.
    #[serde(rename = "UYVY")]
    Uyvy,
    /// Motion JPEG.
    #[serde(rename = "MJPG")]
    Mjpg,
    /// 8-bit greyscale.
    #[serde(rename = "GREY")]
    Grey,
    /// Packed 8-bit RGB.
    #[serde(rename = "RGB3")]
    Rgb3,
    /// Planar Y with interleaved UV, 4:2:0.
    #[serde(rename = "NV12")]
    Nv12,
}

impl PixelFormat {
    /// The V4L2 FourCC bytes.
    pub const fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Uyvy => *b"UYVY",
            PixelFormat::Mjpg => *b"MJPG",
            PixelFormat::Grey => *b"GREY",
            PixelFormat::Rgb3 => *b"RGB3",
            PixelFormat::Nv12 => *b"NV12",
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.fourcc();
        f.write_str(std::str::from_utf8(&code).map_err(|_| fmt::Error)?)
    }
}

/// The camera a station opens unless told otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    /// V4L2 device node, e.g. `/dev/video0`.
    pub device: PathBuf,
    pub pixel_format: PixelFormat,
    pub width_px: u32,
    pub height_px: u32,
    /// Frames per second requested from the device.
    pub fps: u32,
}
