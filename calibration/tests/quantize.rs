//! Quantize/dequantize against hand-worked values, with the ONNX QuantizeLinear rules:
//! round half to even, zero point added after rounding, saturation to the integer range.

use adapts_calibration::{
    dequantize, dequantize_per_channel, fake_quantize, fake_quantize_per_channel, quantize,
    quantize_per_channel, quantize_value, Error, PerChannelParams, QuantDtype, QuantParams,
    Quantized,
};

fn int8(scale: f32) -> QuantParams {
    QuantParams::new(scale, 0, QuantDtype::Int8).expect("valid params")
}

#[test]
fn ties_round_half_to_even() {
    let p = int8(1.0);
    let x = [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49, 0.51];
    assert_eq!(
        quantize(&x, &p),
        Quantized::Int8(vec![0, 2, 2, 4, 0, -2, -2, 0, 1])
    );
    // Same ties through a scale: 0.25 / 0.5 = 0.5 -> 0, 0.75 / 0.5 = 1.5 -> 2.
    let p = int8(0.5);
    assert_eq!(
        quantize(&[0.25, 0.75, 1.25], &p),
        Quantized::Int8(vec![0, 2, 2])
    );
}

#[test]
fn zero_point_is_added_after_rounding() {
    // round(0.5) + 1 = 1, whereas round(0.5 + 1) would give 2.
    let p = QuantParams::new(1.0, 1, QuantDtype::Uint8).expect("valid");
    assert_eq!(
        quantize(&[0.5, 1.5, -0.5, 2.5], &p),
        Quantized::Uint8(vec![1, 3, 1, 3])
    );
}

#[test]
fn saturates_to_the_integer_range() {
    let p = int8(1.0);
    let x = [
        127.4,
        127.5, // ties to 128, saturates to 127
        128.0,
        1e9,
        -128.5, // ties to -128
        -129.0,
        -1e9,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    assert_eq!(
        quantize(&x, &p),
        Quantized::Int8(vec![127, 127, 127, 127, -128, -128, -128, 127, -128])
    );
    let p = QuantParams::new(1.0, 0, QuantDtype::Uint8).expect("valid");
    assert_eq!(
        quantize(&[-3.0, 255.4, 300.0], &p),
        Quantized::Uint8(vec![0, 255, 255])
    );
}

#[test]
fn nan_maps_to_the_zero_point() {
    let p = QuantParams::new(0.1, 7, QuantDtype::Uint8).expect("valid");
    assert_eq!(quantize_value(f32::NAN, &p), 7);
    assert_eq!(fake_quantize(&[f32::NAN], &p), vec![0.0]);
}

#[test]
fn dequantize_by_hand() {
    let p = int8(0.5);
    let q = Quantized::Int8(vec![-128, -1, 0, 1, 127]);
    assert_eq!(
        dequantize(&q, &p).expect("same dtype"),
        vec![-64.0, -0.5, 0.0, 0.5, 63.5]
    );
    let p = QuantParams::new(0.25, 128, QuantDtype::Uint8).expect("valid");
    let q = Quantized::Uint8(vec![0, 128, 255]);
    assert_eq!(
        dequantize(&q, &p).expect("same dtype"),
        vec![-32.0, 0.0, 31.75]
    );
    let err = dequantize(&Quantized::Int8(vec![1]), &p).expect_err("int8 data, uint8 params");
    assert!(matches!(err, Error::DtypeMismatch { .. }), "{err}");
}

#[test]
fn fake_quantize_stays_within_half_a_step() {
    // amax 1: scale 1/127. 0.3 * 127 = 38.1 -> 38; 2.0 saturates to 127.
    let p = QuantParams::symmetric_int8(1.0).expect("valid");
    let s = p.scale();
    assert_eq!(
        fake_quantize(&[0.3, 2.0, -2.0], &p),
        vec![38.0 * s, 127.0 * s, -128.0 * s]
    );
    // Inside [-amax, amax] the error is at most half a step.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..10_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let x = ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
        let y = fake_quantize(&[x], &p)[0];
        assert!((y - x).abs() <= s / 2.0 + 1e-7, "{x} -> {y}");
    }
}

#[test]
fn int8_bytes_are_twos_complement() {
    let q = Quantized::Int8(vec![-1, 0, 127, -128]);
    assert_eq!(q.to_bytes(), vec![0xff, 0x00, 0x7f, 0x80]);
    assert_eq!(q.to_i32(), vec![-1, 0, 127, -128]);
}

#[test]
fn per_channel_by_hand() {
    // [2, 3]: channel 0 amax 63.5 -> scale 0.5; channel 1 amax 127 -> scale 1.
    let w = [63.5, -10.2, 3.3, 1.0, -127.0, 2.6];
    let p = PerChannelParams::symmetric_int8(&[63.5, 127.0]).expect("valid");
    assert_eq!(p.scales(), vec![0.5, 1.0]);
    let q = quantize_per_channel(&w, &[2, 3], &p).expect("fits");
    // -10.2 / 0.5 = -20.4 -> -20; 3.3 / 0.5 = 6.6 -> 7; 2.6 -> 3.
    assert_eq!(q, Quantized::Int8(vec![127, -20, 7, 1, -127, 3]));
    let back = dequantize_per_channel(&q, &[2, 3], &p).expect("fits");
    assert_eq!(back, vec![63.5, -10.0, 3.5, 1.0, -127.0, 3.0]);
    assert_eq!(
        fake_quantize_per_channel(&w, &[2, 3], &p).expect("fits"),
        back
    );
}

#[test]
fn per_channel_checks_shapes() {
    let p = PerChannelParams::symmetric_int8(&[1.0, 1.0]).expect("valid");
    let err = quantize_per_channel(&[0.0; 6], &[3, 2], &p).expect_err("3 channels, 2 params");
    assert!(
        matches!(
            err,
            Error::ChannelMismatch {
                expected: 2,
                found: 3
            }
        ),
        "{err}"
    );
    let err = quantize_per_channel(&[0.0; 5], &[2, 3], &p).expect_err("5 values for 6");
    assert!(err.to_string().contains("[2, 3]"), "{err}");
}
