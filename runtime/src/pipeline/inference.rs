//! What the pipeline answers for one frame: the verdict, why it failed, the scores behind
//! it and the time each step took.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::tensor::Tensor;

/// The decision for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The part is good.
    #[serde(rename = "PASS")]
    Pass,
    /// The part is rejected: anomalous, unknown, or the frame could not be judged.
    #[serde(rename = "FAIL")]
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        })
    }
}

/// Why a frame is FAIL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The score is above the product's threshold.
    Anomaly,
    /// The routing distance is beyond the nearest product's radius.
    UnknownProduct,
    /// The result was not ready within the trigger's deadline.
    Deadline,
    /// The trigger arrived while the trigger queue was full.
    Busy,
    /// No frame came from the camera; the message says why.
    Camera(String),
    /// The frame could not be judged; the message says why.
    Error(String),
}

/// The stable code of a [`Reason`], as results files and PLC gateways read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// `anomaly`
    Anomaly,
    /// `unknown_product`
    UnknownProduct,
    /// `deadline`
    Deadline,
    /// `busy`
    Busy,
    /// `camera`
    Camera,
    /// `error`
    Error,
}

impl ReasonCode {
    /// Every code, in the order above.
    pub const ALL: [ReasonCode; 6] = [
        ReasonCode::Anomaly,
        ReasonCode::UnknownProduct,
        ReasonCode::Deadline,
        ReasonCode::Busy,
        ReasonCode::Camera,
        ReasonCode::Error,
    ];

    /// The code as written: `anomaly`, `unknown_product`, `deadline`, `busy`, `camera` or
    /// `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Anomaly => "anomaly",
            ReasonCode::UnknownProduct => "unknown_product",
            ReasonCode::Deadline => "deadline",
            ReasonCode::Busy => "busy",
            ReasonCode::Camera => "camera",
            ReasonCode::Error => "error",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reason {
    /// The reason's stable code.
    pub fn kind(&self) -> ReasonCode {
        match self {
            Reason::Anomaly => ReasonCode::Anomaly,
            Reason::UnknownProduct => ReasonCode::UnknownProduct,
            Reason::Deadline => ReasonCode::Deadline,
            Reason::Busy => ReasonCode::Busy,
            Reason::Camera(_) => ReasonCode::Camera,
            Reason::Error(_) => ReasonCode::Error,
        }
    }

    /// Stable code for results files (see [`ReasonCode::as_str`]).
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The message, for [`Reason::Camera`] and [`Reason::Error`].
    pub fn message(&self) -> Option<&str> {
        match self {
            Reason::Camera(message) | Reason::Error(message) => Some(message),
            _ => None,
        }
    }
}

/// Wall-clock time spent in each step of one frame, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Resize and normalise.
    pub preprocess_ms: f64,
    /// Trunk and later stages on the teacher path.
    pub trunk_ms: f64,
    /// Nearest-prototype routing.
    pub route_ms: f64,
    /// Student path: the product's adapters and the later stages between them.
    pub adapters_ms: f64,
    /// Head: distance maps, upsampling, score.
    pub head_ms: f64,
    /// The whole frame.
    pub total_ms: f64,
}

/// The result of one frame. Values that were not computed (e.g. the score of an unknown
/// product) are NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    /// The product the frame was judged as (routed or named by the caller); `None` when
    /// unknown or when the frame failed before routing.
    pub product: Option<String>,
    /// The nearest product by routing, also when it is too far to count (`unknown_product`);
    /// `None` when routing was skipped (product named by the caller) or did not run.
    pub nearest: Option<String>,
    /// Routing distance of the frame to the product (or the nearest one), in the product's
    /// routing model (see [`crate::route`]).
    pub distance: f32,
    /// That product's routing radius.
    pub routing_radius: f32,
    /// Image anomaly score (maximum of the map).
    pub score: f32,
    /// The product's score threshold.
    pub threshold: f32,
    /// `score / threshold`: 1.0 is the decision boundary, the same across products.
    pub ratio: f32,
    /// PASS or FAIL.
    pub verdict: Verdict,
    /// Why the verdict is FAIL; `None` for PASS.
    pub reason: Option<Reason>,
    /// The anomaly map at the input resolution, `[S, S]`, when the head ran (see
    /// [`super::Pipeline::set_full_maps`] and [`super::Pipeline::complete_map`]).
    pub map: Option<Tensor>,
    /// Local scoring: the product's anomaly map at the features' resolution, `[h, w]`. The
    /// score is the maximum of it upsampled and smoothed, which is what `map` holds.
    pub coarse_map: Option<Tensor>,
    /// Time per step.
    pub latency: Latency,
}

impl Inference {
    /// A FAIL result with reason `error`, for a frame that could not be judged at all (e.g.
    /// an unreadable image).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            reason: Some(Reason::Error(message.into())),
            ..Self::pending()
        }
    }

    /// Judges the score again against `scale` times the product's threshold (a line's
    /// sensitivity: below 1 rejects more, above 1 fewer). Only a verdict that rests on the
    /// score changes; unknown products, errors and frames without a score stay as they are.
    pub fn scale_threshold(&mut self, scale: f32) {
        let on_score = matches!(self.reason, None | Some(Reason::Anomaly));
        if !on_score || self.score.is_nan() || self.threshold.is_nan() || scale == 1.0 {
            return;
        }
        self.threshold *= scale;
        self.ratio = self.score / self.threshold;
        if self.score > self.threshold {
            self.verdict = Verdict::Fail;
            self.reason = Some(Reason::Anomaly);
        } else {
            self.verdict = Verdict::Pass;
            self.reason = None;
        }
    }

    /// FAIL with nothing computed yet: what a frame is until it is proven good.
    pub(super) fn pending() -> Self {
        Self {
            product: None,
            nearest: None,
            distance: f32::NAN,
            routing_radius: f32::NAN,
            score: f32::NAN,
            threshold: f32::NAN,
            ratio: f32::NAN,
            verdict: Verdict::Fail,
            reason: None,
            map: None,
            coarse_map: None,
            latency: Latency::default(),
        }
    }
}
