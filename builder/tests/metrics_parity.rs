//! Metric parity with scikit-learn on fixed arrays.
//!
//! `tests/fixtures/metrics.json` holds arrays and scikit-learn's `roc_auc_score`,
//! `average_precision_score` and F1max (over `precision_recall_curve`), written by
//! `scripts/make_metric_fixtures.py` (see its docstring to regenerate). This test needs no
//! Python: it asserts our exact, sort-based metrics agree to <= 1e-6.
//!
//! `tests/fixtures/pixel_metrics.json` (from `scripts/make_pixel_metric_fixtures.py`) holds
//! anomaly maps and masks with scikit-learn's pixel ROC, AP and F1max and the MVTec AD
//! reference AUPRO (scipy 8-connected regions, its own trapezoid), checked the same way.

use adapts_builder::eval::metrics::{
    aupro, auroc, average_precision, f1_max, pixel_auroc, PixelScores,
};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-6;

#[derive(Deserialize)]
struct Fixture {
    sklearn: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    scores: Vec<f32>,
    labels: Vec<u8>,
    auroc: f64,
    average_precision: f64,
    f1_max: f64,
    f1_threshold: f32,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/metrics.json");
    let text = std::fs::read_to_string(path).expect("read metrics fixture");
    serde_json::from_str(&text).expect("parse metrics fixture")
}

#[test]
fn metrics_match_scikit_learn() {
    let fixture = fixture();
    assert!(fixture.cases.len() >= 9, "fixture lost cases");
    let mut worst = 0f64;
    for case in &fixture.cases {
        let labels: Vec<bool> = case.labels.iter().map(|&l| l == 1).collect();
        let scores = &case.scores;
        let name = &case.name;
        let checks = [
            ("auroc", auroc(scores, &labels), case.auroc),
            ("pixel_auroc", pixel_auroc(scores, &labels), case.auroc),
            (
                "average_precision",
                average_precision(scores, &labels),
                case.average_precision,
            ),
            ("f1_max", f1_max(scores, &labels).map(|f| f.0), case.f1_max),
        ];
        for (metric, ours, sklearn) in checks {
            let ours = ours.unwrap_or_else(|| panic!("{name}: {metric} is None"));
            let deviation = (ours - sklearn).abs();
            assert!(
                deviation <= TOLERANCE,
                "{name}: {metric} {ours} vs sklearn {sklearn}"
            );
            worst = worst.max(deviation);
        }
        let threshold = f1_max(scores, &labels).map(|f| f.1);
        assert_eq!(
            threshold,
            Some(case.f1_threshold),
            "{name}: F1max threshold"
        );
    }
    eprintln!(
        "{} cases, scikit-learn {}: max deviation {worst:e}",
        fixture.cases.len(),
        fixture.sklearn
    );
}

#[test]
fn fixture_covers_ties_all_equal_and_single_positive() {
    let fixture = fixture();
    let case = |name: &str| {
        fixture
            .cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("case {name} missing"))
    };
    let all_equal = case("all_equal");
    assert!(all_equal.scores.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(all_equal.auroc, 0.5);
    assert_eq!(
        case("one_positive")
            .labels
            .iter()
            .filter(|&&l| l == 1)
            .count(),
        1
    );
    let ties = case("ties_2_decimals");
    let mut distinct = ties.scores.clone();
    distinct.sort_by(f32::total_cmp);
    distinct.dedup();
    assert!(distinct.len() < ties.scores.len() / 2, "too few ties");
    assert!(case("large_2000").scores.len() >= 2000);
    // One class missing: every metric declines.
    let scores = &all_equal.scores;
    let negatives = vec![false; scores.len()];
    assert_eq!(auroc(scores, &negatives), None);
    assert_eq!(average_precision(scores, &negatives), None);
    assert_eq!(f1_max(scores, &negatives), None);
}

#[derive(Deserialize)]
struct PixelFixture {
    sklearn: String,
    scipy: String,
    cases: Vec<PixelCase>,
}

#[derive(Deserialize)]
struct PixelCase {
    name: String,
    width: usize,
    height: usize,
    maps: Vec<Vec<f32>>,
    masks: Vec<Vec<u8>>,
    auroc: f64,
    average_precision: f64,
    f1_max: f64,
    #[serde(rename = "aupro_0.3")]
    aupro_03: f64,
    #[serde(rename = "aupro_0.05")]
    aupro_005: f64,
}

#[test]
fn pixel_metrics_match_scikit_learn_and_the_mvtec_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pixel_metrics.json"
    );
    let text = std::fs::read_to_string(path).expect("read pixel metrics fixture");
    let fixture: PixelFixture = serde_json::from_str(&text).expect("parse pixel fixture");
    assert!(fixture.cases.len() >= 4, "fixture lost cases");
    let mut worst = 0f64;
    for case in &fixture.cases {
        let (w, h) = (case.width, case.height);
        let masks: Vec<Vec<bool>> = case
            .masks
            .iter()
            .map(|m| m.iter().map(|&v| v == 1).collect())
            .collect();
        let fill = || {
            let mut acc = PixelScores::default();
            for (map, mask) in case.maps.iter().zip(&masks) {
                if mask.iter().any(|&d| d) {
                    acc.add_image(map, mask, w, h).unwrap();
                } else {
                    acc.add_normal(map);
                }
            }
            acc
        };
        let at_03 = fill().metrics(0.3);
        let at_005 = fill().metrics(0.05);
        let maps: Vec<&[f32]> = case.maps.iter().map(|m| m.as_slice()).collect();
        let mask_refs: Vec<&[bool]> = masks.iter().map(|m| m.as_slice()).collect();
        let checks = [
            ("P-ROC", at_03.auroc, case.auroc),
            ("P-AP", at_03.average_precision, case.average_precision),
            ("P-F1max", at_03.f1_max, case.f1_max),
            ("AUPRO@0.3", at_03.aupro, case.aupro_03),
            ("AUPRO@0.05", at_005.aupro, case.aupro_005),
            (
                "aupro()@0.3",
                aupro(&maps, &mask_refs, w, h, 0.3),
                case.aupro_03,
            ),
        ];
        for (metric, ours, reference) in checks {
            let ours = ours.unwrap_or_else(|| panic!("{}: {metric} is None", case.name));
            let deviation = (ours - reference).abs();
            assert!(
                deviation <= TOLERANCE,
                "{}: {metric} {ours} vs reference {reference}",
                case.name
            );
            worst = worst.max(deviation);
        }
    }
    eprintln!(
        "{} pixel cases, scikit-learn {}, scipy {}: max deviation {worst:e}",
        fixture.cases.len(),
        fixture.sklearn,
        fixture.scipy
    );
}
