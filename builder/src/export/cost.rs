//! What a bundle costs: parameter memory of its graphs (shared trunk against what each product
//! adds, in FP32 and INT8 terms) and multiply-accumulates per image, inference and training.
//!
//! MACs are counted while a graph is traced ([`OnnxGraph::macs`](crate::export::onnx::OnnxGraph::macs):
//! convolutions, fully connected layers and the head's resize matrices, from the traced
//! shapes) and stored in each graph's metadata under [`MACS_KEY`]; a graph written without it
//! reports no cost. GFLOPs = 2 x MACs.
//!
//! Distance scoring (the paper's):
//! - inference per image: trunk + 2 x every later stage (teacher and student features run
//!   through it together) + one product's adapters + head;
//! - training per image: teacher forward (trunk + later stages) + 3 x the student path (later
//!   stages + adapters; forward once, backward about twice). The frozen trunk before the first
//!   adapter needs no gradient; the discarded segmentation head is not counted.
//!
//! Local scoring:
//! - inference per image: trunk + later stages (teacher only) + features graph + one
//!   product's map + head;
//! - training per image and epoch: the teacher and features once (cached) + 3 x the map.

use std::path::Path;

use adapts_runtime::bundle::manifest::{Scoring, MACS_KEY};
use adapts_runtime::bundle::Bundle;
use serde::Serialize;

use crate::export::onnx::{self, proto::data_type};
use crate::{PathContext, Result};

/// Parameter counts of one or more graph files.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// Size of the graph files on disk, bytes.
    pub file_bytes: u64,
    /// Every stored value (weights, biases, scales).
    pub parameters: u64,
    /// Memory with every parameter in f32.
    pub fp32_bytes: u64,
    /// Memory as stored (INT8 weights count one byte).
    pub stored_bytes: u64,
    /// Traced multiply-accumulates per image; `None` when a graph lacks [`MACS_KEY`].
    pub macs: Option<u64>,
}

impl std::ops::AddAssign for Footprint {
    fn add_assign(&mut self, o: Self) {
        self.file_bytes += o.file_bytes;
        self.parameters += o.parameters;
        self.fp32_bytes += o.fp32_bytes;
        self.stored_bytes += o.stored_bytes;
        self.macs = self.macs.zip(o.macs).map(|(a, b)| a + b);
    }
}

impl Footprint {
    /// Nothing yet: zero bytes, zero MACs (so that sums stay known).
    pub fn zero() -> Self {
        Self {
            macs: Some(0),
            ..Self::default()
        }
    }

    /// Reads one ONNX graph file.
    pub fn of_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_path(path)?;
        let model = onnx::decode(&bytes).with_path(path)?;
        let mut f = Self {
            file_bytes: bytes.len() as u64,
            ..Self::default()
        };
        for t in model.graph.iter().flat_map(|g| &g.initializer) {
            // A scalar (no dims) is one value; a zero-length dimension holds none.
            let n: u64 = t.dims.iter().map(|&d| d.max(0) as u64).product();
            f.parameters += n;
            f.stored_bytes += if t.data_type == data_type::INT8 {
                n
            } else {
                4 * n
            };
            // Zero points exist only because of quantisation; an FP32 model would not have them.
            if !(t.data_type == data_type::INT8 && t.name.ends_with("zero_point")) {
                f.fp32_bytes += 4 * n;
            }
        }
        f.macs = model
            .metadata_props
            .iter()
            .find(|p| p.key == MACS_KEY)
            .and_then(|p| p.value.parse().ok());
        Ok(f)
    }
}

/// Memory and compute of a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct BundleCost {
    /// The trunk graph (image to first adapted stage).
    pub trunk: Footprint,
    /// Later shared stages (distance scoring runs each on teacher and student together).
    pub later_stages: Footprint,
    /// The features graph of local scoring (zero under distance scoring).
    pub features: Footprint,
    /// Whether the bundle uses local scoring.
    pub local: bool,
    /// The head graph (anomaly map and score).
    pub head: Footprint,
    /// Per product, in bundle order.
    pub products: Vec<(String, Footprint)>,
}

const MB: f64 = 1e6;

impl BundleCost {
    /// Reads every graph of an opened bundle.
    pub fn of(bundle: &Bundle) -> Result<Self> {
        let trunk = Footprint::of_file(&bundle.trunk_graph())?;
        let mut later_stages = Footprint::zero();
        for p in bundle.stage_graphs() {
            later_stages += Footprint::of_file(&p)?;
        }
        let head = Footprint::of_file(&bundle.head_graph())?;
        let (features, local) = match &bundle.manifest().scoring {
            Scoring::Local(l) => (
                Footprint::of_file(&bundle.file_path(&l.features_graph))?,
                true,
            ),
            Scoring::Distance => (Footprint::zero(), false),
        };
        let mut products = Vec::new();
        for (i, t) in bundle.manifest().products.iter().enumerate() {
            let mut f = Footprint::zero();
            for p in bundle.adapter_graphs(i).unwrap_or_default() {
                f += Footprint::of_file(&p)?;
            }
            products.push((t.name.clone(), f));
        }
        Ok(Self {
            trunk,
            later_stages,
            features,
            local,
            head,
            products,
        })
    }

    /// Trunk, later stages and head: what every product shares.
    pub fn shared(&self) -> Footprint {
        let mut f = self.trunk;
        f += self.later_stages;
        f += self.features;
        f += self.head;
        f
    }

    /// Mean over products of what one product adds.
    pub fn additional(&self) -> Option<Footprint> {
        let n = self.products.len() as u64;
        if n == 0 {
            return None;
        }
        let mut sum = Footprint::zero();
        for (_, f) in &self.products {
            sum += *f;
        }
        Some(Footprint {
            file_bytes: sum.file_bytes / n,
            parameters: sum.parameters / n,
            fp32_bytes: sum.fp32_bytes / n,
            stored_bytes: sum.stored_bytes / n,
            macs: sum.macs.map(|m| m / n),
        })
    }

    /// The memory and compute columns of an evaluation table.
    pub fn summary(&self) -> CostSummary {
        let add = self.additional();
        let shared = self.shared();
        let all_fp32 =
            shared.fp32_bytes + self.products.iter().map(|(_, f)| f.fp32_bytes).sum::<u64>();
        let all_stored = shared.stored_bytes
            + self
                .products
                .iter()
                .map(|(_, f)| f.stored_bytes)
                .sum::<u64>();
        let add_fp32 = add.map_or(0, |f| f.fp32_bytes) as f64;
        let student_stages = if self.local { 0 } else { 1 };
        let inference = self
            .trunk
            .macs
            .zip(self.later_stages.macs)
            .and_then(|(t, l)| {
                let a = add?.macs?;
                Some(t + (1 + student_stages) * l + self.features.macs? + a + self.head.macs?)
            });
        let training = self
            .trunk
            .macs
            .zip(self.later_stages.macs)
            .and_then(|(t, l)| {
                Some(t + l + self.features.macs? + 3 * (student_stages * l + add?.macs?))
            });
        CostSummary {
            products: self.products.len(),
            total_fp32_mb: all_fp32 as f64 / MB,
            total_int8_mb: all_fp32 as f64 / 4.0 / MB,
            additional_fp32_mb: add_fp32 / MB,
            additional_int8_mb: add_fp32 / 4.0 / MB,
            stored_mb: all_stored as f64 / MB,
            additional_stored_mb: add.map_or(0, |f| f.stored_bytes) as f64 / MB,
            inference_gflops: inference.map(|m| 2.0 * m as f64 / 1e9),
            training_gflops: training.map(|m| 2.0 * m as f64 / 1e9),
        }
    }
}

/// Memory and GFLOPs per image. FP32: every stored value at 4 bytes (weights, biases, the
/// head's constant resize matrices; INT8 zero points excluded); INT8: the same values at one
/// byte each.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct CostSummary {
    /// Products in the bundle.
    pub products: usize,
    /// Whole model (shared graphs + every product) with every value at 4 bytes, MB.
    pub total_fp32_mb: f64,
    /// Whole model with every value at one byte, MB.
    pub total_int8_mb: f64,
    /// What one product adds (mean over products) with every value at 4 bytes, MB.
    pub additional_fp32_mb: f64,
    /// What one product adds with every value at one byte, MB.
    pub additional_int8_mb: f64,
    /// Whole model as stored in the bundle (FP32 trunk, adapters in their precision), MB.
    pub stored_mb: f64,
    /// What one product adds as stored, MB.
    pub additional_stored_mb: f64,
    /// Inference GFLOPs per image (trunk, later stages twice, one product's adapters, head); `None`
    /// when a graph lacks MAC counts.
    pub inference_gflops: Option<f64>,
    /// Training GFLOPs per image (teacher forward plus three times the student path); `None` when a
    /// graph lacks MAC counts.
    pub training_gflops: Option<f64>,
}

impl CostSummary {
    /// The cost when every product has a model of its own (the single-class setting): each
    /// carries its own copy of the shared graphs.
    pub fn as_separate_models(self) -> Self {
        let n = self.products as f64;
        let per = |total: f64, add: f64| (total - add * n + add) * n;
        Self {
            total_fp32_mb: per(self.total_fp32_mb, self.additional_fp32_mb),
            total_int8_mb: per(self.total_int8_mb, self.additional_int8_mb),
            stored_mb: per(self.stored_mb, self.additional_stored_mb),
            ..self
        }
    }
}

impl std::ops::Add for CostSummary {
    type Output = Self;
    /// Two separate models side by side (the single-class setting: a bundle per product).
    fn add(self, o: Self) -> Self {
        let products = self.products + o.products;
        let weigh = |a: f64, b: f64| {
            (a * self.products as f64 + b * o.products as f64) / products.max(1) as f64
        };
        Self {
            products,
            total_fp32_mb: self.total_fp32_mb + o.total_fp32_mb,
            total_int8_mb: self.total_int8_mb + o.total_int8_mb,
            additional_fp32_mb: weigh(self.additional_fp32_mb, o.additional_fp32_mb),
            additional_int8_mb: weigh(self.additional_int8_mb, o.additional_int8_mb),
            stored_mb: self.stored_mb + o.stored_mb,
            additional_stored_mb: weigh(self.additional_stored_mb, o.additional_stored_mb),
            inference_gflops: self
                .inference_gflops
                .zip(o.inference_gflops)
                .map(|(a, b)| weigh(a, b)),
            training_gflops: self
                .training_gflops
                .zip(o.training_gflops)
                .map(|(a, b)| weigh(a, b)),
        }
    }
}
