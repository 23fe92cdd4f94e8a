//! Defects painted onto a rendered sample: each kind builds a coverage layer (`alpha`, 0..1)
//! and a target colour per pixel, confined to the product's object and sized to cover
//! 0.2-5 % of the image. The ground-truth mask is exactly the set of pixels the layer touches.

use std::f32::consts::{PI, TAU};

use rand::Rng;

use super::products::{gnoise, mix, smoothstep, Colour, Rendered};
use super::DefectKind;
use crate::data::anomaly::texture::procedural_texture;

/// Smallest and largest fraction of the image a defect may cover.
pub(super) const COVERAGE: (f32, f32) = (0.002, 0.05);

/// Layer values below this are dropped, so every masked pixel is visibly changed.
const MIN_ALPHA: f32 = 0.08;

/// Draws attempted before the last one is kept whatever its size.
const TRIES: usize = 40;

/// Paints one defect of `kind` onto `rendered` and returns its mask (`size * size`).
pub(super) fn apply<R: Rng + ?Sized>(
    kind: DefectKind,
    rendered: &mut Rendered,
    size: u32,
    rng: &mut R,
) -> Vec<bool> {
    let n = size as usize;
    if n == 0 {
        return Vec::new();
    }
    let mean = object_mean(rendered);
    let mut layer = Layer::new(n);
    for attempt in 0..TRIES {
        layer.clear();
        let centre = centre(rendered, n, rng);
        match kind {
            DefectKind::Scratch => scratch(&mut layer, rendered, centre, mean, rng),
            DefectKind::Stain => stain(&mut layer, centre, mean, rng),
            DefectKind::Crack => crack(&mut layer, rendered, centre, rng),
            DefectKind::Hole => hole(&mut layer, centre, rng),
            DefectKind::Contamination => contamination(&mut layer, centre, rng),
        }
        for (a, obj) in layer.alpha.iter_mut().zip(&rendered.object) {
            *a *= obj;
            if *a < MIN_ALPHA {
                *a = 0.0;
            }
        }
        let covered = layer.alpha.iter().filter(|&&a| a > 0.0).count() as f32 / (n * n) as f32;
        if (COVERAGE.0..=COVERAGE.1).contains(&covered) || attempt + 1 == TRIES {
            break;
        }
    }
    let mut mask = vec![false; n * n];
    for (i, (&a, &c)) in layer.alpha.iter().zip(&layer.colour).enumerate() {
        if a > 0.0 {
            rendered.rgb[i] = mix(rendered.rgb[i], c, a);
            mask[i] = true;
        }
    }
    mask
}

/// Coverage and target colour per pixel.
struct Layer {
    n: usize,
    alpha: Vec<f32>,
    colour: Vec<Colour>,
}

impl Layer {
    fn new(n: usize) -> Self {
        Self {
            n,
            alpha: vec![0.0; n * n],
            colour: vec![[0.0; 3]; n * n],
        }
    }

    fn clear(&mut self) {
        self.alpha.fill(0.0);
    }

    /// Pixel indices (x, y, index) in the box around `(cx, cy)` with half-size `r`.
    fn around(&self, cx: f32, cy: f32, r: f32) -> impl Iterator<Item = (f32, f32, usize)> {
        let n = self.n;
        let x0 = (cx - r).floor().max(0.0) as usize;
        let y0 = (cy - r).floor().max(0.0) as usize;
        let x1 = ((cx + r).ceil().max(0.0) as usize).min(n);
        let y1 = ((cy + r).ceil().max(0.0) as usize).min(n);
        (y0..y1)
            .flat_map(move |y| (x0..x1).map(move |x| (x as f32 + 0.5, y as f32 + 0.5, y * n + x)))
    }

    /// Adds a polyline of varying half-width (one per point), anti-aliased.
    fn stroke(&mut self, points: &[(f32, f32)], half_width: &[f32]) {
        for k in 1..points.len() {
            let (a, b) = (points[k - 1], points[k]);
            let (ha, hb) = (half_width[k - 1], half_width[k]);
            let reach = ha.max(hb) + 1.5;
            let (mx, my) = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
            let half_len = (b.0 - a.0).hypot(b.1 - a.1) / 2.0;
            let (ex, ey) = (b.0 - a.0, b.1 - a.1);
            let len2 = (ex * ex + ey * ey).max(1e-9);
            let cells: Vec<_> = self.around(mx, my, half_len + reach).collect();
            for (x, y, i) in cells {
                let s = (((x - a.0) * ex + (y - a.1) * ey) / len2).clamp(0.0, 1.0);
                let d = (x - a.0 - s * ex).hypot(y - a.1 - s * ey);
                let hw = ha + (hb - ha) * s;
                let cov = (hw + 0.5 - d).clamp(0.0, 1.0);
                if cov > self.alpha[i] {
                    self.alpha[i] = cov;
                }
            }
        }
    }
}

/// An irregular closed outline: radius modulated by a few random harmonics.
struct Outline {
    radius: f32,
    harmonics: Vec<(f32, f32, f32)>,
}

impl Outline {
    fn draw<R: Rng + ?Sized>(radius: f32, wobble: f32, rng: &mut R) -> Self {
        let harmonics = (2..=5)
            .map(|k| {
                (
                    k as f32,
                    rng.random_range(-wobble..=wobble) / (k as f32 - 1.0).sqrt(),
                    rng.random_range(0.0..TAU),
                )
            })
            .collect();
        Self { radius, harmonics }
    }

    fn at(&self, theta: f32) -> f32 {
        let m: f32 = self
            .harmonics
            .iter()
            .map(|&(k, a, phase)| a * (k * theta + phase).sin())
            .sum();
        self.radius * (1.0 + m).max(0.3)
    }

    fn extent(&self) -> f32 {
        let wobble: f32 = self.harmonics.iter().map(|h| h.1.abs()).sum();
        self.radius * (1.0 + wobble) + 2.0
    }
}

/// Mean colour of the object (what a defect is drawn on), weighted by object coverage.
fn object_mean(rendered: &Rendered) -> Colour {
    let mut m = [0.0; 3];
    let mut weight = 0.0;
    for (p, &w) in rendered.rgb.iter().zip(&rendered.object) {
        for c in 0..3 {
            m[c] += p[c] * w;
        }
        weight += w;
    }
    m.map(|v| v / weight.max(1e-6))
}

fn luma(c: Colour) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn side_scale(n: usize) -> f32 {
    n as f32 / 256.0
}

/// A defect centre on the object, away from the image border (pixel coordinates).
fn centre<R: Rng + ?Sized>(rendered: &Rendered, n: usize, rng: &mut R) -> (f32, f32) {
    let (lo, hi) = (0.12 * n as f32, 0.88 * n as f32);
    let mut p = (n as f32 / 2.0, n as f32 / 2.0);
    for _ in 0..500 {
        p = (rng.random_range(lo..hi), rng.random_range(lo..hi));
        let i = (p.1 as usize).min(n - 1) * n + (p.0 as usize).min(n - 1);
        if rendered.object[i] > 0.99 {
            break;
        }
    }
    p
}

/// Thin curved scratch, bright on dark products and dark on bright ones.
fn scratch<R: Rng + ?Sized>(
    layer: &mut Layer,
    rendered: &Rendered,
    c: (f32, f32),
    mean: Colour,
    rng: &mut R,
) {
    let n = layer.n as f32;
    let len = rng.random_range(0.2..0.45) * n;
    let (s, co) = rng.random_range(0.0..PI).sin_cos();
    let bend = rng.random_range(-0.25..=0.25) * len;
    let p0 = (c.0 - co * len / 2.0, c.1 - s * len / 2.0);
    let p2 = (c.0 + co * len / 2.0, c.1 + s * len / 2.0);
    let p1 = (c.0 - s * bend, c.1 + co * bend);
    let half = (rng.random_range(1.0..2.2) * side_scale(layer.n)).max(0.8) / 2.0;
    let steps = 48;
    let mut pts = Vec::with_capacity(steps + 1);
    let mut hw = Vec::with_capacity(steps + 1);
    for k in 0..=steps {
        let t = k as f32 / steps as f32;
        let q = |a: f32, b: f32, cc: f32| {
            (1.0 - t) * (1.0 - t) * a + 2.0 * (1.0 - t) * t * b + t * t * cc
        };
        pts.push((q(p0.0, p1.0, p2.0), q(p0.1, p1.1, p2.1)));
        hw.push(half * (0.3 + 0.7 * (PI * t).sin().powf(0.4)));
    }
    layer.stroke(&pts, &hw);
    let l = luma(mean);
    let bright = if l > 150.0 {
        rng.random_bool(0.1)
    } else if l < 100.0 {
        rng.random_bool(0.9)
    } else {
        rng.random_bool(0.5)
    };
    let strength = rng.random_range(0.75..=1.0);
    for i in 0..layer.alpha.len() {
        if layer.alpha[i] > 0.0 {
            let o = rendered.rgb[i];
            layer.colour[i] = if bright {
                o.map(|v| v + (250.0 - v) * 0.85)
            } else {
                o.map(|v| v * 0.28)
            };
            layer.alpha[i] *= strength;
        }
    }
}

/// Dark, jagged crack with a few thinner branches.
fn crack<R: Rng + ?Sized>(layer: &mut Layer, rendered: &Rendered, c: (f32, f32), rng: &mut R) {
    let n = layer.n as f32;
    let scale = side_scale(layer.n);
    let len = rng.random_range(0.15..0.35) * n;
    let half = (rng.random_range(1.6..3.2) * scale).max(0.9) / 2.0;
    let theta0 = rng.random_range(0.0..PI);
    let start = (
        c.0 - theta0.cos() * len / 2.0,
        c.1 - theta0.sin() * len / 2.0,
    );
    let main = walk(start, theta0, len, 1.5, rng);
    let hw: Vec<f32> = taper(main.len(), half, 0.35);
    layer.stroke(&main, &hw);
    for _ in 0..rng.random_range(1..=3) {
        let from = main[rng
            .random_range(main.len() / 5..main.len() * 4 / 5 + 1)
            .min(main.len() - 1)];
        let side = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        let theta = theta0 + side * rng.random_range(0.5..1.1);
        let branch = walk(from, theta, len * rng.random_range(0.2..0.45), 1.5, rng);
        let hw: Vec<f32> = taper(branch.len(), half * 0.65, 0.0)
            .into_iter()
            .rev()
            .collect();
        layer.stroke(&branch, &hw);
    }
    for i in 0..layer.alpha.len() {
        if layer.alpha[i] > 0.0 {
            let o = rendered.rgb[i];
            layer.colour[i] = [o[0] * 0.16 + 6.0, o[1] * 0.16 + 5.0, o[2] * 0.16 + 4.0];
        }
    }
}

/// A random walk of `len` pixels in steps of `step`, wandering around `theta0`.
fn walk<R: Rng + ?Sized>(
    start: (f32, f32),
    theta0: f32,
    len: f32,
    step: f32,
    rng: &mut R,
) -> Vec<(f32, f32)> {
    let steps = ((len / step).ceil() as usize).max(2);
    let mut pts = Vec::with_capacity(steps + 1);
    let mut p = start;
    let mut theta = theta0;
    pts.push(p);
    for k in 0..steps {
        if k % 3 == 0 {
            theta = (theta + rng.random_range(-0.7..=0.7)).clamp(theta0 - 0.6, theta0 + 0.6);
        }
        p = (p.0 + theta.cos() * step, p.1 + theta.sin() * step);
        pts.push(p);
    }
    pts
}

/// Half-widths along a path of `count` points: `half` in the middle, narrowing towards both
/// ends to `floor * half` (or to zero at the end for branches, reversed by the caller).
fn taper(count: usize, half: f32, floor: f32) -> Vec<f32> {
    (0..count)
        .map(|k| {
            let t = k as f32 / (count.max(2) - 1) as f32;
            half * (floor + (1.0 - floor) * (PI * t).sin().powf(0.5))
        })
        .collect()
}

/// Irregular colour blob (coffee, oil, rust, ink...), translucent, with a darker rim.
fn stain<R: Rng + ?Sized>(layer: &mut Layer, c: (f32, f32), mean: Colour, rng: &mut R) {
    const PALETTE: [Colour; 6] = [
        [95.0, 60.0, 30.0],
        [40.0, 38.0, 34.0],
        [165.0, 78.0, 30.0],
        [205.0, 185.0, 60.0],
        [45.0, 60.0, 140.0],
        [236.0, 236.0, 226.0],
    ];
    let dist = |p: &Colour| (0..3).map(|k| (p[k] - mean[k]).powi(2)).sum::<f32>();
    // One of the two palette colours that stand out most against the object.
    let mut ranked = PALETTE;
    ranked.sort_by(|a, b| dist(b).total_cmp(&dist(a)));
    let colour = ranked[rng.random_range(0..2)];
    let outline = Outline::draw(rng.random_range(0.035..0.08) * layer.n as f32, 0.18, rng);
    let opacity = rng.random_range(0.55..=0.85);
    let seed = rng.random::<u64>();
    let cells: Vec<_> = layer.around(c.0, c.1, outline.extent()).collect();
    for (x, y, i) in cells {
        let (dx, dy) = (x - c.0, y - c.1);
        let d = dx.hypot(dy);
        let r = outline.at(dy.atan2(dx));
        let rho = d / r;
        let edge = (r - d + 0.5).clamp(0.0, 1.0);
        if edge <= 0.0 {
            continue;
        }
        let body = 0.75 + 0.25 * (1.0 - smoothstep(0.0, 1.0, rho));
        let ring = 0.3 * (-((rho - 0.9) / 0.07).powi(2)).exp();
        let mottle = 1.0 + 0.15 * gnoise(seed, x / 7.0, y / 7.0);
        layer.alpha[i] = (opacity * body * mottle + ring).min(1.0) * edge;
        layer.colour[i] = colour.map(|v| v * (1.0 - ring));
    }
}

/// Missing chunk: a dark cavity whose far wall catches the light.
fn hole<R: Rng + ?Sized>(layer: &mut Layer, c: (f32, f32), rng: &mut R) {
    let outline = Outline::draw(rng.random_range(0.03..0.065) * layer.n as f32, 0.2, rng);
    let light = PI / 4.0;
    let cells: Vec<_> = layer.around(c.0, c.1, outline.extent()).collect();
    for (x, y, i) in cells {
        let (dx, dy) = (x - c.0, y - c.1);
        let d = dx.hypot(dy);
        let theta = dy.atan2(dx);
        let r = outline.at(theta);
        let cov = (r - d + 0.5).clamp(0.0, 1.0);
        if cov <= 0.0 {
            continue;
        }
        let wall = smoothstep(0.55, 1.0, d / r) * (theta - light).cos().max(0.0);
        layer.alpha[i] = cov;
        layer.colour[i] = [18.0 + 75.0 * wall, 17.0 + 72.0 * wall, 16.0 + 68.0 * wall];
    }
}

/// A patch of foreign material: an irregular blob filled with a random procedural texture.
fn contamination<R: Rng + ?Sized>(layer: &mut Layer, c: (f32, f32), rng: &mut R) {
    let outline = Outline::draw(rng.random_range(0.03..0.07) * layer.n as f32, 0.28, rng);
    let opacity = rng.random_range(0.85..=1.0);
    let n = layer.n as u32;
    let tex = procedural_texture(n, n, rng);
    let cells: Vec<_> = layer.around(c.0, c.1, outline.extent()).collect();
    for (x, y, i) in cells {
        let (dx, dy) = (x - c.0, y - c.1);
        let d = dx.hypot(dy);
        let cov = (outline.at(dy.atan2(dx)) - d + 0.5).clamp(0.0, 1.0);
        if cov <= 0.0 {
            continue;
        }
        layer.alpha[i] = cov * opacity;
        let p = tex.get_pixel(x as u32, y as u32);
        layer.colour[i] = [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])];
    }
}
