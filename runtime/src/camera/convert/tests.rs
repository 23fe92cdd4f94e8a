//! Conversions against the BT.601 definition, hand-built buffers and the JPEG codec.

use super::*;

/// BT.601 limited range from its definition (Kr = 0.299, Kb = 0.114), in floating point.
fn bt601_reference(y: u8, cb: u8, cr: u8) -> [f64; 3] {
    let (kr, kb) = (0.299, 0.114);
    let luma = (f64::from(y) - 16.0) / 219.0;
    let pb = (f64::from(cb) - 128.0) / 224.0;
    let pr = (f64::from(cr) - 128.0) / 224.0;
    let r = luma + 2.0 * (1.0 - kr) * pr;
    let b = luma + 2.0 * (1.0 - kb) * pb;
    let g = (luma - kr * r - kb * b) / (1.0 - kr - kb);
    [r, g, b].map(|v| (v * 255.0).clamp(0.0, 255.0))
}

#[test]
fn ycbcr_matches_the_bt601_definition_within_one_level() {
    for y in (0..=255u8).step_by(5) {
        for cb in (0..=255u8).step_by(5) {
            for cr in (0..=255u8).step_by(5) {
                let got = ycbcr(y, cb, cr);
                let want = bt601_reference(y, cb, cr);
                for k in 0..3 {
                    assert!(
                        (f64::from(got[k]) - want[k]).abs() <= 1.0,
                        "Y {y} Cb {cb} Cr {cr}: got {got:?}, want {want:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn ycbcr_known_colours() {
    // Full-scale colours in BT.601 limited range (Rec. 601 colour-bar values).
    let cases = [
        ((235, 128, 128), [255, 255, 255]),
        ((16, 128, 128), [0, 0, 0]),
        ((81, 90, 240), [255, 0, 0]),
        ((145, 54, 34), [0, 255, 0]),
        ((41, 240, 110), [0, 0, 255]),
    ];
    for ((y, cb, cr), want) in cases {
        let got = ycbcr(y, cb, cr);
        for k in 0..3 {
            assert!(
                got[k].abs_diff(want[k]) <= 1,
                "{y},{cb},{cr}: got {got:?}, want {want:?}"
            );
        }
    }
}

#[test]
fn yuyv_and_uyvy_place_luma_and_chroma() {
    // Two pixels sharing red chroma: white-ish luma then black luma.
    let yuyv = [235, 90, 16, 240];
    let uyvy = [90, 235, 240, 16];
    for (format, bytes) in [(PixelFormat::Yuyv, &yuyv), (PixelFormat::Uyvy, &uyvy)] {
        let img = to_rgb(format, 2, 1, 0, bytes).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, ycbcr(235, 90, 240), "{format}");
        assert_eq!(img.get_pixel(1, 0).0, ycbcr(16, 90, 240), "{format}");
    }
}

#[test]
fn yuyv_odd_width_with_padded_rows() {
    // 3x2, a row holds two pairs (8 bytes) padded to a stride of 10.
    let rows: [[u8; 10]; 2] = [
        [50, 100, 60, 150, 70, 110, 99, 120, 0xEE, 0xEE],
        [80, 128, 90, 128, 200, 60, 99, 200, 0xEE, 0xEE],
    ];
    let bytes: Vec<u8> = rows.concat();
    let img = to_rgb(PixelFormat::Yuyv, 3, 2, 10, &bytes).unwrap();
    assert_eq!(img.dimensions(), (3, 2));
    assert_eq!(img.get_pixel(0, 0).0, ycbcr(50, 100, 150));
    assert_eq!(img.get_pixel(1, 0).0, ycbcr(60, 100, 150));
    assert_eq!(img.get_pixel(2, 0).0, ycbcr(70, 110, 120));
    assert_eq!(img.get_pixel(2, 1).0, ycbcr(200, 60, 200));
    // The last row needs no padding after it.
    let img2 = to_rgb(PixelFormat::Yuyv, 3, 2, 10, &bytes[..18]).unwrap();
    assert_eq!(img, img2);
}

#[test]
fn nv12_shares_chroma_over_two_by_two_blocks() {
    // 3x3 luma, then 2 rows of 2 (Cb, Cr) pairs.
    let luma = [10, 20, 30, 40, 50, 60, 70, 80, 90];
    let chroma = [100, 150, 110, 160, 120, 170, 130, 180];
    // Chroma rows are as wide as luma rows here (stride 4 for both planes).
    let mut bytes = Vec::new();
    for row in luma.chunks(3) {
        bytes.extend_from_slice(row);
        bytes.push(0);
    }
    for row in chroma.chunks(4) {
        bytes.extend_from_slice(row);
    }
    let img = to_rgb(PixelFormat::Nv12, 3, 3, 4, &bytes).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, ycbcr(10, 100, 150));
    assert_eq!(img.get_pixel(1, 1).0, ycbcr(50, 100, 150));
    assert_eq!(img.get_pixel(2, 1).0, ycbcr(60, 110, 160));
    assert_eq!(img.get_pixel(0, 2).0, ycbcr(70, 120, 170));
    assert_eq!(img.get_pixel(2, 2).0, ycbcr(90, 130, 180));
    let short = to_rgb(PixelFormat::Nv12, 3, 3, 4, &bytes[..bytes.len() - 1]);
    assert!(
        matches!(short, Err(ConvertError::Short { .. })),
        "{short:?}"
    );
}

#[test]
fn grey_and_rgb3_copy_through_strides() {
    let grey = [1, 2, 3, 0, 4, 5, 6];
    let img = to_rgb(PixelFormat::Grey, 3, 2, 4, &grey).unwrap();
    assert_eq!(img.get_pixel(2, 0).0, [3, 3, 3]);
    assert_eq!(img.get_pixel(0, 1).0, [4, 4, 4]);
    let rgb = [1, 2, 3, 4, 5, 6, 9, 9, 7, 8, 9, 10, 11, 12];
    let img = to_rgb(PixelFormat::Rgb3, 2, 2, 8, &rgb).unwrap();
    assert_eq!(img.get_pixel(1, 0).0, [4, 5, 6]);
    assert_eq!(img.get_pixel(0, 1).0, [7, 8, 9]);
    assert_eq!(img.get_pixel(1, 1).0, [10, 11, 12]);
}

#[test]
fn bad_buffers_are_errors() {
    assert_eq!(
        to_rgb(PixelFormat::Yuyv, 4, 2, 0, &[0; 15]),
        Err(ConvertError::Short {
            needed: 16,
            got: 15
        })
    );
    assert_eq!(
        to_rgb(PixelFormat::Rgb3, 4, 1, 6, &[0; 64]),
        Err(ConvertError::Stride { stride: 6, row: 12 })
    );
    assert_eq!(
        to_rgb(PixelFormat::Grey, 0, 1, 0, &[0; 4]),
        Err(ConvertError::Size {
            width: 0,
            height: 1
        })
    );
    assert!(to_rgb(PixelFormat::Grey, 1, 1, 0, &[]).is_err());
}

fn test_pattern(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 8) as u8, (y * 8) as u8, ((x + y) * 4) as u8])
    })
}

fn encode_jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(img)
        .unwrap();
    out
}

/// The JPEG with every DHT segment removed, as a UVC camera sends it.
fn strip_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut at = 2;
    loop {
        let marker = jpeg[at + 1];
        if marker == 0xDA {
            out.extend_from_slice(&jpeg[at..]);
            return out;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if marker != 0xC4 {
            out.extend_from_slice(&jpeg[at..at + 2 + len]);
        }
        at += 2 + len;
    }
}

#[test]
fn standard_tables_are_complete() {
    for (counts, symbols) in [
        (&DC_LUMA_COUNTS, &DC_SYMBOLS[..]),
        (&DC_CHROMA_COUNTS, &DC_SYMBOLS[..]),
        (&AC_LUMA_COUNTS, &AC_LUMA_SYMBOLS[..]),
        (&AC_CHROMA_COUNTS, &AC_CHROMA_SYMBOLS[..]),
    ] {
        let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
        assert_eq!(n, symbols.len());
    }
    // Four tables of 17 bytes of header each, 12 + 12 + 162 + 162 symbols, 4 bytes of marker.
    assert_eq!(standard_dht().len(), 4 + 4 * 17 + 12 + 12 + 162 + 162);
}

#[test]
fn mjpg_decodes_and_matches_the_source_within_jpeg_error() {
    let src = test_pattern(33, 17);
    let jpeg = encode_jpeg(&src);
    let img = to_rgb(PixelFormat::Mjpg, 33, 17, 0, &jpeg).unwrap();
    let mean_err: f64 = img
        .as_raw()
        .iter()
        .zip(src.as_raw())
        .map(|(&a, &b)| f64::from(a.abs_diff(b)))
        .sum::<f64>()
        / img.as_raw().len() as f64;
    assert!(mean_err < 4.0, "mean error {mean_err}");
    // Zero padding after the end-of-image marker is accepted.
    let mut padded = jpeg.clone();
    padded.extend_from_slice(&[0; 100]);
    assert_eq!(to_rgb(PixelFormat::Mjpg, 33, 17, 0, &padded).unwrap(), img);
}

#[test]
fn mjpg_without_huffman_tables_decodes_like_with_them() {
    let jpeg = encode_jpeg(&test_pattern(40, 24));
    let bare = strip_huffman_tables(&jpeg);
    assert!(bare.len() < jpeg.len(), "the encoder wrote Huffman tables");
    assert!(
        image::load_from_memory(&bare).is_err(),
        "decoders need the tables"
    );
    let want = to_rgb(PixelFormat::Mjpg, 40, 24, 0, &jpeg).unwrap();
    let got = to_rgb(PixelFormat::Mjpg, 40, 24, 0, &bare).unwrap();
    assert_eq!(got, want);
}

#[test]
fn corrupt_or_truncated_mjpg_is_an_error() {
    let jpeg = encode_jpeg(&test_pattern(32, 32));
    for cut in [0, 1, 2, 3, 10, jpeg.len() / 2, jpeg.len() - 1] {
        let got = to_rgb(PixelFormat::Mjpg, 32, 32, 0, &jpeg[..cut]);
        assert!(
            matches!(got, Err(ConvertError::Jpeg(_))),
            "cut at {cut}: {got:?}"
        );
    }
    let wrong_size = to_rgb(PixelFormat::Mjpg, 64, 32, 0, &jpeg);
    assert!(
        matches!(&wrong_size, Err(ConvertError::Jpeg(why)) if why.contains("32x32")),
        "{wrong_size:?}"
    );
    // A broken segment length and garbage between SOI and EOI.
    let mut broken = jpeg.clone();
    broken[4] = 0xFF;
    broken[5] = 0xFF;
    assert!(to_rgb(PixelFormat::Mjpg, 32, 32, 0, &broken).is_err());
    let mut garbage = vec![0xFF, 0xD8];
    garbage.extend((0..500u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    garbage.extend_from_slice(&[0xFF, 0xD9]);
    assert!(to_rgb(PixelFormat::Mjpg, 32, 32, 0, &garbage).is_err());
}
