//! Heatmap overlays for evaluation: the anomaly map in the station's colour scale over the
//! image, with the ground-truth outline drawn in white so a reader sees at a glance whether
//! the hot region is the defect.

use std::path::Path;

use adapts_runtime::heatmap::{overlay, write_png};
use adapts_runtime::Tensor;
use image::{Rgb, RgbImage};

use crate::Result;

/// `count` indices spread evenly over `0..len` (all of them when `count >= len`).
pub fn spread(len: usize, count: usize) -> Vec<usize> {
    if count == 0 || len == 0 {
        return Vec::new();
    }
    if count >= len {
        return (0..len).collect();
    }
    if count == 1 {
        return vec![len / 2];
    }
    (0..count)
        .map(|k| (k * (len - 1) + (count - 1) / 2) / (count - 1))
        .collect()
}

/// Marks in white every mask pixel with a 4-neighbour outside the mask (or on the border).
pub fn draw_contour(img: &mut RgbImage, mask: &[bool]) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if mask.len() != w * h {
        return;
    }
    let inside = |x: isize, y: isize| {
        x >= 0
            && y >= 0
            && (x as usize) < w
            && (y as usize) < h
            && mask[y as usize * w + x as usize]
    };
    for y in 0..h as isize {
        for x in 0..w as isize {
            if inside(x, y)
                && !(inside(x - 1, y) && inside(x + 1, y) && inside(x, y - 1) && inside(x, y + 1))
            {
                img.put_pixel(x as u32, y as u32, Rgb([255, 255, 255]));
            }
        }
    }
}

/// Writes the overlay of `map` (`[S, S]`, divided by `threshold`) on `image` with the outline
/// of `mask` (none for a good image), atomically as PNG.
pub fn write(
    path: &Path,
    image: &RgbImage,
    map: &Tensor,
    threshold: f32,
    mask: Option<&[bool]>,
) -> Result<()> {
    let mut img = overlay(image, map, threshold)?;
    if let Some(mask) = mask {
        draw_contour(&mut img, mask);
    }
    Ok(write_png(path, &img)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_covers_both_ends_evenly() {
        assert_eq!(spread(10, 3), vec![0, 5, 9]);
        assert_eq!(spread(10, 2), vec![0, 9]);
        assert_eq!(spread(3, 5), vec![0, 1, 2]);
        assert_eq!(spread(7, 1), vec![3]);
        assert!(spread(0, 4).is_empty() && spread(4, 0).is_empty());
    }

    #[test]
    fn contour_is_the_mask_outline() {
        let mut img = RgbImage::new(5, 5);
        // 3 x 3 square in the middle: its 8 border pixels are outline, the centre is not.
        let mask: Vec<bool> = (0..25)
            .map(|p| (1..4).contains(&(p % 5)) && (1..4).contains(&(p / 5)))
            .collect();
        draw_contour(&mut img, &mask);
        let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert_eq!(white, 8);
        assert_eq!(img.get_pixel(2, 2).0, [0, 0, 0]);
    }
}
