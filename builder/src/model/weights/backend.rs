//! VarBuilder backends that need no checkpoint: a shape recorder and seeded random weights.

use std::collections::BTreeMap;
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::model::{Arch, Cut, Trunk};
use crate::Result;

/// Every tensor the full architecture asks for, with its shape.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    shapes: BTreeMap<String, Vec<usize>>,
}

impl ParamSpec {
    /// Records the uncut architecture. Tensors are zero-filled lazily by the allocator, so
    /// even WRN50-2 costs no real memory here.
    pub fn of(arch: Arch) -> Result<Self> {
        Self::of_cut(arch, Cut::Classifier)
    }

    /// Records what a trunk cut at `cut` asks for.
    pub fn of_cut(arch: Arch, cut: Cut) -> Result<Self> {
        let recorder = Recorder::default();
        let vb = VarBuilder::from_backend(Box::new(recorder.clone()), DType::F32, Device::Cpu);
        Trunk::new(vb, arch, cut)?;
        let shapes = recorder
            .shapes
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        Ok(Self { shapes })
    }

    /// Shape of tensor `key`; `None` when the architecture does not ask for it.
    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        self.shapes.get(key).map(Vec::as_slice)
    }

    /// Every recorded key with its shape, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &Vec<usize>)> {
        self.shapes.iter()
    }

    /// Trainable parameters (weights and biases), excluding BatchNorm running statistics.
    pub fn parameter_count(&self) -> usize {
        self.shapes
            .iter()
            .filter(|(k, _)| !k.ends_with("running_mean") && !k.ends_with("running_var"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

#[derive(Debug, Default, Clone)]
struct Recorder {
    shapes: std::sync::Arc<Mutex<BTreeMap<String, Vec<usize>>>>,
}

impl candle_nn::var_builder::SimpleBackend for Recorder {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Ok(mut shapes) = self.shapes.lock() {
            shapes.insert(name.to_string(), s.dims().to_vec());
        }
        Tensor::zeros(s, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("shape recorder needs a shape for {name}")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// Seeded random weights. Each tensor's values depend only on the seed and its key, so a
/// truncated trunk and the full one agree on every shared layer.
///
/// Initialisation hints are honoured (Kaiming-normal convolutions, uniform linear layers);
/// constant hints (BatchNorm affine and running statistics, biases) get `c + U(-0.2, 0.2)` so
/// normalisation is exercised with non-trivial values.
#[derive(Debug, Clone, Copy)]
pub struct RandomInit {
    seed: u64,
}

impl RandomInit {
    /// Random weights determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }
}

impl candle_nn::var_builder::SimpleBackend for RandomInit {
    fn get(
        &self,
        s: Shape,
        name: &str,
        init: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut rng = SplitMix64::new(self.seed ^ fnv1a(name.as_bytes()));
        let n = s.elem_count();
        let data: Vec<f32> = match init {
            Init::Const(c) => (0..n)
                .map(|_| (c + 0.4 * (rng.uniform() - 0.5)) as f32)
                .collect(),
            Init::Uniform { lo, up } => (0..n)
                .map(|_| (lo + (up - lo) * rng.uniform()) as f32)
                .collect(),
            Init::Randn { mean, stdev } => (0..n)
                .map(|_| (mean + stdev * rng.normal()) as f32)
                .collect(),
            Init::Kaiming { .. } => (0..n).map(|_| (0.1 * rng.normal()) as f32).collect(),
        };
        Tensor::from_vec(data, s, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("random init needs a shape for {name}")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SplitMix64 (Steele et al. 2014): tiny, seedable, good enough for weight init.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
