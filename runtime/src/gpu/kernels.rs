//! The preprocessing kernels' source and how they are launched: one CUDA C file
//! (`preprocess.cu`) that NVRTC compiles at run time and the tests compile on the host.
//!
//! The launch geometry lives here, apart from the CUDA calls, so that the host build of the
//! kernels (in the tests) and the GPU launcher run them over exactly the same grid.

use adapts_boards::PixelFormat;
use image::RgbImage;

use crate::preprocess::{Preprocess, ResizeGeometry};

/// The kernels' CUDA C source.
pub const PREPROCESS_SOURCE: &str = include_str!("preprocess.cu");

/// Names of the three kernels, in launch order.
pub const KERNELS: [&str; 3] = ["adapts_unpack", "adapts_resize_rows", "adapts_resize_cols"];

/// NVRTC options: no contracted multiply-adds, IEEE division, no flush to zero (what keeps
/// the GPU's results equal to the CPU's).
pub const NVRTC_OPTIONS: [&str; 3] = ["--fmad=false", "--prec-div=true", "--ftz=false"];

/// Threads per block in x and y.
pub const BLOCK: (u32, u32) = (16, 16);

/// A camera frame's layout in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// The pixel format (MJPG and NV12 are not unpacked on the GPU).
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next (the driver's `bytesperline`; 0: packed).
    pub stride: usize,
}

impl FrameLayout {
    /// The kernel's number for the format; `None` for formats the GPU does not unpack.
    pub fn format_code(&self) -> Option<i32> {
        match self.format {
            PixelFormat::Rgb3 => Some(0),
            PixelFormat::Grey => Some(1),
            PixelFormat::Yuyv => Some(2),
            PixelFormat::Uyvy => Some(3),
            _ => None,
        }
    }

    /// Bytes of one packed row.
    pub fn row_bytes(&self) -> usize {
        let w = self.width as usize;
        match self.format {
            PixelFormat::Rgb3 => w * 3,
            PixelFormat::Yuyv | PixelFormat::Uyvy => w.div_ceil(2) * 4,
            _ => w,
        }
    }

    /// Bytes from one row to the next.
    pub fn stride(&self) -> usize {
        if self.stride == 0 {
            self.row_bytes()
        } else {
            self.stride
        }
    }

    /// Bytes a frame needs (0 for an empty frame).
    pub fn frame_bytes(&self) -> usize {
        match self.height as usize {
            0 => 0,
            h => self.stride() * (h - 1) + self.row_bytes(),
        }
    }
}

/// Grid size (in blocks) that covers `x` by `y` threads.
pub fn grid(x: u32, y: u32) -> (u32, u32) {
    (x.div_ceil(BLOCK.0), y.div_ceil(BLOCK.1))
}

/// What the three kernels are launched with for one frame layout and preprocessing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LaunchPlan {
    /// The frame.
    pub frame: FrameLayout,
    /// Resized size and crop corner.
    pub geometry: ResizeGeometry,
    /// Side of the output (the network input).
    pub crop: u32,
    /// Mean of each channel, then standard deviation of each (the `norm` argument).
    pub norm: [f32; 6],
}

impl LaunchPlan {
    /// The launches for `frame` preprocessed by `preprocess`.
    pub fn new(frame: FrameLayout, preprocess: &Preprocess) -> Self {
        let (mean, std) = preprocess.normalization.mean_std();
        Self {
            frame,
            geometry: preprocess.geometry(frame.width, frame.height),
            crop: preprocess.crop,
            norm: [mean[0], mean[1], mean[2], std[0], std[1], std[2]],
        }
    }

    /// Elements of the packed RGB frame.
    pub fn rgb_len(&self) -> usize {
        self.frame.width as usize * self.frame.height as usize * 3
    }

    /// Elements of the vertical pass's output (`crop` rows of the full width).
    pub fn rows_len(&self) -> usize {
        self.frame.width as usize * self.crop as usize * 3
    }

    /// Elements of the output `[3, crop, crop]`.
    pub fn out_len(&self) -> usize {
        3 * self.crop as usize * self.crop as usize
    }
}

/// `img` as a camera would deliver it in `format`, rows `pad` bytes longer than packed: the
/// frames the GPU check and the tests feed both paths. YUV is BT.601 limited range (4:2:2
/// chroma averaged over each pair of pixels). `None` for formats the GPU does not unpack.
pub fn encode_frame(
    img: &RgbImage,
    format: PixelFormat,
    pad: usize,
) -> Option<(FrameLayout, Vec<u8>)> {
    let packed = FrameLayout {
        format,
        width: img.width(),
        height: img.height(),
        stride: 0,
    };
    packed.format_code()?;
    let row = packed.row_bytes();
    let frame = FrameLayout {
        stride: row + pad,
        ..packed
    };
    let mut bytes = vec![0xA5u8; frame.stride() * img.height() as usize];
    for (y, px_row) in img.rows().enumerate() {
        let dst = &mut bytes[y * frame.stride()..y * frame.stride() + row];
        let px: Vec<[u8; 3]> = px_row.map(|p| p.0).collect();
        match format {
            PixelFormat::Rgb3 => {
                for (d, p) in dst.chunks_exact_mut(3).zip(&px) {
                    d.copy_from_slice(p);
                }
            }
            PixelFormat::Grey => {
                for (d, p) in dst.iter_mut().zip(&px) {
                    *d = ycbcr_of(*p)[0];
                }
            }
            _ => {
                for (pair, d) in px.chunks(2).zip(dst.chunks_exact_mut(4)) {
                    let a = ycbcr_of(pair[0]);
                    let b = pair.get(1).map_or(a, |p| ycbcr_of(*p));
                    let cb = (u16::from(a[1]) + u16::from(b[1])).div_ceil(2) as u8;
                    let cr = (u16::from(a[2]) + u16::from(b[2])).div_ceil(2) as u8;
                    d.copy_from_slice(&if format == PixelFormat::Yuyv {
                        [a[0], cb, b[0], cr]
                    } else {
                        [cb, a[0], cr, b[0]]
                    });
                }
            }
        }
    }
    Some((frame, bytes))
}

/// BT.601 limited-range Y'CbCr of an RGB pixel.
fn ycbcr_of(p: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = p.map(f32::from);
    [
        (16.0 + 0.257 * r + 0.504 * g + 0.098 * b).round() as u8,
        (128.0 - 0.148 * r - 0.291 * g + 0.439 * b).round() as u8,
        (128.0 + 0.439 * r - 0.368 * g - 0.071 * b).round() as u8,
    ]
}

#[cfg(test)]
mod tests {
    //! The kernel source compiled on the host with g++ (each kernel called once per thread
    //! of its grid) against the CPU path, on photographs in every pixel format.

    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::*;
    use crate::camera::convert::to_rgb;
    use crate::preprocess::Normalization;

    /// Calls the kernels over the grids [`LaunchPlan`] gives, on a frame read from a file.
    const HARNESS: &str = r#"
#define ADAPTS_HOST 1
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
typedef unsigned char u8;
struct adapts_dim3 { unsigned x, y, z; };
static adapts_dim3 blockIdx, threadIdx, blockDim;
#define __global__
#define __device__
#include "preprocess.cu"

template <class F> static void launch(unsigned gx, unsigned gy, F kernel) {
    blockDim.x = BX; blockDim.y = BY; blockDim.z = 1;
    for (unsigned by = 0; by < gy; by++) for (unsigned bx = 0; bx < gx; bx++)
    for (unsigned ty = 0; ty < BY; ty++) for (unsigned tx = 0; tx < BX; tx++) {
        blockIdx.x = bx; blockIdx.y = by; threadIdx.x = tx; threadIdx.y = ty;
        kernel();
    }
}

static unsigned cover(unsigned n, unsigned b) { return (n + b - 1) / b; }

int main(int argc, char **argv) {
    if (argc != 15) return 2;
    int format = atoi(argv[2]), width = atoi(argv[3]), height = atoi(argv[4]);
    int stride = atoi(argv[5]), new_width = atoi(argv[6]), new_height = atoi(argv[7]);
    int left = atoi(argv[8]), top = atoi(argv[9]), crop = atoi(argv[10]);
    float norm[6];
    if (sscanf(argv[11], "%a,%a,%a,%a,%a,%a", &norm[0], &norm[1], &norm[2], &norm[3],
               &norm[4], &norm[5]) != 6) return 3;
    long bytes = atol(argv[12]);
    (void)argv[13];
    u8 *src = (u8 *)malloc(bytes);
    FILE *in = fopen(argv[1], "rb");
    if (!in || fread(src, 1, bytes, in) != (size_t)bytes) return 4;
    fclose(in);
    u8 *rgb = (u8 *)malloc((size_t)width * height * 3);
    float *tmp = (float *)malloc(sizeof(float) * width * crop * 3);
    float *out = (float *)malloc(sizeof(float) * 3 * crop * crop);
    launch(cover(width, BX), cover(height, BY),
           [&] { adapts_unpack(src, format, width, height, stride, rgb); });
    launch(cover(width, BX), cover(crop, BY),
           [&] { adapts_resize_rows(rgb, width, height, new_height, top, crop, tmp); });
    launch(cover(crop, BX), cover(crop, BY),
           [&] { adapts_resize_cols(tmp, width, crop, new_width, left, crop, norm, out); });
    FILE *o = fopen(argv[14], "wb");
    if (!o || fwrite(out, sizeof(float), 3 * crop * crop, o) != (size_t)(3 * crop * crop)) return 5;
    fclose(o);
    return 0;
}
"#;

    /// Builds the harness once per test process.
    fn harness() -> PathBuf {
        static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        BUILT
            .get_or_init(|| {
                let dir =
                    std::env::temp_dir().join(format!("adapts-kernels-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("preprocess.cu"), PREPROCESS_SOURCE).unwrap();
                std::fs::write(dir.join("harness.cpp"), HARNESS).unwrap();
                let exe = dir.join("harness");
                // -ffp-contract=off: the host must not contract multiply-adds either.
                let status = Command::new("g++")
                    .args(["-std=c++17", "-O2", "-ffp-contract=off", "-x", "c++"])
                    .arg(format!("-DBX={}", BLOCK.0))
                    .arg(format!("-DBY={}", BLOCK.1))
                    .arg(dir.join("harness.cpp"))
                    .arg("-o")
                    .arg(&exe)
                    .status()
                    .expect("g++ runs (the kernels' host build needs it)");
                assert!(status.success(), "g++ failed on the kernel source");
                exe
            })
            .clone()
    }

    /// The kernels' output for one frame.
    fn on_host(plan: &LaunchPlan, bytes: &[u8]) -> Vec<f32> {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("frame"), dir.path().join("out"));
        std::fs::write(&input, bytes).unwrap();
        let f = plan.frame;
        let g = plan.geometry;
        let norm: Vec<String> = plan.norm.iter().map(|v| hex_float(*v)).collect();
        let status = Command::new(harness())
            .arg(&input)
            .args(
                [
                    f.format_code().unwrap() as i64,
                    f.width.into(),
                    f.height.into(),
                    f.stride() as i64,
                    g.width.into(),
                    g.height.into(),
                    g.left.into(),
                    g.top.into(),
                    plan.crop.into(),
                ]
                .map(|v| v.to_string()),
            )
            .arg(norm.join(","))
            .arg(bytes.len().to_string())
            .arg("-")
            .arg(&output)
            .status()
            .unwrap();
        assert!(status.success(), "harness: {status}");
        std::fs::read(&output)
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// `v` as a C99 hexadecimal float literal (exact).
    fn hex_float(v: f32) -> String {
        let bits = v.to_bits();
        let sign = if bits >> 31 == 1 { "-" } else { "" };
        let exp = ((bits >> 23) & 0xff) as i32;
        let mantissa = bits & 0x7f_ffff;
        if exp == 0 && mantissa == 0 {
            return format!("{sign}0x0p+0");
        }
        assert!(exp != 0 && exp != 255, "normal values only");
        format!("{sign}0x1.{:06x}p{:+}", mantissa << 1, exp - 127)
    }

    /// The photos the tests ship.
    fn photos() -> Vec<RgbImage> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
            .collect();
        paths.sort();
        assert!(!paths.is_empty(), "no photos in {}", dir.display());
        paths
            .iter()
            .map(|p| crate::preprocess::load_rgb(p).unwrap())
            .collect()
    }

    #[test]
    fn the_kernels_equal_the_cpu_preprocessing_bit_for_bit() {
        let photos = photos();
        let formats = [
            PixelFormat::Yuyv,
            PixelFormat::Uyvy,
            PixelFormat::Rgb3,
            PixelFormat::Grey,
        ];
        let mut cases = 0;
        for (n, photo) in photos.iter().enumerate() {
            // An odd width and an odd height, cut from the photo.
            let odd = image::imageops::crop_imm(
                photo,
                3,
                1,
                photo.width().min(301) - 4,
                photo.height().min(227) - 2,
            )
            .to_image();
            for img in [photo, &odd] {
                for (k, format) in formats.iter().enumerate() {
                    let preprocess = match (n + k) % 3 {
                        0 => Preprocess::full_frame(224, Normalization::Imagenet),
                        1 => Preprocess::imagenet_eval(224, Normalization::Imagenet),
                        _ => Preprocess::full_frame(64, Normalization::Tf),
                    };
                    let (frame, bytes) = encode_frame(img, *format, 2 * k).unwrap();
                    let plan = LaunchPlan::new(frame, &preprocess);
                    let cpu_rgb = to_rgb(
                        frame.format,
                        frame.width,
                        frame.height,
                        frame.stride,
                        &bytes,
                    )
                    .unwrap();
                    let want = preprocess.apply(&cpu_rgb);
                    let got = on_host(&plan, &bytes);
                    assert_eq!(got.len(), plan.out_len());
                    let diff = want
                        .iter()
                        .zip(&got)
                        .filter(|(a, b)| a.to_bits() != b.to_bits())
                        .count();
                    assert_eq!(
                        diff,
                        0,
                        "{format:?} {}x{} -> {:?}: {diff} of {} values differ",
                        frame.width,
                        frame.height,
                        preprocess,
                        got.len()
                    );
                    cases += 1;
                }
            }
        }
        assert!(cases >= 8, "{cases} cases");
    }

    #[test]
    fn an_image_of_the_input_size_passes_through_unresized() {
        let img = RgbImage::from_fn(32, 32, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, 77])
        });
        let preprocess = Preprocess::full_frame(32, Normalization::Imagenet);
        let (frame, bytes) = encode_frame(&img, PixelFormat::Rgb3, 0).unwrap();
        let plan = LaunchPlan::new(frame, &preprocess);
        assert_eq!(on_host(&plan, &bytes), preprocess.apply(&img));
    }

    #[test]
    fn layouts_and_grids() {
        let f = FrameLayout {
            format: PixelFormat::Yuyv,
            width: 7,
            height: 3,
            stride: 0,
        };
        assert_eq!(f.row_bytes(), 16);
        assert_eq!(f.frame_bytes(), 48);
        let padded = FrameLayout { stride: 20, ..f };
        assert_eq!(padded.frame_bytes(), 56);
        assert_eq!(grid(224, 17), (14, 2));
        assert_eq!(
            FrameLayout {
                format: PixelFormat::Mjpg,
                ..f
            }
            .format_code(),
            None
        );
        assert_eq!(hex_float(1.0), "0x1.000000p+0");
        assert_eq!(hex_float(-0.75), "-0x1.800000p-1");
    }
}
