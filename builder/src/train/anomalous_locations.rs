//! Anomalous feature samples for local training, drawn in image space: synthetic anomalies
//! (the Perlin recipe of [`crate::data::anomaly`]) pasted onto training images, passed through
//! the teacher, and the feature rows of the locations the mask covers kept as positives.
//!
//! Feature-space noise teaches a map that normal features are a compact cloud; these
//! samples add what a real change of texture, colour or structure does to the features,
//! including the 3x3 neighbourhood averaging at the mask's border.

use candle_core::Tensor;
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::anomaly::AnomalySynth;
use crate::Result;

/// Images drawn and passed through the features at a time.
const BATCH: usize = 16;

/// Keeps these draws apart from the threshold's anomalies, which use the same seed.
const SEED_SALT: u64 = 0x5eed_a110;

/// A location counts as anomalous when the mask covers at least this fraction of its cell.
pub const MIN_COVERAGE: f32 = 0.5;

/// Fraction of each feature cell `[h, w]` that `mask` (`width * height`, row-major, the
/// image's size) covers; the features span the whole image.
pub fn cell_coverage(mask: &[f32], width: usize, height: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0f32; h * w];
    for (cy, row) in out.chunks_exact_mut(w).enumerate() {
        let (y0, y1) = (
            cy * height / h,
            ((cy + 1) * height / h).max(cy * height / h + 1),
        );
        for (cx, cell) in row.iter_mut().enumerate() {
            let (x0, x1) = (
                cx * width / w,
                ((cx + 1) * width / w).max(cx * width / w + 1),
            );
            let mut sum = 0f32;
            for y in y0..y1.min(height) {
                let line = &mask[y * width..(y + 1) * width];
                sum += line[x0..x1.min(width)].iter().sum::<f32>();
            }
            *cell = sum / ((y1 - y0) * (x1 - x0)) as f32;
        }
    }
    out
}

/// Raw feature rows (`[C]` each, concatenated) of the anomalous locations of `count`
/// synthetic anomalies made from `images` in turn, drawn from a generator seeded by `seed`. `features` gives the local features `[N, C, h, w]` of a batch of images
/// (the teacher's on the host, the device's graphs when calibrating).
pub fn anomalous_rows(
    synth: &AnomalySynth,
    images: &[RgbImage],
    count: usize,
    seed: u64,
    mut features: impl FnMut(&[&RgbImage]) -> Result<Tensor>,
) -> Result<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SEED_SALT);
    let mut rows = Vec::new();
    if images.is_empty() {
        return Ok(rows);
    }
    let mut drawn = 0;
    while drawn < count {
        let n = BATCH.min(count - drawn);
        let synthetic: Vec<_> = (drawn..drawn + n)
            .map(|i| synth.apply(&images[i % images.len()], &mut rng))
            .collect();
        drawn += n;
        let refs: Vec<&RgbImage> = synthetic.iter().map(|s| &s.image).collect();
        let batch = features(&refs)?;
        let (_, c, h, w) = batch.dims4()?;
        let values: Vec<f32> = batch.flatten_all()?.to_vec1()?;
        for (i, s) in synthetic.iter().enumerate() {
            let (iw, ih) = s.image.dimensions();
            let cover = cell_coverage(&s.mask, iw as usize, ih as usize, h, w);
            let image = &values[i * c * h * w..(i + 1) * c * h * w];
            for (loc, _) in cover.iter().enumerate().filter(|(_, &v)| v >= MIN_COVERAGE) {
                rows.extend((0..c).map(|k| image[k * h * w + loc]));
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_is_the_covered_fraction_of_each_cell() {
        // 4x4 image, 2x2 cells; the top-left cell fully covered, the top-right half.
        let mut mask = vec![0f32; 16];
        for (y, x) in [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (1, 2)] {
            mask[y * 4 + x] = 1.0;
        }
        assert_eq!(cell_coverage(&mask, 4, 4, 2, 2), vec![1.0, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn rows_are_the_features_of_the_covered_locations_of_each_draw() {
        use crate::data::anomaly::TextureSource;
        let synth = AnomalySynth::new(TextureSource::Procedural, 32).unwrap();
        let images: Vec<RgbImage> = (0..3u8)
            .map(|i| RgbImage::from_pixel(32, 32, image::Rgb([40 * i, 90, 160])))
            .collect();
        let (c, h, w) = (2, 4, 4);
        // Channel k at location l of image i holds 1000 i + 100 k + l.
        let mut seen = 0usize;
        let rows = anomalous_rows(&synth, &images, 20, 7, |batch| {
            let mut v = Vec::new();
            for i in 0..batch.len() {
                for k in 0..c {
                    v.extend((0..h * w).map(|l| (1000 * (seen + i) + 100 * k + l) as f32));
                }
            }
            seen += batch.len();
            Ok(Tensor::from_vec(
                v,
                (batch.len(), c, h, w),
                &candle_core::Device::Cpu,
            )?)
        })
        .unwrap();
        assert_eq!(seen, 20, "every draw goes through the features once");
        // The same draws again, from the same seed, give the expected rows.
        let mut rng = ChaCha8Rng::seed_from_u64(7 ^ SEED_SALT);
        let mut expected = Vec::new();
        for i in 0..20 {
            let s = synth.apply(&images[i % 3], &mut rng);
            for (l, &v) in cell_coverage(&s.mask, 32, 32, h, w).iter().enumerate() {
                if v >= MIN_COVERAGE {
                    expected.extend((0..c).map(|k| (1000 * i + 100 * k + l) as f32));
                }
            }
        }
        assert!(!expected.is_empty(), "some draw covers a cell");
        assert_eq!(rows, expected);
    }

    #[test]
    fn coverage_handles_cells_that_do_not_divide_the_image() {
        let mask = vec![1f32; 5 * 3];
        let cover = cell_coverage(&mask, 5, 3, 2, 2);
        assert!(cover.iter().all(|&v| (v - 1.0).abs() < 1e-6), "{cover:?}");
    }
}
