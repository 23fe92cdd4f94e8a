//! The antialiased triangle (bilinear) resize and centre crop of an RGB8 frame, computing
//! only the pixels the crop keeps.
//!
//! It is the `image` crate's `resize(.., FilterType::Triangle)` followed by `crop_imm`, to
//! the bit: the same weights per output sample (computed in `f32` the same way), the same
//! order of additions, the vertical pass first and kept in `f32`, the horizontal pass rounded
//! half away from zero. What changes is the work: no generic four-channel pixel access, tap
//! loops of one fixed length, the vertical pass over whole rows (which the compiler
//! vectorises), and no row or column outside the crop. The GPU kernels
//! (`gpu/preprocess.cu`) repeat the same arithmetic.

use image::RgbImage;

use super::ResizeGeometry;

/// The source samples and weights of each output sample of one axis, all of one length:
/// a sample with fewer taps gets zero weights, in front (its first tap moved back) as far
/// as the axis allows and behind for the rest, so that every inner loop runs the same
/// number of times (a loop whose count changes from one pixel to the next costs a
/// mispredicted branch per pixel). The added terms are `+0.0`, added to sums of
/// non-negative terms, so the result keeps every bit.
struct Taps {
    /// Per output sample: its first source sample.
    first: Vec<usize>,
    /// Per output sample, `len` weights.
    weights: Vec<f32>,
    len: usize,
}

impl Taps {
    /// The taps of output samples `first .. first + count` when `size` samples become
    /// `new_size`.
    fn new(size: u32, new_size: u32, first: u32, count: u32) -> Self {
        let ratio = size as f32 / new_size as f32;
        let sratio = if ratio < 1.0 { 1.0 } else { ratio };
        let support = sratio;
        let mut spans = Vec::with_capacity(count as usize);
        for out in first..first + count {
            let input = (out as f32 + 0.5) * ratio;
            let left = ((input - support).floor() as i64).clamp(0, i64::from(size) - 1);
            let right = ((input + support).ceil() as i64).clamp(left + 1, i64::from(size));
            let centre = input - 0.5;
            let mut w: Vec<f32> = (left..right)
                .map(|i| triangle((i as f32 - centre) / sratio))
                .collect();
            let sum = w.iter().fold(0.0f32, |s, &v| s + v);
            for v in &mut w {
                *v /= sum;
            }
            spans.push((left as usize, w));
        }
        let len = spans.iter().map(|(_, w)| w.len()).max().unwrap_or(1);
        let mut taps = Self {
            first: Vec::with_capacity(spans.len()),
            weights: Vec::with_capacity(spans.len() * len),
            len,
        };
        for (left, w) in spans {
            // `len <= size`, so the span can always be moved back to fit.
            let pad = len - w.len();
            let first = left.min(size as usize - len);
            let front = left - first;
            taps.first.push(first);
            taps.weights.extend(std::iter::repeat_n(0.0, front));
            taps.weights.extend_from_slice(&w);
            taps.weights.extend(std::iter::repeat_n(0.0, pad - front));
        }
        taps
    }

    /// Output sample `k`'s first source sample and its `len` weights.
    fn get(&self, k: usize) -> (usize, &[f32]) {
        (
            self.first[k],
            &self.weights[k * self.len..(k + 1) * self.len],
        )
    }
}

/// `v` clamped to `0..=255` and rounded half away from zero, as `f32::round` would, without
/// its library call where the target has no rounding instruction.
fn to_u8(v: f32) -> u8 {
    let v = v.clamp(0.0, 255.0);
    let whole = v as u8;
    // Exact: `v - whole` is the fraction of a non-negative float below 256.
    whole + u8::from(v - f32::from(whole) >= 0.5)
}

fn triangle(x: f32) -> f32 {
    if x.abs() < 1.0 {
        1.0 - x.abs()
    } else {
        0.0
    }
}

/// The vertical pass: `tmp`'s row `r` is the weighted sum of the source rows of `rows`'s
/// output sample `r`, every element, the terms added in tap order.
#[inline(always)]
fn vertical(tmp: &mut [f32], rows: &Taps, src: &[u8], row_len: usize) {
    for (r, acc) in tmp.chunks_exact_mut(row_len).enumerate() {
        let (first, weights) = rows.get(r);
        for (k, &w) in weights.iter().enumerate() {
            let at = (first + k) * row_len;
            for (a, &v) in acc.iter_mut().zip(&src[at..at + row_len]) {
                *a += f32::from(v) * w;
            }
        }
    }
}

/// [`vertical`] compiled for AVX2: eight lanes where the baseline x86-64 target has four.
/// Multiplies and adds stay separate (Rust does not contract them), so the values are the
/// same to the bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn vertical_avx2(tmp: &mut [f32], rows: &Taps, src: &[u8], row_len: usize) {
    vertical(tmp, rows, src, row_len);
}

/// `img` resized to `g.width x g.height` and cropped to `crop x crop` at `(g.left, g.top)`.
pub(super) fn resize_crop(img: &RgbImage, g: ResizeGeometry, crop: u32) -> RgbImage {
    let (width, height) = img.dimensions();
    let (crop_w, crop_h) = (crop.min(g.width) as usize, crop.min(g.height) as usize);
    if width == 0 || height == 0 {
        // Nothing to sample: black, as the `image` crate resizes an empty image.
        return RgbImage::new(crop_w as u32, crop_h as u32);
    }
    let rows = Taps::new(height, g.height, g.top, crop_h as u32);
    let cols = Taps::new(width, g.width, g.left, crop_w as u32);
    let row_len = 3 * width as usize;
    let src = img.as_raw();

    // Vertical pass over whole source rows: `tmp[r]` is output row `top + r`, every column.
    let mut tmp = vec![0f32; crop_h * row_len];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked on the line above.
        unsafe { vertical_avx2(&mut tmp, &rows, src, row_len) };
    } else {
        vertical(&mut tmp, &rows, src, row_len);
    }
    #[cfg(not(target_arch = "x86_64"))]
    vertical(&mut tmp, &rows, src, row_len);

    // Horizontal pass, only the cropped columns, rounded to u8.
    let mut out = Vec::with_capacity(3 * crop_w * crop_h);
    for row in tmp.chunks_exact(row_len) {
        for c in 0..crop_w {
            let (first, weights) = cols.get(c);
            let mut t = [0f32; 3];
            for (px, &w) in row[3 * first..].chunks_exact(3).zip(weights) {
                t[0] += px[0] * w;
                t[1] += px[1] * w;
                t[2] += px[2] * w;
            }
            out.extend(t.map(to_u8));
        }
    }
    RgbImage::from_raw(crop_w as u32, crop_h as u32, out).expect("the crop's size")
}

#[cfg(test)]
mod tests {
    use image::imageops::FilterType;

    use super::*;
    use crate::preprocess::{Normalization, Preprocess};

    /// The `image` crate's resize and crop, the reference.
    fn reference(img: &RgbImage, g: ResizeGeometry, crop: u32) -> RgbImage {
        let resized = image::imageops::resize(img, g.width, g.height, FilterType::Triangle);
        image::imageops::crop_imm(&resized, g.left, g.top, crop, crop).to_image()
    }

    /// A frame with edges, gradients and saturated pixels, so that a wrong weight, order of
    /// additions or rounding shows.
    fn frame(w: u32, h: u32, seed: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed) >> 7;
            let edge = if (x / 7 + y / 5) % 2 == 0 { 255 } else { 0 };
            image::Rgb([
                (n % 256) as u8,
                edge,
                ((x * 255) / w.max(1)) as u8 ^ (y as u8),
            ])
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_vertical_pass_equals_the_baseline_one() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 here: the baseline pass is the one resize_crop runs");
            return;
        }
        let img = frame(637, 479, 3);
        let rows = Taps::new(479, 224, 0, 224);
        let row_len = 3 * 637;
        let (mut a, mut b) = (vec![0f32; 224 * row_len], vec![0f32; 224 * row_len]);
        vertical(&mut a, &rows, img.as_raw(), row_len);
        // SAFETY: the CPU has AVX2, checked above.
        unsafe { vertical_avx2(&mut b, &rows, img.as_raw(), row_len) };
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn rounding_to_u8_is_f32_round_on_the_clamped_value() {
        let near_halves = (0..=255u8).flat_map(|i| {
            let half = f32::from(i) + 0.5;
            [f32::from(i), half, half.next_down(), half.next_up()]
        });
        for v in near_halves.chain([-3.0, -0.4, 0.499_999_97, 254.9, 255.4, 255.6, 1e9]) {
            assert_eq!(to_u8(v), v.clamp(0.0, 255.0).round() as u8, "{v}");
        }
    }

    #[test]
    fn equals_the_image_crates_resize_and_crop_to_the_bit() {
        let sizes = [
            (640, 480),
            (1280, 960),
            (301, 227),
            (224, 224),
            (225, 224),
            (100, 80),
            (33, 500),
            (1, 1),
            (1, 300),
            (7, 3),
        ];
        let mut cases = 0;
        for (n, &(w, h)) in sizes.iter().enumerate() {
            let img = frame(w, h, n as u32);
            for p in [
                Preprocess::full_frame(224, Normalization::Imagenet),
                Preprocess::imagenet_eval(224, Normalization::Imagenet),
                Preprocess::full_frame(64, Normalization::Tf),
                Preprocess::imagenet_eval(32, Normalization::Tf),
            ] {
                let g = p.geometry(w, h);
                let got = resize_crop(&img, g, p.crop);
                let want = reference(&img, g, p.crop);
                assert_eq!(got.dimensions(), want.dimensions(), "{w}x{h} {p:?}");
                let differ = got
                    .as_raw()
                    .iter()
                    .zip(want.as_raw())
                    .filter(|(a, b)| a != b)
                    .count();
                assert_eq!(differ, 0, "{w}x{h} {p:?}: {differ} values differ");
                cases += 1;
            }
        }
        assert_eq!(cases, 40);
        // An empty frame (full-frame mode: the crop mode's geometry needs a side).
        for (w, h) in [(0, 5), (5, 0)] {
            let p = Preprocess::full_frame(8, Normalization::Tf);
            let g = p.geometry(w, h);
            assert_eq!(
                resize_crop(&RgbImage::new(w, h), g, 8),
                reference(&RgbImage::new(w, h), g, 8)
            );
        }
    }
}
