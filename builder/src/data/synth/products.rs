//! Procedural product appearances: each product is a shading function over product
//! coordinates `(u, v)` in [0, 1]^2 (y down), rendered per sample under a small random pose,
//! lighting gain and tint.
//!
//! Texture products (fabric, wood, leather, marble, carpet) also shift their irregular parts
//! (grain, veins, mottling) per sample, as different crops of the same material would.
//! Object products (washer, screw, the mesh's frame) report where the object is, so defects land on it.

use std::f32::consts::PI;

use rand::Rng;

use super::SynthProduct;

pub(super) type Colour = [f32; 3];

/// Per-sample rendering variation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pose {
    /// Translation in product units (1.0 = image side).
    shift: (f32, f32),
    /// Rotation about the image centre, radians.
    rotation: f32,
    /// Overall brightness gain.
    gain: f32,
    /// Per-channel tint factors.
    tint: Colour,
    /// Linear illumination slope across the image (x, y).
    slope: (f32, f32),
    /// Offset of irregular texture features in noise space.
    offset: (f32, f32),
}

impl Pose {
    /// Shift of up to 3 px at 256 px, rotation up to 3 degrees, gain 0.92..1.08, tint 2 %.
    pub(super) fn draw<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let px = 1.0 / 256.0;
        Self {
            shift: (
                rng.random_range(-3.0..=3.0f32) * px,
                rng.random_range(-3.0..=3.0f32) * px,
            ),
            rotation: rng.random_range(-3.0..=3.0f32).to_radians(),
            gain: rng.random_range(0.92..=1.08),
            tint: [
                rng.random_range(0.98..=1.02),
                rng.random_range(0.98..=1.02),
                rng.random_range(0.98..=1.02),
            ],
            slope: (
                rng.random_range(-0.05..=0.05),
                rng.random_range(-0.05..=0.05),
            ),
            offset: (rng.random_range(0.0..64.0), rng.random_range(0.0..64.0)),
        }
    }
}

/// A rendered sample before sensor noise: float RGB (0..255) and how much of each pixel is the
/// product's object (1.0 everywhere for textures), both `size * size`, row-major.
pub(super) struct Rendered {
    pub(super) rgb: Vec<Colour>,
    pub(super) object: Vec<f32>,
}

pub(super) fn render(product: SynthProduct, size: u32, pose: &Pose) -> Rendered {
    let n = size as usize;
    let aa = 1.0 / size as f32;
    let (s, c) = pose.rotation.sin_cos();
    let mut rgb = Vec::with_capacity(n * n);
    let mut object = Vec::with_capacity(n * n);
    for y in 0..n {
        for x in 0..n {
            let px = (x as f32 + 0.5) * aa - 0.5 - pose.shift.0;
            let py = (y as f32 + 0.5) * aa - 0.5 - pose.shift.1;
            // Inverse pose: image position -> product position.
            let u = c * px + s * py + 0.5;
            let v = -s * px + c * py + 0.5;
            let (col, obj) = shade(product, u, v, aa, pose.offset);
            let light = pose.gain
                * (1.0
                    + pose.slope.0 * (x as f32 * aa - 0.5)
                    + pose.slope.1 * (y as f32 * aa - 0.5));
            rgb.push([
                col[0] * light * pose.tint[0],
                col[1] * light * pose.tint[1],
                col[2] * light * pose.tint[2],
            ]);
            object.push(obj);
        }
    }
    Rendered { rgb, object }
}

fn shade(product: SynthProduct, u: f32, v: f32, aa: f32, o: (f32, f32)) -> (Colour, f32) {
    match product {
        SynthProduct::Fabric => (fabric(u, v, o), 1.0),
        SynthProduct::Washer => washer(u, v, aa),
        SynthProduct::Wood => (wood(u, v, o), 1.0),
        SynthProduct::Pcb => (pcb(u, v, aa), 1.0),
        SynthProduct::Tile => (tile(u, v, aa), 1.0),
        SynthProduct::Screw => screw(u, v, aa),
        SynthProduct::Leather => (leather(u, v, o), 1.0),
        SynthProduct::Marble => (marble(u, v, o), 1.0),
        SynthProduct::Carpet => (carpet(u, v, o), 1.0),
        SynthProduct::Mesh => mesh(u, v, aa),
    }
}

// ---- noise -------------------------------------------------------------------------------

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A well-mixed hash of a lattice point.
pub(super) fn hash(seed: u64, x: i64, y: i64) -> u64 {
    splitmix(
        (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ seed.wrapping_mul(0x1656_67B1_9E37_79F9),
    )
}

/// Hash mapped to [0, 1).
pub(super) fn hash01(seed: u64, x: i64, y: i64) -> f32 {
    (hash(seed, x, y) >> 40) as f32 / (1u64 << 24) as f32
}

/// Gradient noise on the integer lattice, roughly in [-1, 1], 0 at lattice points.
pub(super) fn gnoise(seed: u64, x: f32, y: f32) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (ix, iy) = (x0 as i64, y0 as i64);
    let g = |i: i64, j: i64, dx: f32, dy: f32| {
        let a = hash01(seed, i, j) * 2.0 * PI;
        a.cos() * dx + a.sin() * dy
    };
    let fade = |t: f32| t * t * t * (t * (t * 6.0 - 15.0) + 10.0);
    let (sx, sy) = (fade(fx), fade(fy));
    let n00 = g(ix, iy, fx, fy);
    let n10 = g(ix + 1, iy, fx - 1.0, fy);
    let n01 = g(ix, iy + 1, fx, fy - 1.0);
    let n11 = g(ix + 1, iy + 1, fx - 1.0, fy - 1.0);
    let a = n00 + sx * (n10 - n00);
    let b = n01 + sx * (n11 - n01);
    std::f32::consts::SQRT_2 * (a + sy * (b - a))
}

/// Fractal sum of `octaves` gradient-noise layers, roughly in [-1, 1].
pub(super) fn fbm(seed: u64, x: f32, y: f32, octaves: u32) -> f32 {
    let (mut sum, mut amp, mut freq, mut norm) = (0.0, 1.0, 1.0, 0.0);
    for k in 0..octaves {
        sum += amp * gnoise(seed.wrapping_add(u64::from(k)), x * freq, y * freq);
        norm += amp;
        amp *= 0.5;
        freq *= 2.0;
    }
    sum / norm
}

pub(super) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

pub(super) fn mix(a: Colour, b: Colour, t: f32) -> Colour {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn scale(c: Colour, k: f32) -> Colour {
    [c[0] * k, c[1] * k, c[2] * k]
}

/// 1 inside `d < 0`, 0 outside, with a one-pixel ramp.
fn inside(d: f32, aa: f32) -> f32 {
    smoothstep(aa, -aa, d)
}

// ---- products ----------------------------------------------------------------------------

/// Grey plain-weave fabric: alternating warp and weft threads, yarn irregularity.
fn fabric(u: f32, v: f32, o: (f32, f32)) -> Colour {
    let period = 1.0 / 36.0;
    let (a, b) = (u / period, v / period);
    let (i, j) = (a.floor(), b.floor());
    let (fa, fb) = (a - i, b - j);
    let warp_on_top = (i as i64 + j as i64).rem_euclid(2) == 0;
    let (across, along, base) = if warp_on_top {
        (fa, fb, [158.0, 158.0, 162.0])
    } else {
        (fb, fa, [132.0, 130.0, 126.0])
    };
    // Round thread cross-section, darker where it dives under its neighbours.
    let profile = (PI * across).sin().max(0.0).powf(0.7);
    let dive = 0.72 + 0.28 * (PI * along).sin();
    let yarn = 1.0
        + 0.10 * fbm(11, (u + o.0) * 7.0, (v + o.1) * 7.0, 3)
        + 0.05 * gnoise(12, (u + o.0) * 300.0, (v + o.1) * 300.0);
    scale(base, (0.35 + 0.7 * profile * dive) * yarn)
}

/// Round brushed-metal washer on a dark slate background, with a soft drop shadow.
fn washer(u: f32, v: f32, aa: f32) -> (Colour, f32) {
    let (outer, hole) = (0.40, 0.16);
    let (dx, dy) = (u - 0.5, v - 0.5);
    let r = dx.hypot(dy);
    let th = dy.atan2(dx);
    let shadow = smoothstep(outer + 0.05, outer - 0.01, (u - 0.515).hypot(v - 0.522))
        * smoothstep(hole - 0.03, hole + 0.02, (u - 0.515).hypot(v - 0.522));
    let bg = scale(
        [38.0, 41.0, 47.0],
        (1.0 + 0.08 * fbm(21, u * 6.0, v * 6.0, 3)) * (1.0 - 0.55 * shadow),
    );
    let metal_cov = inside(r - outer, aa) * inside(hole - r, aa);
    // Anisotropic highlight of radially brushed metal, fine concentric lathe marks.
    let mut k = 128.0 + 62.0 * (2.0 * (th - 0.7)).cos() + 14.0 * gnoise(22, r * 500.0, 0.5);
    // Bevels at both edges catch the light from the upper left.
    let bevel_w = 0.022;
    let light = (th + 2.4).cos();
    let outer_bevel = 1.0 - smoothstep(0.0, bevel_w, outer - r);
    let inner_bevel = 1.0 - smoothstep(0.0, bevel_w, r - hole);
    k += 70.0 * light * outer_bevel - 60.0 * light * inner_bevel;
    let metal = [k * 0.96, k * 0.98, k * 1.03];
    (mix(bg, metal, metal_cov), metal_cov)
}

/// Orange wood: growth rings bent by low-frequency noise, fine grain streaks along them.
fn wood(u: f32, v: f32, o: (f32, f32)) -> Colour {
    let (x, y) = (u + o.0, v + o.1);
    let warp = fbm(31, x * 1.5, y * 5.0, 3);
    let t = y * 13.0 + 1.8 * warp + 0.35 * (x * 2.0).sin();
    let ring = t - t.floor();
    let late = smoothstep(0.55, 0.88, ring) * (1.0 - smoothstep(0.9, 1.0, ring));
    let grain = gnoise(32, x * 7.0, y * 170.0);
    let tone = 1.0 + 0.07 * grain + 0.06 * fbm(33, x * 3.0, y * 3.0, 2);
    scale(
        mix([220.0, 146.0, 72.0], [150.0, 78.0, 34.0], 0.9 * late),
        tone,
    )
}

/// Green solder-masked PCB: lighter-green traces on a grid, gold pads with drill holes.
fn pcb(u: f32, v: f32, aa: f32) -> Colour {
    let grid = 1.0 / 8.0;
    let (a, b) = (u / grid - 0.5, v / grid - 0.5);
    let weave = 0.03 * ((u * 2.0 * PI * 90.0).sin() * (v * 2.0 * PI * 90.0).sin());
    let mut col = scale(
        [24.0, 104.0, 54.0],
        1.0 + 0.05 * fbm(41, u * 6.0, v * 6.0, 2) + weave,
    );
    // Traces: a grid edge carries a trace when its hash says so (a fixed board layout).
    let half_w = 0.008;
    let (ni, nj) = (a.round(), b.round());
    let (ai, bj) = (a.floor() as i64, b.floor() as i64);
    let mut trace: f32 = 0.0;
    if hash01(42, ai, nj as i64) < 0.55 {
        trace = trace.max(inside((b - nj).abs() * grid - half_w, aa));
    }
    if hash01(43, ni as i64, bj) < 0.45 {
        trace = trace.max(inside((a - ni).abs() * grid - half_w, aa));
    }
    col = mix(col, [72.0, 160.0, 84.0], trace);
    // Pads at some grid nodes: round or square, each with a drill hole.
    let (pi, pj) = (ni as i64, nj as i64);
    if hash01(44, pi, pj) < 0.6 {
        let (dx, dy) = ((a - ni) * grid, (b - nj) * grid);
        let pad_r = 0.022;
        let d = if hash01(45, pi, pj) < 0.5 {
            dx.hypot(dy) - pad_r
        } else {
            dx.abs().max(dy.abs()) - pad_r
        };
        let pad = inside(d, aa);
        col = mix(col, [214.0, 178.0, 92.0], pad);
        let drill = inside(dx.hypot(dy) - 0.008, aa);
        col = mix(col, [32.0, 30.0, 24.0], drill);
    }
    col
}

/// Beige ceramic tile with grout lines and a hexagonal pattern of grey dots.
fn tile(u: f32, v: f32, aa: f32) -> Colour {
    let base = scale(
        [224.0, 214.0, 194.0],
        1.0 + 0.04 * fbm(51, u * 5.0, v * 5.0, 3) + 0.02 * gnoise(52, u * 200.0, v * 200.0),
    );
    let spacing = 0.075;
    let row_h = spacing * 0.866;
    let mut dot: f32 = 0.0;
    let r0 = (v / row_h).round() as i64;
    for r in r0 - 1..=r0 + 1 {
        let off = if r.rem_euclid(2) == 1 {
            spacing / 2.0
        } else {
            0.0
        };
        let c = ((u - off) / spacing).round() as i64;
        for c in c - 1..=c + 1 {
            let (cx, cy) = (c as f32 * spacing + off, r as f32 * row_h);
            let radius = 0.013 * (0.85 + 0.3 * hash01(53, c, r));
            dot = dot.max(inside((u - cx).hypot(v - cy) - radius, aa));
        }
    }
    let mut col = mix(base, [82.0, 90.0, 104.0], dot);
    let tile_size = 0.5;
    let gu = (u / tile_size - (u / tile_size).round()).abs() * tile_size;
    let gv = (v / tile_size - (v / tile_size).round()).abs() * tile_size;
    let grout = inside(gu.min(gv) - 0.007, aa);
    col = mix(col, [168.0, 162.0, 150.0], grout);
    col
}

/// Silver Phillips screw head on a blue anodised, brushed plate.
fn screw(u: f32, v: f32, aa: f32) -> (Colour, f32) {
    let radius = 0.30;
    let (dx, dy) = (u - 0.5, v - 0.5);
    let r = dx.hypot(dy);
    let brushed = 1.0 + 0.06 * gnoise(61, u * 4.0, v * 110.0) + 0.03 * fbm(62, u * 5.0, v * 5.0, 2);
    let shadow = smoothstep(radius + 0.045, radius - 0.01, (u - 0.52).hypot(v - 0.525));
    let plate = scale([38.0, 74.0, 168.0], brushed * (1.0 - 0.6 * shadow));
    let head = inside(r - radius, aa);
    // Flattened dome lit from the upper left.
    let (nx, ny) = (dx / radius * 0.7, dy / radius * 0.7);
    let nz = (1.0 - nx * nx - ny * ny).max(0.0).sqrt();
    let light = [-0.45f32, -0.55, 0.70];
    let len = (light[0] * light[0] + light[1] * light[1] + light[2] * light[2]).sqrt();
    let diffuse = ((nx * light[0] + ny * light[1] + nz * light[2]) / len).max(0.0);
    let spec = diffuse.powi(24);
    let rim = 1.0 - 0.45 * smoothstep(radius - 0.025, radius, r);
    let k = (70.0 + 125.0 * diffuse + 70.0 * spec) * rim;
    let mut metal = [k * 0.97, k * 0.98, k * 1.0];
    // Cross recess: two tapered arms.
    let arm_len = 0.17;
    let arm = |a: f32, b: f32| {
        let w = 0.03 * (1.0 - 0.45 * (a.abs() / arm_len).min(1.0));
        (a.abs() - arm_len).max(b.abs() - w)
    };
    let d = arm(dx, dy).min(arm(dy, dx));
    let recess = inside(d, aa);
    let wall = 0.5 + 0.5 * ((dx + dy) / arm_len).clamp(-1.0, 1.0);
    metal = mix(metal, scale([48.0, 48.0, 54.0], 0.7 + 0.9 * wall), recess);
    (mix(plate, metal, head), head)
}

/// Brown leather: mottled tone, a network of darker creases, fine grain.
fn leather(u: f32, v: f32, o: (f32, f32)) -> Colour {
    let (x, y) = (u + o.0, v + o.1);
    let tone = 1.0 + 0.10 * fbm(71, x * 4.0, y * 4.0, 4);
    let n = gnoise(72, x * 9.0, y * 9.0) + 0.5 * gnoise(73, x * 19.0, y * 19.0);
    let crease = (1.0 - n.abs() * 4.0).clamp(0.0, 1.0).powi(3);
    let grain = 0.07 * gnoise(74, x * 150.0, y * 150.0);
    scale(
        [118.0, 66.0, 36.0],
        tone * (1.0 - 0.3 * crease) * (1.0 + grain),
    )
}

/// White marble with dark grey veins and faint secondary veins.
fn marble(u: f32, v: f32, o: (f32, f32)) -> Colour {
    let (x, y) = (u + o.0, v + o.1);
    let t = x * 1.6 + y * 0.8 + 1.1 * fbm(81, x * 1.7, y * 1.7, 3);
    let vein = (1.0 - (PI * t).sin().abs()).powi(6);
    let t2 = x * 0.7 - y * 2.2 + 1.4 * fbm(82, x * 2.2, y * 2.2, 3);
    let vein2 = (1.0 - (PI * t2).sin().abs()).powi(12);
    let cloud = 1.0 - 0.07 * fbm(83, x * 2.0, y * 2.0, 4);
    let base = scale([234.0, 232.0, 227.0], cloud);
    mix(
        base,
        [112.0, 116.0, 124.0],
        (0.75 * vein + 0.35 * vein2).min(1.0),
    )
}

/// Red cut-pile carpet: dense fibre noise with tuft rows.
fn carpet(u: f32, v: f32, o: (f32, f32)) -> Colour {
    let (x, y) = (u + o.0, v + o.1);
    let fibre = 0.5 * gnoise(91, x * 170.0, y * 170.0) + 0.3 * gnoise(92, x * 330.0, y * 95.0);
    let rows = 0.07 * (v * 2.0 * PI * 48.0).sin();
    let tone = 1.0 + 0.28 * fibre + rows + 0.08 * fbm(93, x * 5.0, y * 5.0, 3);
    scale([168.0, 34.0, 44.0], tone)
}

/// Perforated steel sheet: hexagonal holes in a grey frame over a black backing; the frame is
/// the object.
fn mesh(u: f32, v: f32, aa: f32) -> (Colour, f32) {
    let spacing = 0.09;
    let row_h = spacing * 0.866;
    let r0 = (v / row_h).round() as i64;
    let mut best = (f32::INFINITY, 0.0f32, 0.0f32);
    for r in r0 - 1..=r0 + 1 {
        let off = if r.rem_euclid(2) == 1 {
            spacing / 2.0
        } else {
            0.0
        };
        let c0 = ((u - off) / spacing).round() as i64;
        for c in c0 - 1..=c0 + 1 {
            let (dx, dy) = (u - (c as f32 * spacing + off), v - r as f32 * row_h);
            let d2 = dx * dx + dy * dy;
            if d2 < best.0 {
                best = (d2, dx, dy);
            }
        }
    }
    let (_, dx, dy) = best;
    // Hexagonal distance: largest projection onto the three neighbour directions.
    let hex = dx
        .abs()
        .max((0.5 * dx + 0.866 * dy).abs())
        .max((-0.5 * dx + 0.866 * dy).abs());
    let apothem = 0.36 * spacing;
    let metal = inside(apothem - hex, aa);
    // Frame brightens towards the upper-left edge of each hole.
    let edge = 1.0 - smoothstep(0.0, 0.02, hex - apothem);
    let lit = (-(dx + dy) / (hex + 1e-4)).clamp(-1.0, 1.0);
    let k = (150.0 + 25.0 * fbm(101, u * 8.0, v * 8.0, 2)) * (1.0 + 0.35 * edge * lit);
    let frame = [k * 0.98, k, k * 1.02];
    (mix([16.0, 16.0, 20.0], frame, metal), metal)
}
