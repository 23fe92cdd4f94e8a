//! Observers against independent oracles: an exact sort-based percentile, a histogram built
//! in one pass at the final range, and hand-worked per-channel ranges.

use adapts_calibration::{
    fake_quantize, quantize, MinMaxObserver, Observer, PerChannelMinMaxObserver,
    PercentileObserver, Quantized, Range,
};

/// xorshift64*: a fixed pseudo-random stream, so the test data never changes.
struct Stream(u64);

impl Stream {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Activation-like batches: roughly normal values whose spread grows batch by batch (so the
/// histogram range grows several times), plus rare large outliers.
fn activations() -> Vec<Vec<f32>> {
    let mut rng = Stream(0x9e37_79b9_7f4a_7c15);
    (0..200)
        .map(|b| {
            let spread = 0.5 + b as f64 * 0.05;
            (0..1000)
                .map(|_| {
                    let bell = (0..4).map(|_| rng.unit()).sum::<f64>() - 2.0;
                    let outlier = if rng.unit() < 0.001 { 20.0 } else { 1.0 };
                    (bell * spread * outlier) as f32
                })
                .collect()
        })
        .collect()
}

/// Nearest-rank percentile of sorted values.
fn exact_percentile(sorted: &[f32], p: f64) -> f32 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

#[test]
fn percentile_matches_sorting_within_one_bin() {
    let batches = activations();
    let mut obs = PercentileObserver::new(99.99).expect("valid");
    for batch in &batches {
        obs.observe(batch).expect("finite");
    }
    let all: Vec<f32> = batches.concat();
    assert_eq!(obs.count(), all.len() as u64);
    assert_eq!(obs.counts().iter().sum::<u64>(), all.len() as u64);

    let width = obs.bin_width();
    let tolerance = |v: f32| width * (1.0 + 1e-6) + v.abs() * f32::EPSILON;

    let mut signed = all.clone();
    signed.sort_by(f32::total_cmp);
    for p in [0.01, 0.1, 1.0, 25.0, 50.0, 75.0, 99.0, 99.9, 99.99] {
        let exact = exact_percentile(&signed, p);
        let estimate = obs.percentile_value(p).expect("observed");
        assert!(
            (estimate - exact).abs() <= tolerance(exact),
            "p{p}: histogram {estimate}, sort {exact}, bin width {width}"
        );
    }

    let mut magnitudes: Vec<f32> = all.iter().map(|x| x.abs()).collect();
    magnitudes.sort_by(f32::total_cmp);
    for p in [50.0, 90.0, 99.0, 99.9, 99.99] {
        let exact = exact_percentile(&magnitudes, p);
        let estimate = obs.abs_percentile(p).expect("observed");
        assert!(
            (estimate - exact).abs() <= tolerance(exact),
            "|x| p{p}: histogram {estimate}, sort {exact}, bin width {width}"
        );
    }
    // The observer's own amax is its configured percentile of |x|.
    let exact = exact_percentile(&magnitudes, 99.99);
    assert!((obs.amax().expect("observed") - exact).abs() <= tolerance(exact));
    // And 100 % is the true extreme.
    assert_eq!(obs.abs_percentile(100.0).ok(), magnitudes.last().copied());
}

#[test]
fn range_growth_rebins_exactly() {
    let mut rng = Stream(7);
    let small: Vec<f32> = (0..5000).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect();
    let large: Vec<f32> = (0..5000)
        .map(|_| (rng.unit() * 20.0 - 10.0) as f32)
        .collect();

    // Grown: starts at R = 1, the second batch needs 10, so R doubles to 16.
    let mut grown = PercentileObserver::new(99.0)
        .and_then(|o| o.with_initial_range(1.0))
        .expect("valid");
    grown.observe(&small).expect("finite");
    assert_eq!(grown.half_range(), 1.0);
    grown.observe(&large).expect("finite");
    assert_eq!(grown.half_range(), 16.0);

    // Oracle: the same values binned once at the final range.
    let mut direct = PercentileObserver::new(99.0)
        .and_then(|o| o.with_initial_range(16.0))
        .expect("valid");
    direct.observe(&small).expect("finite");
    direct.observe(&large).expect("finite");
    assert_eq!(grown.counts(), direct.counts());
    assert_eq!(grown.amax().ok(), direct.amax().ok());
}

#[test]
fn range_growth_far_beyond_the_bin_count_keeps_every_value() {
    let mut obs = PercentileObserver::with_bins(50.0, 16).expect("valid");
    obs.observe(&[0.5, -0.25, 1.0, -1.0]).expect("finite");
    obs.observe(&[1.0e6]).expect("finite");
    assert_eq!(obs.counts().iter().sum::<u64>(), 5);
    assert!(obs.half_range() >= 1.0e6);
    // Four of five values are tiny: the median of |x| lies in the first bin.
    assert!(obs.abs_percentile(50.0).expect("observed") <= obs.bin_width());
    assert_eq!(obs.abs_percentile(100.0).ok(), Some(1.0e6));
}

#[test]
fn all_zero_input_quantizes_to_zero() {
    let zeros = [0.0_f32; 32];
    let mut minmax = MinMaxObserver::new();
    let mut percentile = PercentileObserver::new(99.99).expect("valid");
    minmax.observe(&zeros).expect("finite");
    percentile.observe(&zeros).expect("finite");
    for params in [
        minmax.symmetric_int8(),
        minmax.asymmetric_uint8(),
        percentile.symmetric_int8(),
        percentile.asymmetric_uint8(),
    ] {
        let params = params.expect("params");
        assert!(params.scale() > 0.0 && params.scale().is_finite());
        let fake = fake_quantize(&zeros, &params);
        assert!(fake.iter().all(|&y| y == 0.0), "{fake:?}");
    }
    let params = minmax.symmetric_int8().expect("params");
    assert_eq!(quantize(&zeros[..2], &params), Quantized::Int8(vec![0, 0]));
}

#[test]
fn nothing_observed_is_an_error() {
    let obs = PercentileObserver::new(99.0).expect("valid");
    assert!(obs.amax().is_err());
    assert!(MinMaxObserver::new().symmetric_int8().is_err());
    assert!(PerChannelMinMaxObserver::new().symmetric_int8().is_err());
}

#[test]
fn per_channel_ranges_by_hand() {
    // [3, 2, 1, 1]: channel 0 = [0.5, -2], channel 1 = [0, 0], channel 2 = [127, 3].
    let w = [0.5, -2.0, 0.0, 0.0, 127.0, 3.0];
    let mut obs = PerChannelMinMaxObserver::new();
    obs.observe(&w, &[3, 2, 1, 1]).expect("fits");
    assert_eq!(obs.channels(), 3);
    assert_eq!(
        obs.ranges().expect("observed"),
        &[
            Range {
                min: -2.0,
                max: 0.5
            },
            Range { min: 0.0, max: 0.0 },
            Range {
                min: 3.0,
                max: 127.0
            },
        ]
    );
    let params = obs.symmetric_int8().expect("params");
    assert_eq!(params.scales(), vec![2.0 / 127.0, 1.0, 1.0]);

    // A second tensor widens the ranges channel by channel.
    obs.observe(&[4.0, 0.0, -1.0, 0.0, 0.0, 0.0], &[3, 2, 1, 1])
        .expect("fits");
    assert_eq!(obs.amaxes().expect("observed"), vec![4.0, 1.0, 127.0]);
    assert!(obs.observe(&[0.0; 4], &[2, 2]).is_err());
    assert!(matches!(
        obs.observe(&[f32::NAN; 6], &[3, 2]),
        Err(adapts_calibration::Error::NonFiniteWeight { index: 0, .. })
    ));
}

#[test]
fn entropy_keeps_the_range_of_evenly_spread_values() {
    // |x| spread evenly over [0, 4): no clipping loses less than keeping it all.
    let values: Vec<f32> = (0..40_000).map(|i| (i as f32 / 10_000.0) - 2.0).collect();
    let mut obs = adapts_calibration::EntropyObserver::new();
    obs.observe(&values).unwrap();
    let amax = obs.amax().unwrap();
    assert!((amax - 2.0).abs() < 0.01, "amax {amax}");
}

#[test]
fn entropy_clips_a_lone_outlier() {
    // 100,000 roughly normal values (a sum of four uniforms, |x| < 2) and one at 100:
    // min-max would spend the INT8 levels on the outlier; the entropy rule clips far below
    // it but keeps the bulk.
    let mut stream = Stream(0x9e37_79b9_7f4a_7c15);
    let mut values: Vec<f32> = (0..100_000)
        .map(|_| ((0..4).map(|_| stream.unit()).sum::<f64>() - 2.0) as f32)
        .collect();
    values.push(100.0);
    let mut obs = adapts_calibration::EntropyObserver::new();
    obs.observe(&values).unwrap();
    let amax = obs.amax().unwrap();
    let bulk = values[..100_000].iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(amax < 10.0 && amax > 0.5 * bulk, "amax {amax}, bulk {bulk}");
    let range = obs.range().unwrap();
    assert_eq!(range.max, amax);
    assert!(range.min < 0.0 && range.min >= -amax);
}

#[test]
fn entropy_of_nothing_is_an_error() {
    let obs = adapts_calibration::EntropyObserver::new();
    assert!(obs.amax().is_err());
}
