//! Entry points for fuzzing every decoder that takes input from outside: the bundle manifest,
//! image files, camera buffers, the station configuration and the stdin line protocol. The
//! cargo-fuzz targets in `fuzz/` call these, and the stable test suite replays the committed
//! corpus and every crash input through them (`tests/integration/fuzz_corpus.rs`), so a fixed
//! crash stays fixed.
//!
//! Each function must return normally for any input: an error is a correct answer, a panic,
//! an abort or unbounded memory is a bug. Where a property holds for every input it is
//! asserted (a manifest that decodes re-encodes to bytes that decode to the same encoding).

use std::path::Path;

use adapts_boards::PixelFormat;

use crate::bundle::{decode_manifest, encode_manifest, split_manifest};
use crate::station::config::StationConfig;
use crate::station::stdio::{parse_line, read_bounded_line, InputLine};
use crate::trust::{PublicKey, SecretKey, TrustPolicy};

/// A fuzz target: any bytes in, no panic out.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name of their corpus folder.
pub const TARGETS: [(&str, Target); 5] = [
    ("manifest", manifest),
    ("image", image),
    ("camera_frame", camera_frame),
    ("station_config", station_config),
    ("line_protocol", line_protocol),
];

/// The bundle manifest: envelope, signature block against a trust key, body, consistency
/// rules; a decoded manifest must survive a re-encoding.
pub fn manifest(data: &[u8]) {
    let path = Path::new("fuzz/manifest.postcard");
    if let Ok(parts) = split_manifest(data, path) {
        let key: PublicKey = SecretKey::from_seed([7; 32]).public();
        let _ = TrustPolicy::with_keys(vec![key]).check(&parts, path);
        let _ = TrustPolicy::default().check(&parts, path);
    }
    if let Ok(manifest) = decode_manifest(data, path) {
        let _ = manifest.validate(path);
        if let Ok(encoded) = encode_manifest(&manifest) {
            let again = decode_manifest(&encoded, path).expect("a re-encoded manifest decodes");
            assert_eq!(
                encode_manifest(&again).expect("encodes"),
                encoded,
                "encoding is stable"
            );
        }
    }
}

/// An image file (PNG or JPEG, format guessed), within the decoder limits.
pub fn image(data: &[u8]) {
    let _ = crate::preprocess::decode_rgb(data);
}

/// A camera buffer of any length: the first byte picks the pixel format, the next four the
/// width and height (1..=64 each), the next two the stride padding; the rest is the buffer.
pub fn camera_frame(data: &[u8]) {
    let [format, w, h, pad, _, rest @ ..] = data else {
        return;
    };
    let formats = [
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Mjpg,
        PixelFormat::Grey,
        PixelFormat::Rgb3,
        PixelFormat::Nv12,
    ];
    let format = formats[usize::from(*format) % formats.len()];
    let (width, height) = (u32::from(w % 64) + 1, u32::from(h % 64) + 1);
    let bytes_per_pixel = match format {
        PixelFormat::Yuyv | PixelFormat::Uyvy => 2,
        PixelFormat::Rgb3 => 3,
        _ => 1,
    };
    let stride = width as usize * bytes_per_pixel + usize::from(pad % 8);
    let _ = crate::camera::convert::to_rgb(format, width, height, stride, rest);
}

/// `station.toml` text, parsed and planned (board profiles only by built-in name: a path
/// would read files).
pub fn station_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Path::new("fuzz/station.toml");
    let Ok(mut config) = StationConfig::parse(text, origin) else {
        return;
    };
    if config
        .board
        .as_deref()
        .is_some_and(|b| b.contains('/') || b.ends_with(".toml"))
    {
        config.board = None;
    }
    let _ = config.plan(origin, Path::new("/nonexistent"));
}

/// Standard input of the line protocol, read with a small line limit.
pub fn line_protocol(data: &[u8]) {
    let mut input = std::io::BufReader::with_capacity(16, data);
    while let Ok(Some(line)) = read_bounded_line(&mut input, 64) {
        if let InputLine::Text(text) = line {
            let _ = parse_line(&text);
        }
    }
}
