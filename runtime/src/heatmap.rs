//! Heatmap overlays for rejected parts: the input image at the map's resolution with the
//! anomaly map blended over it in the turbo colour map.
//!
//! The map is divided by the product's threshold and clipped to `[0, 2]` before colouring, so
//! a colour means the same on every product: dark to blue is far below the threshold,
//! green-yellow (the middle of the scale) is the decision boundary (ratio 1.0), dark red is
//! twice the threshold or more.

use std::io::Cursor;
use std::path::Path;

use image::imageops::FilterType;
use image::{ImageFormat, Rgb, RgbImage};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::tensor::Tensor;

/// Ratio to the threshold at the top of the colour scale.
pub const MAX_RATIO: f32 = 2.0;

/// Weight of the colour map over the image.
const ALPHA: f32 = 0.5;

/// The turbo colour map (Mikhailov, Google 2019; Du's polynomial approximation) at `t` in
/// `[0, 1]`: near black at 0, blue at 0.1, green-yellow at 0.5, dark red at 1. Values outside are clipped;
/// NaN maps to the top of the scale, the conservative reading of an invalid value.
pub fn turbo(t: f32) -> [u8; 3] {
    let x = if t.is_nan() {
        1.0
    } else {
        f64::from(t.clamp(0.0, 1.0))
    };
    let (x2, x3) = (x * x, x * x * x);
    let (x4, x5) = (x2 * x2, x2 * x3);
    let r = 0.13572138 + 4.61539260 * x - 42.66032258 * x2 + 132.13108234 * x3 - 152.94239396 * x4
        + 59.28637943 * x5;
    let g = 0.09140261 + 2.19418839 * x + 4.84296658 * x2 - 14.18503333 * x3
        + 4.27729857 * x4
        + 2.82956604 * x5;
    let b = 0.10667330 + 12.64194608 * x - 60.58204836 * x2 + 110.36276771 * x3 - 89.90310912 * x4
        + 27.34824973 * x5;
    [r, g, b].map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8)
}

/// The overlay of an `[H, W]` anomaly map on `image` (resized to `W x H`), the map divided by
/// `threshold` and clipped to `[0, MAX_RATIO]`.
pub fn overlay(image: &RgbImage, map: &Tensor, threshold: f32) -> Result<RgbImage> {
    map.check_len()?;
    let &[h, w] = map.shape.as_slice() else {
        return Err(Error::GraphContract {
            graph: "heatmap".into(),
            reason: format!("the anomaly map has shape {:?}, expected [H, W]", map.shape),
        });
    };
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(Error::GraphContract {
            graph: "heatmap".into(),
            reason: format!("threshold {threshold} cannot scale the map"),
        });
    }
    let (wu, hu) = match (u32::try_from(w), u32::try_from(h)) {
        (Ok(wu), Ok(hu)) if wu > 0 && hu > 0 && image.width() > 0 && image.height() > 0 => (wu, hu),
        _ => {
            return Err(Error::GraphContract {
                graph: "heatmap".into(),
                reason: format!(
                    "cannot overlay a {w}x{h} map on a {}x{} image",
                    image.width(),
                    image.height()
                ),
            })
        }
    };
    let mut out = image::imageops::resize(image, wu, hu, FilterType::Triangle);
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let value = map.data[y as usize * w + x as usize];
        let colour = turbo(value / threshold / MAX_RATIO);
        let Rgb(base) = *pixel;
        *pixel = Rgb(std::array::from_fn(|c| {
            (f32::from(base[c]) * (1.0 - ALPHA) + f32::from(colour[c]) * ALPHA).round() as u8
        }));
    }
    Ok(out)
}

/// Writes the [`overlay`] as a PNG file, atomically.
pub fn write_overlay(path: &Path, image: &RgbImage, map: &Tensor, threshold: f32) -> Result<()> {
    write_png(path, &overlay(image, map, threshold)?)
}

/// Writes `img` as PNG, atomically (temp file, fsync, rename).
pub fn write_png(path: &Path, img: &RgbImage) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|e| Error::Image {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    write_atomic(path, &bytes)
}

/// The file name of a frame's heatmap, from the frame id (a path relative to the source):
/// `/` becomes `__`, and `.png` is appended unless the id already ends with it
/// (`good/000.png` -> `good__000.png`, `a/b.jpg` -> `a__b.jpg.png`). The runtime and the
/// builder's evaluation name overlays this way.
pub fn file_name(id: &str) -> String {
    let flat = id.replace(['/', '\\'], "__");
    if flat.to_ascii_lowercase().ends_with(".png") {
        flat
    } else {
        format!("{flat}.png")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_flat() {
        assert_eq!(file_name("good/000.png"), "good__000.png");
        assert_eq!(file_name("a/b/c.JPG"), "a__b__c.JPG.png");
        assert_eq!(file_name("x.PNG"), "x.PNG");
        assert_eq!(file_name("a\\b.png"), "a__b.png");
    }

    #[test]
    fn turbo_runs_blue_to_green_to_red() {
        let low = turbo(0.1);
        let mid = turbo(0.5);
        let high = turbo(1.0);
        assert!(low[2] > low[0] && low[2] > low[1], "{low:?}");
        assert!(turbo(0.0).iter().all(|&c| c < 64), "{:?}", turbo(0.0));
        assert!(mid[1] > mid[0] && mid[1] > mid[2], "{mid:?}");
        assert!(high[0] > high[1] && high[0] > high[2], "{high:?}");
        assert_eq!(turbo(-3.0), turbo(0.0));
        assert_eq!(turbo(7.0), high);
        assert_eq!(turbo(f32::NAN), high);
    }

    #[test]
    fn writes_an_s_by_s_png_scaled_by_the_threshold() {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = RgbImage::from_pixel(40, 30, Rgb([128, 128, 128]));
        let s = 8;
        // Left half at a fifth of the threshold, right half at twice the threshold.
        let data = (0..s * s)
            .map(|i| if i % s < s / 2 { 0.6 } else { 6.0 })
            .collect();
        let map = Tensor::new(vec![s, s], data).expect("map");
        let path = dir.path().join("heat").join("frame.png");
        write_overlay(&path, &image, &map, 3.0).expect("write");

        let back = image::open(&path).expect("decode").to_rgb8();
        assert_eq!(back.dimensions(), (s as u32, s as u32));
        let left = back.get_pixel(0, 0);
        let right = back.get_pixel(s as u32 - 1, 0);
        assert!(left[2] > left[0], "left should be blue-ish: {left:?}");
        assert!(right[0] > right[2], "right should be red-ish: {right:?}");
    }

    #[test]
    fn refuses_bad_maps_and_thresholds() {
        let image = RgbImage::new(4, 4);
        let map = Tensor::zeros(vec![1, 4, 4]);
        assert!(overlay(&image, &map, 1.0).is_err());
        let map = Tensor::zeros(vec![4, 4]);
        assert!(overlay(&image, &map, 0.0).is_err());
        assert!(overlay(&image, &map, f32::NAN).is_err());
        assert!(overlay(&image, &map, 1.0).is_ok());
    }
}
