//! TensorRT calibration cache I/O: a known line computed by hand, a cache as TensorRT
//! writes it, round trips, and parse errors that name the line.

use std::path::PathBuf;

use adapts_calibration::{
    tensorrt_version_tag, CalibrationAlgorithm, CalibrationCache, Error, QuantDtype, QuantParams,
};

#[test]
fn one_over_127_encodes_to_its_bits() {
    // 1/127 = 2^-7 * (128/127). Biased exponent 127 - 7 = 120; mantissa
    // round(2^23 * (128/127 - 1)) = round(8388608 / 127) = round(66052.03) = 66052 = 0x10204.
    let bits: u32 = (120 << 23) | 66052;
    assert_eq!(bits, 0x3c01_0204);
    let scale = 1.0_f32 / 127.0;
    assert_eq!(scale.to_bits(), bits);

    let params = QuantParams::symmetric_int8(1.0).expect("valid");
    let mut cache = CalibrationCache::new(8502, CalibrationAlgorithm::Entropy2);
    cache.insert("input", &params).expect("symmetric int8");
    assert_eq!(
        cache.to_text(),
        "TRT-8502-EntropyCalibration2\ninput: 3c010204\n"
    );
    assert_eq!(cache.amax("input"), Some(scale * 127.0));
}

#[test]
fn parses_a_cache_as_tensorrt_writes_it() {
    // Unpadded lowercase hex, `0` for a zero scale, names with spaces and brackets.
    let text = "TRT-8401-EntropyCalibration2\n\
                input: 3caa54fc\n\
                (Unnamed Layer* 64) [Shuffle]_output: 0\n\
                404: 3d5c11b5\n";
    let cache = CalibrationCache::parse(text).expect("valid cache");
    assert_eq!(cache.tensorrt_version(), 8401);
    assert_eq!(cache.algorithm(), CalibrationAlgorithm::Entropy2);
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.scale("input"), Some(f32::from_bits(0x3caa_54fc)));
    assert_eq!(
        cache.scale("(Unnamed Layer* 64) [Shuffle]_output"),
        Some(0.0)
    );
    assert_eq!(cache.to_text(), text);
}

#[test]
fn round_trips_through_text_and_file() {
    let mut cache =
        CalibrationCache::new(tensorrt_version_tag(8, 5, 2), CalibrationAlgorithm::MinMax);
    for (name, scale) in [
        ("images", 1.0 / 127.0),
        ("layer2.adapter/Relu:0", 0.031_25),
        ("tiny", f32::MIN_POSITIVE),
        ("zero", 0.0),
    ] {
        cache.insert_scale(name, scale).expect("valid entry");
    }
    cache.insert_scale("images", 0.5).expect("replace in place");
    assert_eq!(cache.entries().next(), Some(("images", 0.5)));

    let text = cache.to_text();
    assert!(text.starts_with("TRT-8502-MinMaxCalibration\n"), "{text}");
    assert!(text.contains("tiny: 800000\n"), "{text}");
    assert_eq!(CalibrationCache::parse(&text).expect("parse back"), cache);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("calibration.cache");
    std::fs::write(&path, cache.to_text()).expect("write");
    assert_eq!(CalibrationCache::read(&path).expect("read back"), cache);
}

#[test]
fn version_tags_follow_tensorrt_headers() {
    assert_eq!(tensorrt_version_tag(7, 1, 3), 7103);
    assert_eq!(tensorrt_version_tag(8, 4, 1), 8401);
    assert_eq!(tensorrt_version_tag(8, 5, 2), 8502);
    assert_eq!(tensorrt_version_tag(10, 3, 0), 100_300);
    assert_eq!(tensorrt_version_tag(10, 14, 1), 101_401);
}

fn parse_error(text: &str) -> (usize, String, String) {
    match CalibrationCache::parse(text) {
        Err(Error::CacheParse {
            line,
            content,
            reason,
            ..
        }) => (line, content, reason),
        other => panic!("expected a parse error for {text:?}, got {other:?}"),
    }
}

#[test]
fn parse_errors_name_line_and_content() {
    let (line, content, _) = parse_error("TRT8502-EntropyCalibration2\n");
    assert_eq!((line, content.as_str()), (1, "TRT8502-EntropyCalibration2"));

    let (line, _, reason) = parse_error("TRT-8502-LegacyCalibration\n");
    assert_eq!(line, 1);
    assert!(reason.contains("LegacyCalibration"), "{reason}");

    let (line, content, reason) = parse_error("TRT-8502-EntropyCalibration2\na: 3c010204\nb: 3g\n");
    assert_eq!((line, content.as_str()), (3, "b: 3g"));
    assert!(reason.contains("3g"), "{reason}");

    let (line, content, _) = parse_error("TRT-8502-EntropyCalibration2\n\nno colon here\n");
    assert_eq!((line, content.as_str()), (3, "no colon here"));

    let (line, _, reason) = parse_error("TRT-8502-EntropyCalibration2\na: 1\na: 2\n");
    assert_eq!(line, 3);
    assert!(reason.contains("twice"), "{reason}");

    let (line, _, _) = parse_error("TRT-8502-EntropyCalibration2\na: 7fc00000\n");
    assert_eq!(line, 2);
    let (line, _, _) = parse_error("TRT-8502-EntropyCalibration2\na: 123456789\n");
    assert_eq!(line, 2);
    let (line, _, _) = parse_error("");
    assert_eq!(line, 1);

    let err = CalibrationCache::parse("TRT-8502-EntropyCalibration2\nx: zz\n").expect_err("bad");
    let msg = err.to_string();
    assert!(msg.contains("line 2") && msg.contains("x: zz"), "{msg}");
}

#[test]
fn read_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.cache");
    std::fs::write(&path, "TRT-8502-EntropyCalibration2\nx: -\n").expect("write temp");
    let err = CalibrationCache::read(&path).expect_err("bad scale");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("line 2"),
        "{msg}"
    );

    let missing = PathBuf::from("/nonexistent/adapts.cache");
    assert!(matches!(
        CalibrationCache::read(&missing),
        Err(Error::Io { .. })
    ));
}

#[test]
fn accepts_crlf_line_ends() {
    let cache =
        CalibrationCache::parse("TRT-8502-EntropyCalibration2\r\nin: 3c010204\r\n").expect("valid");
    assert_eq!(cache.scale("in"), Some(1.0 / 127.0));
}

#[test]
fn refuses_what_tensorrt_cannot_read() {
    let mut cache = CalibrationCache::new(8502, CalibrationAlgorithm::Entropy2);
    let uint8 = QuantParams::new(0.1, 3, QuantDtype::Uint8).expect("valid");
    assert!(matches!(
        cache.insert("a", &uint8),
        Err(Error::NotSymmetricInt8 { .. })
    ));
    assert!(cache.insert_scale("", 1.0).is_err());
    assert!(cache.insert_scale("two\nlines", 1.0).is_err());
    assert!(cache.insert_scale("neg", -1.0).is_err());
    assert!(cache.insert_scale("nan", f32::NAN).is_err());
    assert!(cache.is_empty());
}
