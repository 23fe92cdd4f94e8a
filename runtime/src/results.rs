//! The results file: one JSON object per judged frame, on one line. `adapts-runtime run`
//! writes it, and `adapts-builder report` (and any PLC gateway or script) reads it back
//! through the same [`ResultLine`] type, so writer and readers cannot drift apart.
//!
//! Values that were not computed (the score of an unknown product, say) are `null`. Reasons
//! are the stable codes of [`ReasonCode`].
//!
//! ```
//! use adapts_runtime::results::ResultLine;
//!
//! let line = r#"{"image":"washer/good/000.png","product":"washer","nearest":"washer",
//!   "distance":0.8,"routing_radius":2.5,"score":1.2,"threshold":4.4,"ratio":0.27,
//!   "verdict":"PASS","reason":null,"message":null,"heatmap":null,
//!   "latency_ms":{"preprocess":0.4,"trunk":3.0,"route":0.01,"adapters":0.2,"head":0.1,"total":3.8}}"#;
//! let r = ResultLine::parse(&line.replace('\n', "")).unwrap();
//! assert_eq!(r.product.as_deref(), Some("washer"));
//! ```

use serde::{Deserialize, Serialize};

use crate::pipeline::{Inference, Latency, ReasonCode, Verdict};

/// One line of a results file: the verdict for one frame and what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultLine {
    /// The frame's id (for `dir:` sources, its path relative to the source directory).
    pub image: String,
    /// The station trigger this line answers (counted from 1); absent outside a station.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<u64>,
    /// The frame's sequence number at its source (station only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    /// When the frame was captured, milliseconds since the Unix epoch (station only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_unix_ms: Option<u64>,
    /// The product the frame was judged as; `None` when unknown or not judged.
    pub product: Option<String>,
    /// The nearest product by routing, also when too far to count.
    pub nearest: Option<String>,
    /// Routing distance to that product.
    pub distance: Option<f32>,
    /// That product's routing radius.
    pub routing_radius: Option<f32>,
    /// Image anomaly score.
    pub score: Option<f32>,
    /// The product's threshold.
    pub threshold: Option<f32>,
    /// `score / threshold`: above 1 is FAIL, the same across products.
    pub ratio: Option<f32>,
    /// PASS or FAIL.
    pub verdict: Verdict,
    /// Why the verdict is FAIL; `None` for PASS.
    pub reason: Option<ReasonCode>,
    /// The message behind `camera` and `error`.
    pub message: Option<String>,
    /// The heatmap file written for this frame, if any.
    pub heatmap: Option<String>,
    /// Time per step, milliseconds.
    pub latency_ms: LatencyMs,
}

/// Per-step latency in milliseconds, as written to the results file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyMs {
    /// Resize and normalise.
    pub preprocess: f64,
    /// Trunk and later stages.
    pub trunk: f64,
    /// Routing.
    pub route: f64,
    /// The product's adapters or map.
    pub adapters: f64,
    /// Head.
    pub head: f64,
    /// The whole frame.
    pub total: f64,
}

impl From<Latency> for LatencyMs {
    /// Rounded to microseconds: finer digits are timer noise.
    fn from(l: Latency) -> Self {
        let us = |ms: f64| (ms * 1e3).round() / 1e3;
        Self {
            preprocess: us(l.preprocess_ms),
            trunk: us(l.trunk_ms),
            route: us(l.route_ms),
            adapters: us(l.adapters_ms),
            head: us(l.head_ms),
            total: us(l.total_ms),
        }
    }
}

/// A computed value, `None` for NaN (not computed).
fn finite(v: f32) -> Option<f32> {
    (!v.is_nan()).then_some(v)
}

impl ResultLine {
    /// The line for frame `image` judged as `result`, with the heatmap written for it.
    pub fn new(image: &str, result: &Inference, heatmap: Option<String>) -> Self {
        Self {
            image: image.to_string(),
            trigger: None,
            frame: None,
            captured_unix_ms: None,
            product: result.product.clone(),
            nearest: result.nearest.clone(),
            distance: finite(result.distance),
            routing_radius: finite(result.routing_radius),
            score: finite(result.score),
            threshold: finite(result.threshold),
            ratio: finite(result.ratio),
            verdict: result.verdict,
            reason: result.reason.as_ref().map(|r| r.kind()),
            message: result
                .reason
                .as_ref()
                .and_then(|r| r.message())
                .map(str::to_string),
            heatmap,
            latency_ms: result.latency.into(),
        }
    }

    /// The line as JSON, without the line break.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and enums always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one line; the error says which field is wrong.
    pub fn parse(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Reason;

    fn unknown() -> Inference {
        let mut r = Inference::failed("x");
        r.reason = Some(Reason::UnknownProduct);
        r.nearest = Some("washer".into());
        r.distance = 9.5;
        r.routing_radius = 2.0;
        r
    }

    #[test]
    fn uncomputed_values_are_null_and_the_line_reads_back() {
        let line = ResultLine::new("pcb/good/000.png", &unknown(), None);
        let json = line.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["reason"], "unknown_product");
        assert_eq!(v["verdict"], "FAIL");
        assert!(v["score"].is_null() && v["ratio"].is_null() && v["product"].is_null());
        assert_eq!(v["distance"], 9.5);
        assert!(!json.contains('\n'));
        assert_eq!(ResultLine::parse(&json).unwrap(), line);
    }

    #[test]
    fn every_reason_code_round_trips_as_its_stable_name() {
        for code in ReasonCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ReasonCode>(&json).unwrap(), code);
        }
        let messages = [
            (Reason::Camera("gone".into()), "camera", Some("gone")),
            (Reason::Error("bad".into()), "error", Some("bad")),
            (Reason::Deadline, "deadline", None),
            (Reason::Busy, "busy", None),
            (Reason::Anomaly, "anomaly", None),
        ];
        for (reason, code, message) in messages {
            assert_eq!(reason.code(), code);
            assert_eq!(reason.message(), message);
        }
    }

    #[test]
    fn a_bad_line_names_the_field() {
        let json = ResultLine::new("a/good/1.png", &unknown(), None)
            .to_json()
            .replace("unknown_product", "melted");
        let err = ResultLine::parse(&json).unwrap_err().to_string();
        assert!(err.contains("melted"), "{err}");
        let err = ResultLine::parse(r#"{"image": "a"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("verdict"), "{err}");
    }
}
