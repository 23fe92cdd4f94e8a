//! Texture sources for synthetic anomalies: a directory of images (DTD-like) or built-in
//! procedural generators, so training works with no extra data.
//!
//! Procedural kinds ([`TextureKind`]) are deliberately unlike one another: smooth coloured
//! Perlin fields, stripes at a random angle, rotated checkers and grids, speckle, colour
//! gradients and random blobs, each with random colours.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{Rgb, RgbImage};
use rand::Rng;
use rayon::prelude::*;

use super::perlin::perlin_2d;
use crate::{Error, PathContext, Result};

/// Where anomaly textures come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextureSource {
    /// Every PNG or JPEG file under this directory (recursively), e.g. the DTD dataset.
    Directory(PathBuf),
    /// Built-in generators ([`TextureKind`]), a fresh texture for every draw.
    Procedural,
}

impl TextureSource {
    /// The images under `dir` when given (`--textures`), else the procedural ones.
    pub fn from_dir(dir: Option<&Path>) -> Self {
        dir.map_or(TextureSource::Procedural, |d| {
            TextureSource::Directory(d.to_path_buf())
        })
    }
}

/// One procedural texture family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextureKind {
    /// Smooth Perlin field mapped between two or three random colours.
    PerlinField,
    /// Parallel stripes at a random angle and period, hard or soft edged.
    Stripes,
    /// Rotated checkerboard, or a grid of lines on a plain ground.
    Checker,
    /// Salt-and-pepper speckle of random colours on a random ground.
    Speckle,
    /// Linear or radial colour gradient.
    Gradient,
    /// Random overlapping discs and ellipses.
    Blobs,
}

impl TextureKind {
    /// Every kind, in a fixed order.
    pub const ALL: [TextureKind; 6] = [
        TextureKind::PerlinField,
        TextureKind::Stripes,
        TextureKind::Checker,
        TextureKind::Speckle,
        TextureKind::Gradient,
        TextureKind::Blobs,
    ];

    /// Renders a `width x height` texture of this kind; all randomness comes from `rng`.
    pub fn render<R: Rng + ?Sized>(self, width: u32, height: u32, rng: &mut R) -> RgbImage {
        let (w, h) = (width.max(1), height.max(1));
        match self {
            TextureKind::PerlinField => perlin_field(w, h, rng),
            TextureKind::Stripes => stripes(w, h, rng),
            TextureKind::Checker => checker(w, h, rng),
            TextureKind::Speckle => speckle(w, h, rng),
            TextureKind::Gradient => gradient(w, h, rng),
            TextureKind::Blobs => blobs(w, h, rng),
        }
    }
}

/// A procedural texture of a uniformly chosen [`TextureKind`].
pub fn procedural_texture<R: Rng + ?Sized>(width: u32, height: u32, rng: &mut R) -> RgbImage {
    let kind = TextureKind::ALL[rng.random_range(0..TextureKind::ALL.len())];
    kind.render(width, height, rng)
}

/// Loads every PNG/JPEG under `dir` (sorted by path, so draws are reproducible), converted to
/// RGB and resized to `size x size` with bilinear filtering.
pub fn load_directory(dir: &Path, size: u32) -> Result<Vec<RgbImage>> {
    let mut files = Vec::new();
    collect_images(dir, &mut files)?;
    if files.is_empty() {
        return Err(
            Error::Dataset("no PNG or JPEG texture images found in this directory".into())
                .with_path(dir),
        );
    }
    files.sort();
    files
        .par_iter()
        .map(|path| {
            let img = image::open(path).with_path(path)?;
            let rgb = img.to_rgb8();
            Ok(if rgb.dimensions() == (size, size) {
                rgb
            } else {
                image::imageops::resize(&rgb, size, size, FilterType::Triangle)
            })
        })
        .collect()
}

fn collect_images(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_path(dir)? {
        let entry = entry.with_path(dir)?;
        let path = entry.path();
        let kind = entry.file_type().with_path(&path)?;
        if kind.is_dir() || (kind.is_symlink() && path.is_dir()) {
            collect_images(&path, out)?;
        } else if is_image(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

type Colour = [f32; 3];

fn random_colour<R: Rng + ?Sized>(rng: &mut R) -> Colour {
    [
        rng.random_range(0.0..=255.0),
        rng.random_range(0.0..=255.0),
        rng.random_range(0.0..=255.0),
    ]
}

fn mix(a: Colour, b: Colour, t: f32) -> Colour {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn pixel(c: Colour) -> Rgb<u8> {
    Rgb(c.map(|v| v.round().clamp(0.0, 255.0) as u8))
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn perlin_field<R: Rng + ?Sized>(w: u32, h: u32, rng: &mut R) -> RgbImage {
    let res = (
        1usize << rng.random_range(1..=4u32),
        1usize << rng.random_range(1..=4u32),
    );
    let noise = perlin_2d(h as usize, w as usize, res, rng);
    // A second, finer octave gives the field some grain.
    let fine = perlin_2d(h as usize, w as usize, (res.0 * 4, res.1 * 4), rng);
    let (a, b, c) = (random_colour(rng), random_colour(rng), random_colour(rng));
    let three = rng.random_bool(0.5);
    RgbImage::from_fn(w, h, |x, y| {
        let k = (y * w + x) as usize;
        let t = (0.5 + 0.5 * (noise[k] + 0.3 * fine[k])).clamp(0.0, 1.0);
        let col = if three {
            if t < 0.5 {
                mix(a, b, t * 2.0)
            } else {
                mix(b, c, t * 2.0 - 1.0)
            }
        } else {
            mix(a, b, t)
        };
        pixel(col)
    })
}

fn stripes<R: Rng + ?Sized>(w: u32, h: u32, rng: &mut R) -> RgbImage {
    let angle = rng.random_range(0.0..std::f32::consts::PI);
    let period = rng.random_range(4.0f32..40.0) * w.max(h) as f32 / 256.0;
    let duty = rng.random_range(0.2f32..0.8);
    let soft = rng.random_bool(0.5);
    let (a, b) = (random_colour(rng), random_colour(rng));
    let (s, c) = angle.sin_cos();
    RgbImage::from_fn(w, h, |x, y| {
        let p = (x as f32 * c + y as f32 * s) / period.max(1.0);
        let f = p - p.floor();
        let t = if soft {
            0.5 + 0.5 * (std::f32::consts::TAU * f).cos()
        } else if f < duty {
            1.0
        } else {
            0.0
        };
        pixel(mix(a, b, t))
    })
}

fn checker<R: Rng + ?Sized>(w: u32, h: u32, rng: &mut R) -> RgbImage {
    let angle = rng.random_range(0.0..std::f32::consts::FRAC_PI_2);
    let cell = rng.random_range(6.0f32..48.0) * w.max(h) as f32 / 256.0;
    let grid = rng.random_bool(0.4);
    let line = rng.random_range(0.08f32..0.3);
    let (a, b) = (random_colour(rng), random_colour(rng));
    let (s, c) = angle.sin_cos();
    let cell = cell.max(2.0);
    RgbImage::from_fn(w, h, |x, y| {
        let u = (x as f32 * c + y as f32 * s) / cell;
        let v = (-(x as f32) * s + y as f32 * c) / cell;
        let on = if grid {
            let (fu, fv) = (u - u.floor(), v - v.floor());
            fu < line || fv < line
        } else {
            (u.floor() as i64 + v.floor() as i64).rem_euclid(2) == 0
        };
        pixel(if on { b } else { a })
    })
}

fn speckle<R: Rng + ?Sized>(w: u32, h: u32, rng: &mut R) -> RgbImage {
    let ground = random_colour(rng);
    let dots = [random_colour(rng), random_colour(rng)];
    let density = rng.random_range(0.05f64..0.5);
    let jitter = rng.random_range(0.0f32..40.0);
    let mut img = RgbImage::new(w, h);
    for p in img.pixels_mut() {
        let base = if rng.random_bool(density) {
            dots[usize::from(rng.random_bool(0.5))]
        } else {
            ground
        };
        let n = rng.random_range(-1.0f32..=1.0) * jitter;
        *p = pixel(base.map(|v| v + n));
    }
    img
}

fn gradient<R: Rng + ?Sized>(w: u32, h: u32, rng: &mut R) -> RgbImage {
    let (a, b) = (random_colour(rng), random_colour(rng));
    let radial = rng.random_bool(0.4);
    let angle = rng.random_range(0.0..std::f32::consts::TAU);
    let centre = (
        rng.random_range(0.0..=1.0f32) * w as f32,
        rng.random_range(0.0..=1.0f32) * h as f32,
    );
    let (s, c) = angle.sin_cos();
    let diag = ((w * w + h * h) as f32).sqrt();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let t = if radial {
            ((fx - centre.0).hypot(fy - centre.1) / (0.7 * diag)).min(1.0)
        } else {
            (((fx - cx) * c + (fy - cy) * s) / diag + 0.5).clamp(0.0, 1.0)
        };
        pixel(mix(a, b, t))
    })
}

fn blobs<R: Rng + ?Sized>(w: u32, h: u32, rng: &mut R) -> RgbImage {
    struct Blob {
        cx: f32,
        cy: f32,
        rx: f32,
        ry: f32,
        sin: f32,
        cos: f32,
        colour: Colour,
    }
    let side = w.max(h) as f32;
    let ground = random_colour(rng);
    let count = rng.random_range(6..30);
    let blobs: Vec<Blob> = (0..count)
        .map(|_| {
            let r = rng.random_range(0.03f32..0.2) * side;
            let (sin, cos) = rng.random_range(0.0..std::f32::consts::PI).sin_cos();
            Blob {
                cx: rng.random_range(0.0..=1.0f32) * w as f32,
                cy: rng.random_range(0.0..=1.0f32) * h as f32,
                rx: r,
                ry: r * rng.random_range(0.4f32..=1.0),
                sin,
                cos,
                colour: random_colour(rng),
            }
        })
        .collect();
    RgbImage::from_fn(w, h, |x, y| {
        let mut col = ground;
        for b in &blobs {
            let (dx, dy) = (x as f32 - b.cx, y as f32 - b.cy);
            let u = (dx * b.cos + dy * b.sin) / b.rx;
            let v = (-dx * b.sin + dy * b.cos) / b.ry;
            let d = (u * u + v * v).sqrt();
            // One-pixel soft edge.
            let edge = 1.0 / b.rx.max(1.0);
            let a = 1.0 - smoothstep(1.0 - edge, 1.0 + edge, d);
            if a > 0.0 {
                col = mix(col, b.colour, a);
            }
        }
        pixel(col)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn stats(img: &RgbImage) -> [f32; 4] {
        let n = (img.width() * img.height()) as f32;
        let mut mean = [0.0f32; 3];
        for p in img.pixels() {
            for c in 0..3 {
                mean[c] += f32::from(p[c]) / n;
            }
        }
        let var = img
            .pixels()
            .map(|p| {
                (0..3)
                    .map(|c| (f32::from(p[c]) - mean[c]).powi(2))
                    .sum::<f32>()
                    / 3.0
            })
            .sum::<f32>()
            / n;
        [mean[0], mean[1], mean[2], var.sqrt()]
    }

    #[test]
    fn every_kind_renders_varied_deterministic_images() {
        for kind in TextureKind::ALL {
            let a = kind.render(64, 48, &mut ChaCha8Rng::seed_from_u64(1));
            let b = kind.render(64, 48, &mut ChaCha8Rng::seed_from_u64(1));
            assert_eq!(a.dimensions(), (64, 48));
            assert_eq!(a, b, "{kind:?} not deterministic");
            // Over a few seeds at least one draw has visible structure.
            let max_std = (0..4)
                .map(|s| stats(&kind.render(64, 64, &mut ChaCha8Rng::seed_from_u64(s)))[3])
                .fold(0.0f32, f32::max);
            assert!(max_std > 5.0, "{kind:?} looks flat (std {max_std})");
        }
    }

    #[test]
    fn directory_errors_name_the_directory() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("empty");
        std::fs::create_dir_all(&dir).unwrap();
        let err = load_directory(&dir, 32).unwrap_err().to_string();
        assert!(err.contains(&dir.display().to_string()), "{err}");
        let missing = dir.join("absent");
        let err = load_directory(&missing, 32).unwrap_err().to_string();
        assert!(err.contains("absent"), "{err}");
    }
}
