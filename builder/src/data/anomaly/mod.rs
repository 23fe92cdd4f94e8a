//! Synthetic anomalies for training on defect-free images (the DRAEM / DeSTSeg recipe).
//!
//! One draw: a Perlin mask `m` (resolution `2^a x 2^b`, `a, b` uniform in `{0..=5}`, rotated
//! by a uniform angle in [-90, 90] degrees, thresholded at 0.5), a texture `tex` the size of
//! the image, and an opacity `beta ~ U[0, 0.8)`; the augmented image is
//!
//! ```text
//! x_aug = x (1 - m) + (1 - beta) tex m + beta x m
//! ```
//!
//! computed in floating point on 0..255 RGB and rounded back to `u8`. Pixels outside the
//! mask are left exactly as they were. Masks can be empty (coarse noise that never crosses
//! 0.5, or rotated out of the frame); such a draw is a normal sample.
//!
//! ```
//! use adapts_builder::data::anomaly::{AnomalySynth, TextureSource};
//! use rand::SeedableRng;
//! # fn main() -> adapts_builder::Result<()> {
//! let synth = AnomalySynth::new(TextureSource::Procedural, 64)?;
//! let image = image::RgbImage::from_pixel(64, 64, image::Rgb([128, 128, 128]));
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let s = synth.apply(&image, &mut rng);
//! assert_eq!(s.mask.len(), 64 * 64);
//! assert!((0.0..0.8).contains(&s.beta));
//! # Ok(()) }
//! ```

pub mod perlin;
pub mod texture;

use image::imageops::FilterType;
use image::RgbImage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub use perlin::MaskDraw;
pub use texture::{TextureKind, TextureSource};

use crate::Result;

/// Upper bound (exclusive) of the texture opacity parameter `beta`.
pub const BETA_MAX: f32 = 0.8;

/// An augmented image with its anomaly mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    /// The augmented image, the same size as the input.
    pub image: RgbImage,
    /// `width * height` values, row-major, each 0.0 (normal) or 1.0 (anomalous).
    pub mask: Vec<f32>,
    /// The `beta` of this draw, in [0, 0.8).
    pub beta: f32,
    /// Perlin resolution and rotation of this draw.
    pub draw: MaskDraw,
}

impl Synthetic {
    /// Fraction of pixels inside the mask.
    pub fn coverage(&self) -> f32 {
        if self.mask.is_empty() {
            0.0
        } else {
            self.mask.iter().sum::<f32>() / self.mask.len() as f32
        }
    }
}

/// Draws synthetic anomalies onto `size x size` images.
#[derive(Debug, Clone)]
pub struct AnomalySynth {
    size: u32,
    textures: Textures,
}

#[derive(Debug, Clone)]
enum Textures {
    /// Directory images, already resized to `size x size`.
    Loaded(Vec<RgbImage>),
    Procedural,
}

impl AnomalySynth {
    /// Prepares a synthesiser for `size x size` images. A directory source is read and
    /// resized once, here; an empty or unreadable directory is an error naming it.
    pub fn new(source: TextureSource, size: u32) -> Result<Self> {
        if size == 0 {
            return Err(crate::Error::Config(
                "anomaly image size must be positive".into(),
            ));
        }
        let textures = match source {
            TextureSource::Directory(dir) => {
                let images = texture::load_directory(&dir, size)?;
                log::debug!("{} anomaly textures from {}", images.len(), dir.display());
                Textures::Loaded(images)
            }
            TextureSource::Procedural => Textures::Procedural,
        };
        Ok(Self { size, textures })
    }

    /// Image side this synthesiser was prepared for.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Number of directory textures (0 for procedural ones).
    pub fn texture_count(&self) -> usize {
        match &self.textures {
            Textures::Loaded(v) => v.len(),
            Textures::Procedural => 0,
        }
    }

    /// Augments `image` with one random anomaly. The result depends only on the image and the
    /// state of `rng`. Images of another size than [`size`](Self::size) work too (the texture is
    /// resized for them on the fly, which is slower).
    pub fn apply(&self, image: &RgbImage, rng: &mut ChaCha8Rng) -> Synthetic {
        let (w, h) = image.dimensions();
        let (mask, draw) = perlin::perlin_mask(h as usize, w as usize, rng);
        let tex = self.texture(w, h, rng);
        let beta = rng.random_range(0.0..BETA_MAX);
        let mut out = image.clone();
        for ((px, t), &m) in out.pixels_mut().zip(tex.pixels()).zip(&mask) {
            if m > 0.0 {
                for c in 0..3 {
                    let x = f32::from(px[c]);
                    let v = x * (1.0 - m) + (1.0 - beta) * f32::from(t[c]) * m + beta * x * m;
                    px[c] = v.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        Synthetic {
            image: out,
            mask,
            beta,
            draw,
        }
    }

    fn texture(&self, w: u32, h: u32, rng: &mut ChaCha8Rng) -> RgbImage {
        match &self.textures {
            Textures::Procedural => texture::procedural_texture(w, h, rng),
            Textures::Loaded(images) => {
                let t = &images[rng.random_range(0..images.len())];
                if t.dimensions() == (w, h) {
                    t.clone()
                } else {
                    image::imageops::resize(t, w, h, FilterType::Triangle)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use rand::SeedableRng;

    fn test_image(size: u32) -> RgbImage {
        RgbImage::from_fn(size, size, |x, y| {
            Rgb([
                (x * 7 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        })
    }

    #[test]
    fn same_seed_same_output_different_seed_different() {
        let synth = AnomalySynth::new(TextureSource::Procedural, 64).unwrap();
        let img = test_image(64);
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..4)
                .map(|_| synth.apply(&img, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn mask_binary_with_plausible_coverage() {
        let synth = AnomalySynth::new(TextureSource::Procedural, 64).unwrap();
        let img = test_image(64);
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let draws = 400;
        let (mut sum, mut empty, mut full) = (0.0f32, 0, 0);
        for _ in 0..draws {
            let s = synth.apply(&img, &mut rng);
            assert!(s.mask.iter().all(|&v| v == 0.0 || v == 1.0));
            assert!((0.0..BETA_MAX).contains(&s.beta));
            let c = s.coverage();
            sum += c;
            empty += usize::from(c == 0.0);
            full += usize::from(c == 1.0);
        }
        let mean = sum / draws as f32;
        eprintln!(
            "mean mask coverage {:.2} %, empty masks {:.1} % of {draws} draws",
            100.0 * mean,
            100.0 * empty as f32 / draws as f32
        );
        assert!((0.02..0.5).contains(&mean), "mean coverage {mean}");
        assert!(empty < draws / 2, "{empty} empty masks");
        assert_eq!(full, 0);
    }

    #[test]
    fn outside_mask_unchanged_inside_blend_formula_holds() {
        // Constant image 200 and constant texture 40 (read from a directory): inside the mask
        // every channel is round((1 - beta) * 40 + beta * 200), outside exactly 200.
        let dir = tempfile::tempdir().unwrap();
        let tex = RgbImage::from_pixel(16, 16, Rgb([40, 40, 40]));
        tex.save(dir.path().join("flat.png")).unwrap();
        let synth =
            AnomalySynth::new(TextureSource::Directory(dir.path().to_path_buf()), 32).unwrap();
        assert_eq!(synth.texture_count(), 1);
        let img = RgbImage::from_pixel(32, 32, Rgb([200, 200, 200]));
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut checked_inside = 0;
        for _ in 0..30 {
            let s = synth.apply(&img, &mut rng);
            let inside = ((1.0 - s.beta) * 40.0 + s.beta * 200.0).round() as u8;
            for (p, &m) in s.image.pixels().zip(&s.mask) {
                if m == 1.0 {
                    assert_eq!(p.0, [inside; 3], "beta {}", s.beta);
                    checked_inside += 1;
                } else {
                    assert_eq!(p.0, [200; 3]);
                }
            }
        }
        assert!(checked_inside > 0);
    }

    #[test]
    fn outside_mask_unchanged_on_a_varied_image() {
        let synth = AnomalySynth::new(TextureSource::Procedural, 48).unwrap();
        let img = test_image(48);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for _ in 0..20 {
            let s = synth.apply(&img, &mut rng);
            for ((a, b), &m) in s.image.pixels().zip(img.pixels()).zip(&s.mask) {
                if m == 0.0 {
                    assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn directory_textures_are_resized_and_other_image_sizes_work() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        RgbImage::from_pixel(10, 20, Rgb([1, 2, 3]))
            .save(dir.path().join("sub/a.jpg"))
            .unwrap();
        RgbImage::from_pixel(50, 50, Rgb([9, 9, 9]))
            .save(dir.path().join("b.png"))
            .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
        let synth =
            AnomalySynth::new(TextureSource::Directory(dir.path().to_path_buf()), 24).unwrap();
        assert_eq!(synth.texture_count(), 2);
        let s = synth.apply(&test_image(40), &mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(s.image.dimensions(), (40, 40));
        assert_eq!(s.mask.len(), 1600);
    }

    #[test]
    fn corrupt_texture_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
        let err = AnomalySynth::new(TextureSource::Directory(dir.path().to_path_buf()), 24)
            .unwrap_err()
            .to_string();
        assert!(err.contains("broken.png"), "{err}");
    }
}
