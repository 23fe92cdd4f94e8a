//! Pixel conversions from what a V4L2 camera delivers to RGB: packed YUV 4:2:2 (YUYV, UYVY),
//! NV12, 8-bit grey, packed RGB and Motion JPEG.
//!
//! YUV is taken as ITU-R BT.601 limited range (Y 16..235, Cb/Cr 16..240), which is what UVC
//! cameras send, in 8.8 fixed point. Rows may be padded (`stride`, the driver's
//! `bytesperline`); odd widths are allowed (the last chroma pair is half used). A buffer that
//! is too short, or a JPEG that is truncated, corrupt or of another size, is an error and
//! never a partly grey frame.
//!
//! Many UVC cameras leave the Huffman tables out of their MJPG frames and rely on the
//! standard ones of the JPEG specification (ITU-T T.81 Annex K.3); those are inserted
//! before decoding when a frame has none.

use std::fmt;

use adapts_boards::PixelFormat;
use image::RgbImage;

/// Why a buffer could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    /// The frame size is zero or its byte count overflows.
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A row stride shorter than one row of pixels.
    Stride {
        /// Bytes from one row to the next.
        stride: usize,
        /// Bytes in one row of pixels.
        row: usize,
    },
    /// Fewer bytes than the format needs.
    Short {
        /// Bytes the format needs.
        needed: usize,
        /// Bytes the buffer holds.
        got: usize,
    },
    /// The JPEG could not be decoded.
    Jpeg(String),
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::Size { width, height } => write!(f, "bad frame size {width}x{height}"),
            ConvertError::Stride { stride, row } => {
                write!(f, "row stride {stride} is shorter than a row ({row} bytes)")
            }
            ConvertError::Short { needed, got } => {
                write!(f, "buffer holds {got} bytes, the format needs {needed}")
            }
            ConvertError::Jpeg(why) => write!(f, "MJPG frame: {why}"),
        }
    }
}

impl std::error::Error for ConvertError {}

/// Converts one frame of `format`, `width` x `height` pixels, rows `stride` bytes apart (0:
/// tightly packed; ignored for MJPG), to RGB.
pub fn to_rgb(
    format: PixelFormat,
    width: u32,
    height: u32,
    stride: usize,
    bytes: &[u8],
) -> Result<RgbImage, ConvertError> {
    if width == 0 || height == 0 {
        return Err(ConvertError::Size { width, height });
    }
    let (w, h) = (width as usize, height as usize);
    let out_len = w
        .checked_mul(h)
        .and_then(|n| n.checked_mul(3))
        .ok_or(ConvertError::Size { width, height })?;
    let mut out = vec![0u8; out_len];
    match format {
        PixelFormat::Mjpg => return decode_mjpg(width, height, bytes),
        PixelFormat::Grey => {
            let plane = Plane::new(bytes, w, h, stride)?;
            for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
                for (px, &v) in dst.chunks_exact_mut(3).zip(plane.row(y)) {
                    px.fill(v);
                }
            }
        }
        PixelFormat::Rgb3 => {
            let plane = Plane::new(bytes, w * 3, h, stride)?;
            for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
                dst.copy_from_slice(plane.row(y));
            }
        }
        PixelFormat::Yuyv | PixelFormat::Uyvy => {
            // Offsets of Y0, U, Y1, V within each 4-byte pair of pixels.
            let [y0, u, y1, v] = match format {
                PixelFormat::Yuyv => [0, 1, 2, 3],
                _ => [1, 0, 3, 2],
            };
            let plane = Plane::new(bytes, w.div_ceil(2) * 4, h, stride)?;
            for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
                for (pair, src) in dst.chunks_mut(6).zip(plane.row(y).chunks_exact(4)) {
                    let (cb, cr) = (src[u], src[v]);
                    pair[..3].copy_from_slice(&ycbcr(src[y0], cb, cr));
                    if pair.len() == 6 {
                        pair[3..].copy_from_slice(&ycbcr(src[y1], cb, cr));
                    }
                }
            }
        }
        PixelFormat::Nv12 => {
            let luma = Plane::new(bytes, w, h, stride)?;
            let chroma_at = luma.stride * h;
            let rest = &bytes[chroma_at.min(bytes.len())..];
            let chroma =
                Plane::new(rest, w.div_ceil(2) * 2, h.div_ceil(2), luma.stride).map_err(|err| {
                    match err {
                        ConvertError::Short { needed, got } => ConvertError::Short {
                            needed: needed + chroma_at,
                            got: got + chroma_at.min(bytes.len()),
                        },
                        other => other,
                    }
                })?;
            for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
                let uv = chroma.row(y / 2);
                for (x, (px, &l)) in dst.chunks_exact_mut(3).zip(luma.row(y)).enumerate() {
                    let c = (x / 2) * 2;
                    px.copy_from_slice(&ycbcr(l, uv[c], uv[c + 1]));
                }
            }
        }
    }
    Ok(RgbImage::from_raw(width, height, out).expect("buffer sized for the image"))
}

/// One BT.601 limited-range Y'CbCr sample to R'G'B', rounded, in 8.8 fixed point.
pub fn ycbcr(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(cb) - 128;
    let e = i32::from(cr) - 128;
    let clip = |v: i32| ((v + 128) >> 8).clamp(0, 255) as u8;
    [
        clip(c + 409 * e),
        clip(c - 100 * d - 208 * e),
        clip(c + 516 * d),
    ]
}

/// Rows of one image plane inside a buffer.
struct Plane<'a> {
    bytes: &'a [u8],
    row: usize,
    stride: usize,
}

impl<'a> Plane<'a> {
    /// `rows` rows of `row` bytes, `stride` apart (0: `row`), checked against the buffer.
    fn new(bytes: &'a [u8], row: usize, rows: usize, stride: usize) -> Result<Self, ConvertError> {
        let stride = if stride == 0 { row } else { stride };
        if stride < row {
            return Err(ConvertError::Stride { stride, row });
        }
        let needed = stride
            .checked_mul(rows - 1)
            .and_then(|n| n.checked_add(row))
            .ok_or(ConvertError::Short {
                needed: usize::MAX,
                got: bytes.len(),
            })?;
        if bytes.len() < needed {
            return Err(ConvertError::Short {
                needed,
                got: bytes.len(),
            });
        }
        Ok(Self { bytes, row, stride })
    }

    fn row(&self, y: usize) -> &'a [u8] {
        &self.bytes[y * self.stride..y * self.stride + self.row]
    }
}

fn decode_mjpg(width: u32, height: u32, bytes: &[u8]) -> Result<RgbImage, ConvertError> {
    let bad = |why: String| ConvertError::Jpeg(why);
    let end = end_of_image(bytes).ok_or_else(|| {
        bad(format!(
            "no end-of-image marker in {} bytes (truncated frame)",
            bytes.len()
        ))
    })?;
    let jpeg = with_huffman_tables(&bytes[..end])?;
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(&jpeg[..]), image::ImageFormat::Jpeg);
    reader.limits(crate::limits::image_limits());
    let decoded = reader.decode().map_err(|err| bad(err.to_string()))?;
    if (decoded.width(), decoded.height()) != (width, height) {
        return Err(bad(format!(
            "frame is {}x{}, the camera was set to {width}x{height}",
            decoded.width(),
            decoded.height()
        )));
    }
    Ok(decoded.into_rgb8())
}

/// The length of the JPEG up to and including its end-of-image marker. UVC drivers may
/// pad a frame after it, so only zero padding may follow.
fn end_of_image(bytes: &[u8]) -> Option<usize> {
    let used = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
    (used >= 4 && bytes[..2] == [0xFF, 0xD8] && bytes[used - 2..used] == [0xFF, 0xD9])
        .then_some(used)
}

/// The JPEG with the standard Huffman tables inserted before its first scan when it
/// defines none of its own.
fn with_huffman_tables(jpeg: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, ConvertError> {
    let scan = match first_scan(jpeg)? {
        Marker::Tables => return Ok(jpeg.into()),
        Marker::Scan(at) => at,
    };
    let mut out = Vec::with_capacity(jpeg.len() + 420);
    out.extend_from_slice(&jpeg[..scan]);
    out.extend_from_slice(&standard_dht());
    out.extend_from_slice(&jpeg[scan..]);
    Ok(out.into())
}

enum Marker {
    /// The stream defines Huffman tables before its first scan.
    Tables,
    /// No tables; the first scan's marker is at this offset.
    Scan(usize),
}

/// Walks the marker segments after SOI up to the first start-of-scan.
fn first_scan(jpeg: &[u8]) -> Result<Marker, ConvertError> {
    let bad = |at: usize, why: &str| ConvertError::Jpeg(format!("{why} at byte {at}"));
    let mut at = 2;
    loop {
        if jpeg.get(at) != Some(&0xFF) {
            return Err(bad(at, "expected a marker"));
        }
        while jpeg.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let marker = *jpeg
            .get(at + 1)
            .ok_or_else(|| bad(at, "truncated marker"))?;
        match marker {
            0xC4 => return Ok(Marker::Tables),
            0xDA => return Ok(Marker::Scan(at)),
            0xD9 => return Err(bad(at, "end of image before any scan")),
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let len = jpeg
                    .get(at + 2..at + 4)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                    .ok_or_else(|| bad(at, "truncated segment length"))?;
                if len < 2 {
                    return Err(bad(at, "segment length below 2"));
                }
                at += 2 + len;
            }
        }
    }
}

/// Code-length counts (lengths 1..=16) and symbols of the four tables of ITU-T T.81
/// Annex K.3: luminance DC, chrominance DC, luminance AC, chrominance AC.
const DC_LUMA_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_COUNTS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_COUNTS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
const AC_LUMA_SYMBOLS: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
const AC_CHROMA_COUNTS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHROMA_SYMBOLS: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

/// One DHT segment holding the four standard tables.
fn standard_dht() -> Vec<u8> {
    let tables: [(u8, &[u8; 16], &[u8]); 4] = [
        (0x00, &DC_LUMA_COUNTS, &DC_SYMBOLS),
        (0x01, &DC_CHROMA_COUNTS, &DC_SYMBOLS),
        (0x10, &AC_LUMA_COUNTS, &AC_LUMA_SYMBOLS),
        (0x11, &AC_CHROMA_COUNTS, &AC_CHROMA_SYMBOLS),
    ];
    let body: usize = tables.iter().map(|(_, _, s)| 17 + s.len()).sum();
    let mut seg = Vec::with_capacity(4 + body);
    seg.extend_from_slice(&[0xFF, 0xC4]);
    seg.extend_from_slice(&((body + 2) as u16).to_be_bytes());
    for (class_and_id, counts, symbols) in tables {
        seg.push(class_and_id);
        seg.extend_from_slice(counts);
        seg.extend_from_slice(symbols);
    }
    seg
}

#[cfg(test)]
mod tests;
