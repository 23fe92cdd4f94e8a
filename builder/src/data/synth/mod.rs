//! Synthetic inspection datasets in the MVTec-AD layout, for tests and the demo.
//!
//! Each [`SynthProduct`] is a procedural material or part (grey woven fabric, a metal washer on a
//! dark background, orange wood, a green PCB, ...) chosen to look clearly different to an
//! ImageNet CNN, rendered with small per-sample variation: a shift and rotation of a few
//! pixels, lighting gain, slope and tint, Gaussian sensor noise, and (for materials) a
//! different patch of their irregular grain. Defective samples carry one [`DefectKind`]
//! covering 0.2-5 % of the image; its ground-truth mask is exactly the painted pixels.
//!
//! Layout written by [`generate`]:
//!
//! ```text
//! OUT/<product>/train/good/000.png
//! OUT/<product>/test/good/000.png
//! OUT/<product>/test/<defect>/000.png
//! OUT/<product>/ground_truth/<defect>/000_mask.png   (8-bit grey, 0 or 255)
//! ```
//!
//! Every image depends only on the seed, the product, the split and its index, so runs are
//! reproducible and images are rendered in parallel.
//!
//! ```
//! use adapts_builder::data::synth::{render_sample, DefectKind, SynthProduct};
//! let s = render_sample(SynthProduct::Washer, 64, 7, Some(DefectKind::Scratch));
//! assert_eq!(s.image.dimensions(), (64, 64));
//! assert!(s.mask.is_some());
//! ```

mod defects;
mod products;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, GrayImage, ImageEncoder, Luma, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use adapts_runtime::fsutil;

use super::{mvtec, GOOD};
use crate::error::{Error, PathContext, Result};

/// A synthetic product; a dataset with `N` products uses the first `N` of [`SynthProduct::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SynthProduct {
    /// Grey plain-weave fabric.
    Fabric,
    /// Round brushed-metal washer on a dark background.
    Washer,
    /// Orange wood grain.
    Wood,
    /// Green PCB with traces and gold pads.
    Pcb,
    /// Beige tile with grey dots and grout lines.
    Tile,
    /// Silver Phillips screw head on a blue plate.
    Screw,
    /// Brown creased leather.
    Leather,
    /// White marble with grey veins.
    Marble,
    /// Red cut-pile carpet.
    Carpet,
    /// Perforated steel sheet with hexagonal holes.
    Mesh,
}

impl SynthProduct {
    /// Every product, in dataset order.
    pub const ALL: [SynthProduct; 10] = [
        SynthProduct::Fabric,
        SynthProduct::Washer,
        SynthProduct::Wood,
        SynthProduct::Pcb,
        SynthProduct::Tile,
        SynthProduct::Screw,
        SynthProduct::Leather,
        SynthProduct::Marble,
        SynthProduct::Carpet,
        SynthProduct::Mesh,
    ];

    /// Directory name of the product.
    pub fn name(self) -> &'static str {
        match self {
            SynthProduct::Fabric => "fabric",
            SynthProduct::Washer => "washer",
            SynthProduct::Wood => "wood",
            SynthProduct::Pcb => "pcb",
            SynthProduct::Tile => "tile",
            SynthProduct::Screw => "screw",
            SynthProduct::Leather => "leather",
            SynthProduct::Marble => "marble",
            SynthProduct::Carpet => "carpet",
            SynthProduct::Mesh => "mesh",
        }
    }
}

impl fmt::Display for SynthProduct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kind of defect; test defect images cycle through [`DefectKind::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefectKind {
    /// Thin curved line, bright on dark products and dark on bright ones.
    Scratch,
    /// Translucent colour blob with a darker rim.
    Stain,
    /// Dark jagged line with branches.
    Crack,
    /// Missing chunk: a dark cavity.
    Hole,
    /// Foreign material: a patch of unrelated texture.
    Contamination,
}

impl DefectKind {
    /// Every defect kind, in the order test images cycle through them.
    pub const ALL: [DefectKind; 5] = [
        DefectKind::Scratch,
        DefectKind::Stain,
        DefectKind::Crack,
        DefectKind::Hole,
        DefectKind::Contamination,
    ];

    /// Directory name of the defect kind.
    pub fn name(self) -> &'static str {
        match self {
            DefectKind::Scratch => "scratch",
            DefectKind::Stain => "stain",
            DefectKind::Crack => "crack",
            DefectKind::Hole => "hole",
            DefectKind::Contamination => "contamination",
        }
    }
}

impl fmt::Display for DefectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Sensor noise standard deviation, in 0..255 levels.
const SENSOR_NOISE: f32 = 2.0;

/// One rendered image.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The photo, `size x size` RGB.
    pub image: RgbImage,
    /// For defective samples, the ground truth: 255 on every painted pixel, 0 elsewhere.
    pub mask: Option<GrayImage>,
}

/// Renders one `size x size` sample of `product`, with `defect` painted on when given.
///
/// `sample_seed` fixes the pose, lighting, sensor noise and the defect; the same seed with and
/// without a defect gives the same photo outside the mask.
pub fn render_sample(
    product: SynthProduct,
    size: u32,
    sample_seed: u64,
    defect: Option<DefectKind>,
) -> Sample {
    let stream = |s: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(sample_seed);
        rng.set_stream(s);
        rng
    };
    let pose = products::Pose::draw(&mut stream(0));
    let mut rendered = products::render(product, size, &pose);
    let mask = defect.map(|kind| defects::apply(kind, &mut rendered, size, &mut stream(2)));
    let mut noise = stream(1);
    let mut image = RgbImage::new(size, size);
    for (px, c) in image.pixels_mut().zip(&rendered.rgb) {
        let (n0, n1) = gaussian_pair(&mut noise);
        let (n2, _) = gaussian_pair(&mut noise);
        *px = Rgb([
            quantise(c[0] + SENSOR_NOISE * n0),
            quantise(c[1] + SENSOR_NOISE * n1),
            quantise(c[2] + SENSOR_NOISE * n2),
        ]);
    }
    let mask = mask.map(|m| {
        GrayImage::from_fn(size, size, |x, y| {
            Luma([if m[(y * size + x) as usize] { 255 } else { 0 }])
        })
    });
    Sample { image, mask }
}

fn quantise(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Two independent standard normal values (Box-Muller).
fn gaussian_pair<R: Rng + ?Sized>(rng: &mut R) -> (f32, f32) {
    let u1 = 1.0 - rng.random::<f32>(); // (0, 1]
    let u2 = rng.random::<f32>();
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (std::f32::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// Dataset root.
    pub out: PathBuf,
    /// Number of products (the first `products` of [`SynthProduct::ALL`]).
    pub products: usize,
    /// Defect-free training images per product.
    pub train: usize,
    /// Defect-free test images per product.
    pub test_good: usize,
    /// Defective test images per product, spread evenly over [`DefectKind::ALL`].
    pub test_defect: usize,
    /// Image side in pixels.
    pub size: u32,
    /// Seed of the whole dataset.
    pub seed: u64,
}

impl SynthConfig {
    /// Smallest image side: defects need a few pixels of room.
    pub const MIN_SIZE: u32 = 32;
    /// Largest image side.
    pub const MAX_SIZE: u32 = 4096;

    /// Checks the counts and sizes.
    pub fn validate(&self) -> Result<()> {
        if self.products == 0 || self.products > SynthProduct::ALL.len() {
            return Err(Error::Config(format!(
                "--products {}: choose 1 to {} ({})",
                self.products,
                SynthProduct::ALL.len(),
                SynthProduct::ALL.map(SynthProduct::name).join(", ")
            )));
        }
        if !(Self::MIN_SIZE..=Self::MAX_SIZE).contains(&self.size) {
            return Err(Error::Config(format!(
                "--size {}: choose {} to {} pixels",
                self.size,
                Self::MIN_SIZE,
                Self::MAX_SIZE
            )));
        }
        if self.train + self.test_good + self.test_defect == 0 {
            return Err(Error::Config("no images requested".into()));
        }
        Ok(())
    }

    /// Number of images (not counting masks) the dataset will hold.
    pub fn image_count(&self) -> u64 {
        (self.products * (self.train + self.test_good + self.test_defect)) as u64
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SynthSummary {
    /// Dataset root.
    pub out: PathBuf,
    /// Image side in pixels.
    pub size: u32,
    /// Dataset seed.
    pub seed: u64,
    /// Images written (masks not included).
    pub images: usize,
    /// Ground-truth masks written.
    pub masks: usize,
    /// Per-product details.
    pub products: Vec<ProductSummary>,
}

/// One product's part of a [`SynthSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductSummary {
    /// SynthProduct name, also its directory name.
    pub name: String,
    /// `OUT/<name>`.
    pub dir: PathBuf,
    /// Images in `train/good`.
    pub train: usize,
    /// Images in `test/good`.
    pub test_good: usize,
    /// Images in `test/<defect>` (and masks in `ground_truth/<defect>`), by defect name.
    pub test_defect: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Copy)]
enum Split {
    Train,
    TestGood,
    TestDefect(DefectKind),
}

impl Split {
    fn code(self) -> u64 {
        match self {
            Split::Train => 0,
            Split::TestGood => 1,
            Split::TestDefect(k) => 2 + k as u64,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Job {
    product_index: usize,
    split: Split,
    index: usize,
}

fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed of one image: a hash of the dataset seed, product, split and index.
fn sample_seed(seed: u64, job: &Job) -> u64 {
    [job.product_index as u64, job.split.code(), job.index as u64]
        .iter()
        .fold(mix64(seed), |h, &v| mix64(h ^ v))
}

/// Writes the dataset described by `config`, calling `on_image` after each image (for a
/// progress bar; it is called from worker threads). Existing files of the same names are
/// replaced atomically; other files in `OUT` are left alone.
pub fn generate(config: &SynthConfig, on_image: &(dyn Fn() + Sync)) -> Result<SynthSummary> {
    config.validate()?;
    let products = &SynthProduct::ALL[..config.products];
    let mut jobs = Vec::new();
    let mut summaries = Vec::new();
    for (p, &product) in products.iter().enumerate() {
        let dir = config.out.join(product.name());
        if dir.exists() {
            log::warn!(
                "{} exists: its files are replaced, files from other runs stay",
                dir.display()
            );
        }
        let mut defect_counts = BTreeMap::new();
        jobs.extend((0..config.train).map(|index| Job {
            product_index: p,
            split: Split::Train,
            index,
        }));
        jobs.extend((0..config.test_good).map(|index| Job {
            product_index: p,
            split: Split::TestGood,
            index,
        }));
        for i in 0..config.test_defect {
            let kind = DefectKind::ALL[i % DefectKind::ALL.len()];
            *defect_counts.entry(kind.name().to_string()).or_insert(0) += 1;
            jobs.push(Job {
                product_index: p,
                split: Split::TestDefect(kind),
                index: i / DefectKind::ALL.len(),
            });
        }
        summaries.push(ProductSummary {
            name: product.name().to_string(),
            dir,
            train: config.train,
            test_good: config.test_good,
            test_defect: defect_counts,
        });
    }
    jobs.par_iter().try_for_each(|job| {
        write_job(config, products[job.product_index], job)?;
        on_image();
        Ok::<_, Error>(())
    })?;
    Ok(SynthSummary {
        out: config.out.clone(),
        size: config.size,
        seed: config.seed,
        images: jobs.len(),
        masks: products.len() * config.test_defect,
        products: summaries,
    })
}

fn write_job(config: &SynthConfig, product: SynthProduct, job: &Job) -> Result<()> {
    let dir = config.out.join(product.name());
    let stem = format!("{:03}", job.index);
    let (image_dir, defect) = match job.split {
        Split::Train => (mvtec::train_dir(&dir), None),
        Split::TestGood => (mvtec::test_dir(&dir, GOOD), None),
        Split::TestDefect(kind) => (mvtec::test_dir(&dir, kind.name()), Some(kind)),
    };
    let sample = render_sample(product, config.size, sample_seed(config.seed, job), defect);
    let path = image_dir.join(format!("{stem}.png"));
    let bytes = encode_png(
        sample.image.as_raw(),
        sample.image.dimensions(),
        ExtendedColorType::Rgb8,
        &path,
    )?;
    fsutil::write_atomic(&path, &bytes)?;
    if let (Some(kind), Some(mask)) = (defect, &sample.mask) {
        let path = mvtec::mask_path(&dir, kind.name(), &stem);
        let bytes = encode_png(
            mask.as_raw(),
            mask.dimensions(),
            ExtendedColorType::L8,
            &path,
        )?;
        fsutil::write_atomic(&path, &bytes)?;
    }
    Ok(())
}

fn encode_png(
    raw: &[u8],
    (width, height): (u32, u32),
    colour: ExtendedColorType,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(raw, width, height, colour)
        .with_path(path)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(out: &Path) -> SynthConfig {
        SynthConfig {
            out: out.to_path_buf(),
            products: 2,
            train: 3,
            test_good: 2,
            test_defect: 6,
            size: 64,
            seed: 5,
        }
    }

    fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(root).unwrap().to_path_buf();
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        out
    }

    #[test]
    fn layout_counts_and_determinism() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let count = std::sync::atomic::AtomicUsize::new(0);
        let summary = generate(&config(a.path()), &|| {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(count.into_inner(), 22);
        assert_eq!(summary.images, 22);
        assert_eq!(summary.masks, 12);
        assert_eq!(summary.products[0].name, "fabric");
        assert_eq!(summary.products[1].name, "washer");
        let fa = files(a.path());
        // 2 products x (3 + 2 + 6 images + 6 masks).
        assert_eq!(fa.len(), 34, "{:?}", fa.keys().collect::<Vec<_>>());
        for name in [
            "fabric/train/good/000.png",
            "fabric/train/good/002.png",
            "washer/test/good/001.png",
            "washer/test/scratch/001.png",
            "washer/ground_truth/scratch/001_mask.png",
            "fabric/test/contamination/000.png",
            "fabric/ground_truth/contamination/000_mask.png",
        ] {
            assert!(fa.contains_key(Path::new(name)), "missing {name}");
        }
        assert!(!fa.contains_key(Path::new("fabric/test/contamination/001.png")));
        for (path, bytes) in &fa {
            let img = image::load_from_memory(bytes).unwrap();
            assert_eq!((img.width(), img.height()), (64, 64));
            let is_mask = path.to_string_lossy().ends_with("_mask.png");
            assert_eq!(
                img.color(),
                if is_mask {
                    image::ColorType::L8
                } else {
                    image::ColorType::Rgb8
                }
            );
        }
        generate(&config(b.path()), &|| {}).unwrap();
        assert_eq!(fa, files(b.path()), "same seed, different bytes");
        let c = tempfile::tempdir().unwrap();
        generate(
            &SynthConfig {
                seed: 6,
                ..config(c.path())
            },
            &|| {},
        )
        .unwrap();
        let fc = files(c.path());
        let same = fa.iter().filter(|(k, v)| fc.get(*k) == Some(v)).count();
        assert_eq!(same, 0, "a different seed repeats images");
    }

    #[test]
    fn masks_cover_exactly_the_painted_pixels() {
        let mut coverages = Vec::new();
        for product in SynthProduct::ALL {
            for (k, kind) in DefectKind::ALL.into_iter().enumerate() {
                let seed = 100 + k as u64;
                let clean = render_sample(product, 64, seed, None);
                let bad = render_sample(product, 64, seed, Some(kind));
                assert!(clean.mask.is_none());
                let mask = bad.mask.expect("defect mask");
                let (mut inside, mut changed) = (0usize, 0usize);
                for ((a, b), m) in clean
                    .image
                    .pixels()
                    .zip(bad.image.pixels())
                    .zip(mask.pixels())
                {
                    match m[0] {
                        255 => {
                            inside += 1;
                            changed += usize::from(a != b);
                        }
                        0 => assert_eq!(a, b, "{product} {kind}: changed pixel outside the mask"),
                        v => panic!("mask value {v}"),
                    }
                }
                let coverage = inside as f32 / (64.0 * 64.0);
                coverages.push(coverage);
                assert!(
                    (0.001..=0.1).contains(&coverage),
                    "{product} {kind}: coverage {coverage}"
                );
                assert!(
                    changed as f32 >= 0.8 * inside as f32,
                    "{product} {kind}: only {changed} of {inside} masked pixels changed"
                );
            }
        }
        let mean = coverages.iter().sum::<f32>() / coverages.len() as f32;
        eprintln!("mean defect coverage at 64 px: {:.2} %", 100.0 * mean);
    }

    /// Mean RGB, contrast and edge energy of an image: a cheap stand-in for CNN features.
    fn features(img: &RgbImage) -> [f32; 6] {
        let n = (img.width() * img.height()) as f32;
        let mut mean = [0.0f32; 3];
        for p in img.pixels() {
            for c in 0..3 {
                mean[c] += f32::from(p[c]) / n;
            }
        }
        let luma = |p: &Rgb<u8>| (u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) as f32 / 3.0;
        let m = img.pixels().map(luma).sum::<f32>() / n;
        let std = (img.pixels().map(|p| (luma(p) - m).powi(2)).sum::<f32>() / n).sqrt();
        let (mut gx, mut gy) = (0.0f32, 0.0f32);
        for y in 0..img.height() - 1 {
            for x in 0..img.width() - 1 {
                let p = luma(img.get_pixel(x, y));
                gx += (luma(img.get_pixel(x + 1, y)) - p).abs() / n;
                gy += (luma(img.get_pixel(x, y + 1)) - p).abs() / n;
            }
        }
        [mean[0], mean[1], mean[2], std, 2.0 * gx, 2.0 * gy]
    }

    #[test]
    fn products_are_distinguishable() {
        let per = 6;
        let feats: Vec<Vec<[f32; 6]>> = SynthProduct::ALL
            .iter()
            .map(|&p| {
                (0..per)
                    .map(|i| features(&render_sample(p, 64, 1000 + i, None).image))
                    .collect()
            })
            .collect();
        let dist = |a: &[f32; 6], b: &[f32; 6]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        let centroids: Vec<[f32; 6]> = feats
            .iter()
            .map(|fs| {
                let mut c = [0.0f32; 6];
                for f in fs {
                    for k in 0..6 {
                        c[k] += f[k] / fs.len() as f32;
                    }
                }
                c
            })
            .collect();
        let within = feats
            .iter()
            .zip(&centroids)
            .flat_map(|(fs, c)| fs.iter().map(move |f| dist(f, c)))
            .fold(0.0f32, f32::max);
        let mut between = f32::INFINITY;
        for i in 0..centroids.len() {
            for j in i + 1..centroids.len() {
                between = between.min(dist(&centroids[i], &centroids[j]));
            }
        }
        eprintln!("largest within-product spread {within:.1}, smallest between-product distance {between:.1}");
        assert!(between > 1.5 * within, "within {within}, between {between}");
        // Every sample is nearest to its own product's centroid.
        for (p, fs) in feats.iter().enumerate() {
            for f in fs {
                let nearest = (0..centroids.len())
                    .min_by(|&a, &b| dist(f, &centroids[a]).total_cmp(&dist(f, &centroids[b])))
                    .unwrap();
                assert_eq!(
                    nearest,
                    p,
                    "a {} sample looks like {}",
                    SynthProduct::ALL[p],
                    SynthProduct::ALL[nearest]
                );
            }
        }
        // Samples of one product are not all the same image.
        for (p, fs) in SynthProduct::ALL.iter().zip(&feats) {
            let a = render_sample(*p, 64, 1, None).image;
            let b = render_sample(*p, 64, 2, None).image;
            assert_ne!(a, b, "{p}");
            assert!(fs.iter().any(|f| dist(f, &fs[0]) > 0.0));
        }
    }

    #[test]
    fn tiny_sizes_do_not_panic() {
        for size in [0, 1, 2, 5] {
            for kind in DefectKind::ALL {
                let s = render_sample(SynthProduct::Screw, size, 3, Some(kind));
                assert_eq!(s.image.dimensions(), (size, size));
            }
        }
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        for bad in [
            SynthConfig {
                products: 0,
                ..config(&out)
            },
            SynthConfig {
                products: 11,
                ..config(&out)
            },
            SynthConfig {
                size: 16,
                ..config(&out)
            },
            SynthConfig {
                train: 0,
                test_good: 0,
                test_defect: 0,
                ..config(&out)
            },
        ] {
            assert!(generate(&bad, &|| {}).is_err());
        }
        assert!(!out.exists());
    }
}
