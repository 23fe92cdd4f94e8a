//! 2D Perlin gradient noise and the rotated, thresholded anomaly mask built from it.
//!
//! [`perlin_2d`] is the noise of DRAEM's `rand_perlin_2d_np`: a lattice of `res_y x res_x`
//! cells, one random unit gradient per lattice point (uniform angle), the quintic fade
//! `6t^5 - 15t^4 + 10t^3`, bilinear blending of the four corner dot products and a final
//! factor of sqrt(2), so values lie in [-1, 1] and are exactly 0 on lattice points.
//! [`rotate_bilinear`] turns a field about its centre with zero fill outside, and
//! [`perlin_mask`] chains both into the binary mask of the synthetic-anomaly recipe.

use rand::Rng;

/// Largest lattice exponent: resolutions are `2^a x 2^b` with `a, b` in `0..=MAX_SCALE_EXP`.
pub const MAX_SCALE_EXP: u32 = 5;

/// Noise values above this become mask pixels.
pub const MASK_THRESHOLD: f32 = 0.5;

/// The quintic fade curve `6t^5 - 15t^4 + 10t^3`.
fn fade(t: f64) -> f64 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

/// Perlin noise on a `height x width` grid (row-major) with `res = (res_y, res_x)` lattice cells.
///
/// Gradients are drawn from `rng`, row-major over the `(res_y + 1) x (res_x + 1)` lattice
/// points. Each side must be a multiple of its resolution for cells of whole pixels; when it is
/// not, the noise is generated on the next multiple and the top-left `height x width` part is
/// returned. A zero resolution counts as 1.
pub fn perlin_2d<R: Rng + ?Sized>(
    height: usize,
    width: usize,
    res: (usize, usize),
    rng: &mut R,
) -> Vec<f32> {
    let (ry, rx) = (res.0.max(1), res.1.max(1));
    // Pixels per cell on each axis, rounded up so the padded grid covers the image.
    let dy = height.div_ceil(ry).max(1);
    let dx = width.div_ceil(rx).max(1);
    let gradients: Vec<(f64, f64)> = (0..(ry + 1) * (rx + 1))
        .map(|_| {
            let angle = std::f64::consts::TAU * rng.random::<f64>();
            (angle.cos(), angle.sin())
        })
        .collect();
    let grad = |gy: usize, gx: usize| gradients[gy * (rx + 1) + gx];
    let mut out = Vec::with_capacity(height * width);
    for i in 0..height {
        let (cy, u) = (i / dy, (i % dy) as f64 / dy as f64);
        let fu = fade(u);
        for j in 0..width {
            let (cx, v) = (j / dx, (j % dx) as f64 / dx as f64);
            let fv = fade(v);
            // (row offset, column offset) dotted with the gradient stored as (row, column).
            let dot = |g: (f64, f64), oy: f64, ox: f64| g.0 * oy + g.1 * ox;
            let n00 = dot(grad(cy, cx), u, v);
            let n10 = dot(grad(cy + 1, cx), u - 1.0, v);
            let n01 = dot(grad(cy, cx + 1), u, v - 1.0);
            let n11 = dot(grad(cy + 1, cx + 1), u - 1.0, v - 1.0);
            let a = n00 + fu * (n10 - n00);
            let b = n01 + fu * (n11 - n01);
            let value = std::f64::consts::SQRT_2 * (a + fv * (b - a));
            out.push(value.clamp(-1.0, 1.0) as f32);
        }
    }
    out
}

/// Rotates a `height x width` field (row-major) by `angle_deg` about its centre.
///
/// Each output pixel samples the input bilinearly at the inversely rotated position;
/// neighbours outside the field count as 0, so corners rotated in from outside are 0.
/// Positive angles turn the content counter-clockwise as displayed (y down).
pub fn rotate_bilinear(field: &[f32], height: usize, width: usize, angle_deg: f32) -> Vec<f32> {
    let theta = f64::from(angle_deg).to_radians();
    let (sin, cos) = theta.sin_cos();
    let cy = (height as f64 - 1.0) / 2.0;
    let cx = (width as f64 - 1.0) / 2.0;
    let at = |y: i64, x: i64| -> f64 {
        if y < 0 || x < 0 || y >= height as i64 || x >= width as i64 {
            0.0
        } else {
            f64::from(field[y as usize * width + x as usize])
        }
    };
    let mut out = Vec::with_capacity(height * width);
    for i in 0..height {
        let y = i as f64 - cy;
        for j in 0..width {
            let x = j as f64 - cx;
            // Inverse rotation: where in the source this output pixel comes from.
            let sx = cos * x - sin * y + cx;
            let sy = sin * x + cos * y + cy;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
            let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
            out.push((top * (1.0 - fy) + bottom * fy) as f32);
        }
    }
    out
}

/// The parameters one mask draw used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskDraw {
    /// Lattice cells along rows and columns, `(2^a, 2^b)`.
    pub res: (usize, usize),
    /// Rotation in degrees, uniform in [-90, 90].
    pub angle_deg: f32,
}

/// A binary anomaly mask (`height * width`, row-major, 0.0 or 1.0): Perlin noise with
/// resolution `(2^a, 2^b)`, `a, b` uniform in `{0..=5}`, rotated by a uniform angle in
/// [-90, 90] degrees and thresholded at 0.5.
pub fn perlin_mask<R: Rng + ?Sized>(
    height: usize,
    width: usize,
    rng: &mut R,
) -> (Vec<f32>, MaskDraw) {
    let a = rng.random_range(0..=MAX_SCALE_EXP);
    let b = rng.random_range(0..=MAX_SCALE_EXP);
    let res = (1usize << a, 1usize << b);
    let noise = perlin_2d(height, width, res, rng);
    let angle_deg = rng.random_range(-90.0f32..=90.0);
    let rotated = rotate_bilinear(&noise, height, width, angle_deg);
    let mask = rotated
        .into_iter()
        .map(|v| if v > MASK_THRESHOLD { 1.0 } else { 0.0 })
        .collect();
    (mask, MaskDraw { res, angle_deg })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn zero_on_lattice_points_and_bounded() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for &(h, w, res) in &[
            (64usize, 64usize, (4usize, 8usize)),
            (256, 256, (32, 1)),
            (96, 128, (2, 16)),
            (224, 224, (32, 32)),
        ] {
            let n = perlin_2d(h, w, res, &mut rng);
            assert_eq!(n.len(), h * w);
            let (dy, dx) = (h.div_ceil(res.0), w.div_ceil(res.1));
            for i in (0..h).step_by(dy) {
                for j in (0..w).step_by(dx) {
                    assert!(
                        n[i * w + j].abs() < 1e-6,
                        "lattice point ({i},{j}) = {}",
                        n[i * w + j]
                    );
                }
            }
            assert!(n.iter().all(|v| (-1.0..=1.0).contains(v)));
            // Not degenerate: the field actually varies.
            let max = n.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(max > 0.1, "max |noise| {max}");
        }
    }

    #[test]
    fn non_divisible_side_is_cropped_from_the_next_multiple() {
        // 100 is not a multiple of 32: cells are 4 px (padded grid 128), lattice still at 0.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = perlin_2d(100, 100, (32, 32), &mut rng);
        assert_eq!(n.len(), 100 * 100);
        for i in (0..100).step_by(4) {
            for j in (0..100).step_by(4) {
                assert!(n[i * 100 + j].abs() < 1e-6);
            }
        }
    }

    #[test]
    fn rotation_by_zero_is_identity() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for &(h, w) in &[(64usize, 64usize), (31, 47)] {
            let n = perlin_2d(h, w, (4, 4), &mut rng);
            assert_eq!(rotate_bilinear(&n, h, w, 0.0), n);
        }
    }

    #[test]
    fn rotation_by_90_moves_pixels_and_fills_zero() {
        // A single bright pixel right of centre ends up above centre (counter-clockwise, y down).
        let (h, w) = (5usize, 5usize);
        let mut f = vec![0.0f32; h * w];
        f[2 * w + 4] = 1.0;
        let r = rotate_bilinear(&f, h, w, 90.0);
        assert!((r[2] - 1.0).abs() < 1e-6, "{r:?}");
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // A constant non-square field rotated by 45 degrees has zeros in its corners.
        let c = vec![1.0f32; 20 * 40];
        let r = rotate_bilinear(&c, 20, 40, 45.0);
        assert_eq!(r[0], 0.0);
        assert!((r[10 * 40 + 20] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn mask_is_binary() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..20 {
            let (m, draw) = perlin_mask(64, 64, &mut rng);
            assert!(m.iter().all(|&v| v == 0.0 || v == 1.0));
            assert!((-90.0..=90.0).contains(&draw.angle_deg));
            assert!(draw.res.0.is_power_of_two() && draw.res.0 <= 32);
            assert!(draw.res.1.is_power_of_two() && draw.res.1 <= 32);
        }
    }
}
