//! Image preprocessing shared by the builder and the device: decode, resize the short side,
//! centre crop, normalise, and lay out as planar RGB `f32` (`[3, size, size]`).
//!
//! Resizing uses an antialiased bilinear (triangle) filter, as torchvision's `Resize` does on
//! PIL images: the `image` crate's, computed to the bit by its `resize` module for the crop alone.
//! Grayscale and RGBA inputs become RGB.

use std::path::Path;

use image::RgbImage;

use crate::limits::{image_limits, read_limited, MAX_IMAGE_FILE_BYTES};
use crate::{Error, Result};

mod resize;

/// Input normalisation a trunk's weights expect (pixel values in 0..=255).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// ImageNet mean/std per channel (torchvision weights).
    Imagenet,
    /// `(x - 127) / 128`, the usual TensorFlow Lite convention.
    Tf,
}

impl Normalization {
    /// Per-channel `(mean, std)` in 0..=255 units.
    pub fn mean_std(self) -> ([f32; 3], [f32; 3]) {
        match self {
            Normalization::Imagenet => (
                [0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0],
                [0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0],
            ),
            Normalization::Tf => ([127.0; 3], [128.0; 3]),
        }
    }
}

/// The resized size of an image and the corner of the centre crop inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizeGeometry {
    /// Width after resizing.
    pub width: u32,
    /// Height after resizing.
    pub height: u32,
    /// First column of the crop.
    pub left: u32,
    /// First row of the crop.
    pub top: u32,
}

/// Resize + centre crop + normalise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preprocess {
    /// Target length of the shorter side before cropping.
    pub resize: u32,
    /// Side of the square centre crop (the network input size).
    pub crop: u32,
    /// Per-channel normalisation applied after cropping.
    pub normalization: Normalization,
}

impl Preprocess {
    /// ImageNet evaluation: resize to `size * 256 / 224`, crop `size` (224 -> 256 -> 224).
    pub fn imagenet_eval(size: u32, normalization: Normalization) -> Self {
        Self {
            resize: size * 256 / 224,
            crop: size,
            normalization,
        }
    }

    /// Resize straight to `size` (no crop), as inspection images are framed by the fixture.
    pub fn full_frame(size: u32, normalization: Normalization) -> Self {
        Self {
            resize: size,
            crop: size,
            normalization,
        }
    }

    /// Planar normalised `[3, crop, crop]` values.
    pub fn apply(&self, img: &RgbImage) -> Vec<f32> {
        if img.dimensions() == (self.crop, self.crop) {
            return self.normalize(img);
        }
        self.normalize(&self.resize(img))
    }

    /// Resizes (and crops) to the `crop x crop` network input. An image already of that size
    /// is returned unchanged.
    pub fn resize(&self, img: &RgbImage) -> RgbImage {
        let (w, h) = img.dimensions();
        if (w, h) == (self.crop, self.crop) {
            return img.clone();
        }
        resize::resize_crop(img, self.geometry(w, h), self.crop)
    }

    /// Where a `w x h` image goes: the size it is resized to and the crop's corner in it
    /// (the GPU preprocessing computes the same crop from these).
    pub fn geometry(&self, w: u32, h: u32) -> ResizeGeometry {
        let (width, height) = if self.resize == self.crop {
            // Full-frame mode squashes to a square; crop mode keeps the aspect ratio.
            (self.crop, self.crop)
        } else if w <= h {
            (
                self.resize,
                (h as u64 * self.resize as u64 / w as u64).max(1) as u32,
            )
        } else {
            (
                (w as u64 * self.resize as u64 / h as u64).max(1) as u32,
                self.resize,
            )
        };
        ResizeGeometry {
            width,
            height,
            left: (width - self.crop.min(width)) / 2,
            top: (height - self.crop.min(height)) / 2,
        }
    }

    /// Planar normalised values of a `crop x crop` image.
    pub fn normalize(&self, img: &RgbImage) -> Vec<f32> {
        let (mean, std) = self.normalization.mean_std();
        // `(v - mean) / std` for each of the 256 values of each channel, computed once: the
        // same values as per pixel, without a division per pixel.
        let table: [[f32; 256]; 3] =
            std::array::from_fn(|ch| std::array::from_fn(|v| (v as f32 - mean[ch]) / std[ch]));
        let raw = img.as_raw();
        // One plane at a time, appended: no zero fill first, and no index to check.
        let mut out = Vec::with_capacity(raw.len());
        for (ch, table) in table.iter().enumerate() {
            out.extend(raw.chunks_exact(3).map(|p| table[usize::from(p[ch])]));
        }
        out
    }
}

/// Decodes a PNG or JPEG file (any colour type) to 8-bit RGB. A file over
/// [`MAX_IMAGE_FILE_BYTES`] is refused before it is read, and one whose header declares more
/// than [`image_limits`] allow before its pixels are decoded.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = read_limited(path, MAX_IMAGE_FILE_BYTES, "an image file")?;
    decode_rgb(&bytes).map_err(|message| Error::Image {
        path: path.to_path_buf(),
        message,
    })
}

/// Decodes PNG or JPEG bytes (the format guessed from their signature) to 8-bit RGB, within
/// [`image_limits`].
pub fn decode_rgb(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    reader.limits(image_limits());
    let img = reader.decode().map_err(|e| e.to_string())?;
    Ok(img.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_is_planar_and_exactly_the_per_pixel_formula() {
        let img = RgbImage::from_fn(5, 5, |x, y| {
            image::Rgb([(x * 50) as u8, (y * 60) as u8, 255])
        });
        for normalization in [Normalization::Imagenet, Normalization::Tf] {
            let p = Preprocess::full_frame(5, normalization);
            let out = p.apply(&img);
            let (mean, std) = normalization.mean_std();
            for (x, y, px) in img.enumerate_pixels() {
                for ch in 0..3 {
                    let want = (f32::from(px[ch]) - mean[ch]) / std[ch];
                    let got = out[ch * 25 + y as usize * 5 + x as usize];
                    assert_eq!(got.to_bits(), want.to_bits(), "({x}, {y}) channel {ch}");
                }
            }
        }
    }

    #[test]
    fn an_image_over_the_side_limit_is_refused_from_its_header() {
        let encode = |w: u32| {
            let mut bytes = Vec::new();
            image::GrayImage::new(w, 1)
                .write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )
                .unwrap();
            bytes
        };
        assert_eq!(
            decode_rgb(&encode(crate::limits::MAX_IMAGE_SIDE))
                .unwrap()
                .width(),
            crate::limits::MAX_IMAGE_SIDE
        );
        let err = decode_rgb(&encode(crate::limits::MAX_IMAGE_SIDE + 1)).unwrap_err();
        assert!(err.to_lowercase().contains("limit"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.png");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(crate::limits::MAX_IMAGE_FILE_BYTES + 1)
            .unwrap();
        let err = load_rgb(&path).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    }

    #[test]
    fn imagenet_normalisation_maps_mean_to_zero() {
        let img = RgbImage::from_pixel(300, 200, image::Rgb([124, 116, 104]));
        let out = Preprocess::imagenet_eval(224, Normalization::Imagenet).apply(&img);
        assert_eq!(out.len(), 3 * 224 * 224);
        assert!(out.iter().all(|v| v.abs() < 0.01), "{:?}", &out[..3]);
    }

    #[test]
    fn crop_is_centred_and_planar() {
        // Left half black, right half white: after centre crop the middle column splits them.
        let img = RgbImage::from_fn(448, 448, |x, _| {
            if x < 224 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let p = Preprocess::imagenet_eval(224, Normalization::Tf);
        let out = p.apply(&img);
        let at = |ch: usize, y: usize, x: usize| out[ch * 224 * 224 + y * 224 + x];
        assert!((at(0, 100, 0) - (-127.0 / 128.0)).abs() < 1e-6);
        assert!((at(2, 100, 223) - (128.0 / 128.0)).abs() < 1e-6);
    }
}
