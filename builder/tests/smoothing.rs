//! The local head's smoothing (bilinear upsampling and a Gaussian blur folded into one
//! separable product) against scipy's `gaussian_filter` on a bilinear upsampling, from the
//! fixture written by `scripts/make_smoothing_fixture.py`.

use adapts_builder::model::graph::{Eval, Graph};
use adapts_builder::model::local::smoothed_interpolation;
use adapts_runtime::smoothing::SmoothedMax;
use candle_core::{Device, Tensor};

#[derive(serde::Deserialize)]
struct Case {
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
    sigma: f32,
    map: Vec<f64>,
    expected: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn fixture() -> Fixture {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smoothing.json");
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(fixture.cases.len(), 3);
    fixture
}

#[test]
fn smoothing_matches_scipy_gaussian_filter() {
    for c in fixture().cases {
        let x: Vec<f32> = c.map.iter().map(|&v| v as f32).collect();
        let x = Tensor::from_vec(x, (1, 1, c.height, c.width), &Device::Cpu).unwrap();
        let rows = smoothed_interpolation(c.out_height, c.height, c.sigma);
        let cols = smoothed_interpolation(c.out_width, c.width, c.sigma);
        let y: Vec<f32> = Eval
            .separable(&x, "t", &rows, &cols, c.out_height, c.out_width)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let worst = y
            .iter()
            .zip(&c.expected)
            .map(|(&a, &b)| (f64::from(a) - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-5, "sigma {}: max deviation {worst:e}", c.sigma);
    }
}

#[test]
fn the_runtimes_score_is_the_peak_of_scipys_smoothed_map() {
    for c in fixture().cases {
        let x: Vec<f32> = c.map.iter().map(|&v| v as f32).collect();
        let score =
            SmoothedMax::new((c.height, c.width), (c.out_height, c.out_width), c.sigma).max(&x);
        let peak = c.expected.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(
            (f64::from(score) - peak).abs() <= 1e-5 * peak.abs().max(1.0),
            "sigma {}: {score} vs scipy's {peak}",
            c.sigma
        );
    }
}
