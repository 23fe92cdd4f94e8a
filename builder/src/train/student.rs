//! The trainable part of a product: one adapter per adapted stage and the segmentation head
//! (training only, discarded afterwards).

use candle_core::{DType, Device, Tensor, Var};

use crate::model::adapter::{Adapter, AdapterParams};
use crate::model::graph::{Eval, Graph};
use crate::model::Trunk;
use crate::train::frozen::Frozen;
use crate::train::loss::per_channel_sq_diff;
use crate::train::plan::Plan;
use crate::Result;

/// How frozen stages between adapters run during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrozenEngine {
    /// Input-only gradients through frozen convolutions ([`Frozen`]).
    InputGradOnly,
    /// Plain candle autograd (also computes unused kernel gradients): the baseline.
    Autograd,
}

/// A product's trainable state: an adapter per adapted stage and the training-only segmentation
/// head.
pub struct Student {
    /// One adapter per adapted stage, shallow to deep.
    pub adapters: Vec<AdapterParams>,
    seg_w: Var,
    seg_b: Var,
}

impl Student {
    /// Fresh adapters for stages with `channels` (one entry per adapted stage).
    pub fn new(plan: &Plan, channels: &[usize], rng: &mut impl rand::Rng) -> Result<Self> {
        let adapters = channels
            .iter()
            .map(|&c| AdapterParams::new(c, plan.kind, rng))
            .collect::<Result<Vec<_>>>()?;
        let total: usize = channels.iter().sum();
        let bound = 1.0 / (total as f32).sqrt();
        let w: Vec<f32> = (0..total)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        Ok(Self {
            adapters,
            seg_w: Var::from_tensor(&Tensor::from_vec(w, (1, total), &Device::Cpu)?)?,
            seg_b: Var::zeros(1, DType::F32, &Device::Cpu)?,
        })
    }

    /// Every trainable variable: the adapters', then the segmentation head's weight and bias.
    pub fn vars(&self) -> Vec<Var> {
        let mut v: Vec<Var> = self.adapters.iter().flat_map(AdapterParams::vars).collect();
        v.push(self.seg_w.clone());
        v.push(self.seg_b.clone());
        v
    }

    /// Student features of every adapted stage, from the teacher's first adapted stage.
    pub fn forward(
        &mut self,
        trunk: &Trunk,
        plan: &Plan,
        t_first: &Tensor,
        engine: FrozenEngine,
    ) -> Result<Vec<Tensor>> {
        let mut s = self.adapters[0].forward_train(t_first)?;
        let mut out = vec![s.clone()];
        let mut next = 1;
        for k in plan.first() + 1..=plan.last() {
            s = match engine {
                FrozenEngine::InputGradOnly => trunk.stage(&mut Frozen, k, &s)?,
                FrozenEngine::Autograd => trunk.stage(&mut Eval, k, &s)?,
            };
            if plan.is_adapted(k) {
                s = self.adapters[next].forward_train(&s)?;
                next += 1;
                out.push(s.clone());
            }
        }
        Ok(out)
    }

    /// Segmentation probabilities `[N, 1, H0, W0]` at the first adapted stage's resolution.
    pub fn segment(&self, teacher: &[Tensor], student: &[Tensor]) -> Result<Tensor> {
        let (n, _, h0, w0) = teacher[0].dims4()?;
        let mut parts = Vec::with_capacity(teacher.len());
        for (t, s) in teacher.iter().zip(student) {
            let e = per_channel_sq_diff(t, s)?;
            parts.push(Eval.resize_bilinear(&e, h0, w0)?);
        }
        let e = Tensor::cat(&parts, 1)?;
        let c = e.dim(1)?;
        let logits = self
            .seg_w
            .broadcast_matmul(&e.reshape((n, c, h0 * w0))?)?
            .broadcast_add(&self.seg_b.unsqueeze(1)?)?;
        Ok(candle_nn::ops::sigmoid(&logits)?.reshape((n, 1, h0, w0))?)
    }

    /// Deployable adapters named `{stage}` (BatchNorm folded).
    pub fn deployable(&self, stage_names: &[&str]) -> Result<Vec<Adapter>> {
        self.adapters
            .iter()
            .zip(stage_names)
            .map(|(a, name)| a.to_inference(name))
            .collect()
    }
}
