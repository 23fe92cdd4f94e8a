//! Ground-truth masks at a bundle's input size.

use std::path::Path;

use image::imageops::FilterType;

use crate::error::{PathContext, Result};

/// A ground-truth mask as `size x size` booleans (row-major): nearest-neighbour resize to the
/// bundle's input size (the pipeline resizes the full frame, no crop, so pixels line up), then
/// value > `cutoff` = defect (127 binarises 0/255 and soft masks such as MTD's at the middle;
/// VisA's class-index masks use 0).
pub fn load_mask(path: &Path, size: u32, cutoff: u8) -> Result<Vec<bool>> {
    let image = image::ImageReader::open(path)
        .with_path(path)?
        .with_guessed_format()
        .with_path(path)?
        .decode()
        .with_path(path)?
        .to_luma8();
    let resized = if image.dimensions() == (size, size) {
        image
    } else {
        image::imageops::resize(&image, size, size, FilterType::Nearest)
    };
    Ok(resized.as_raw().iter().map(|&v| v > cutoff).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma};

    #[test]
    fn masks_resize_nearest_and_binarise_above_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.png");
        // 4x2: left half 128 (defect), right half 127 (not).
        GrayImage::from_fn(4, 2, |x, _| Luma([if x < 2 { 128 } else { 127 }]))
            .save(&path)
            .unwrap();
        let m = load_mask(&path, 2, 127).unwrap();
        assert_eq!(m, vec![true, false, true, false]);
        let m = load_mask(&path, 4, 127).unwrap();
        assert_eq!(m.iter().filter(|&&d| d).count(), 8);
        assert!(m[0] && m[1] && !m[2] && !m[3]);
        // VisA-style class-index masks: any nonzero value is a defect with cutoff 0.
        GrayImage::from_fn(4, 2, |x, _| Luma([u8::from(x < 3)]))
            .save(&path)
            .unwrap();
        assert_eq!(
            load_mask(&path, 4, 0)
                .unwrap()
                .iter()
                .filter(|&&d| d)
                .count(),
            12
        );
        assert!(load_mask(&path, 4, 127).unwrap().iter().all(|&d| !d));
    }

    #[test]
    fn an_unreadable_mask_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken_mask.png");
        std::fs::write(&path, b"not a png").unwrap();
        let err = load_mask(&path, 4, 127).unwrap_err().to_string();
        assert!(err.contains("broken_mask.png: "), "{err}");
    }
}
