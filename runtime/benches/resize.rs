//! Preprocessing of camera-sized frames: the runtime's resize and crop against the `image`
//! crate's `resize` + `crop_imm` (the same pixels, a test checks it), in one process,
//! interleaved, as a ratio. `cargo bench -p adapts-runtime --bench resize`.

use std::time::Instant;

use adapts_runtime::preprocess::{Normalization, Preprocess};
use image::imageops::FilterType;
use image::RgbImage;

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

fn main() {
    let iters = 60;
    println!("frame       image crate   runtime   ratio (runtime / image crate, p50)");
    for (w, h) in [(640u32, 480u32), (1280, 960), (1920, 1080)] {
        let frame = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x ^ y) as u8, (x * 3) as u8, (y * 7 + x / 5) as u8])
        });
        let p = Preprocess::full_frame(224, Normalization::Imagenet);
        let g = p.geometry(w, h);
        let (mut baseline, mut ours) = (Vec::new(), Vec::new());
        for i in 0..iters + 5 {
            let t = Instant::now();
            let resized = image::imageops::resize(&frame, g.width, g.height, FilterType::Triangle);
            let a = image::imageops::crop_imm(&resized, g.left, g.top, p.crop, p.crop).to_image();
            let base_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let b = p.resize(&frame);
            let our_ms = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(a, b, "{w}x{h}: the two differ");
            if i >= 5 {
                baseline.push(base_ms);
                ours.push(our_ms);
            }
        }
        let (a, b) = (median(baseline), median(ours));
        println!("{w:>4}x{h:<5} {a:>10.3} ms {b:>7.3} ms   {:.3}x", b / a);
    }
}
