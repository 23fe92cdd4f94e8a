//! Training-speed benchmark: images per second of real training steps, with the speed work
//! (ONNX Runtime teacher, cached clean features, input-only gradients through frozen
//! convolutions) against plain candle (candle teacher recomputed every step, full autograd
//! through frozen stages), in the same process on the same batch.

use std::time::Instant;

use adapts_runtime::bundle::manifest::TRUNK_GRAPH;
use adapts_runtime::bundle::BundleWriter;
use candle_nn::{Optimizer, SGD};
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::anomaly::texture::procedural_texture;
use crate::data::anomaly::{AnomalySynth, TextureSource};
use crate::export::bundle;
use crate::model::check::default_normalization;
use crate::model::weights::random_trunk;
use crate::model::{Cut, TrunkKind};
use crate::train::plan::{Plan, Preset, Recipe};
use crate::train::student::{FrozenEngine, Student};
use crate::train::teacher::Teacher;
use crate::train::{to_input, train_step, ProductSetup};
use crate::Result;
use adapts_runtime::preprocess::Preprocess;

/// One benchmark configuration's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainBenchRow {
    /// Trunk the adapters were trained on.
    pub trunk: TrunkKind,
    /// Adapter placement name (`S`, `M`, `L` or `custom`).
    pub preset: String,
    /// Square input side, in pixels.
    pub image_size: u32,
    /// Images per training step.
    pub batch_size: usize,
    /// Timed steps, not counting the warm-up step.
    pub steps: usize,
    /// Plain candle: images per second.
    pub baseline_images_per_s: f64,
    /// With the speed work: images per second.
    pub fast_images_per_s: f64,
    /// `fast_images_per_s` divided by `baseline_images_per_s`.
    pub speedup: f64,
}

/// Times `steps` training steps (after one warm-up step) both ways. Random trunk weights:
/// speed does not depend on their values.
pub fn bench_train(
    kind: TrunkKind,
    preset: Preset,
    image_size: u32,
    batch_size: usize,
    steps: usize,
    seed: u64,
) -> Result<TrainBenchRow> {
    let arch = kind.arch();
    let plan = Plan::resolve(&arch, preset, None, None, Recipe::Paper)?;
    let trunk = random_trunk(arch, Cut::Stage(plan.last()), seed)?;
    let normalization = default_normalization(kind);
    // The bundle's shared graphs feed the ONNX Runtime teacher; the directory goes when done.
    let scratch = tempfile::tempdir()?;
    let dir = scratch.path().join("bundle");
    let mut writer = BundleWriter::create(&dir)?;
    let info = bundle::trunk_info(kind.name(), "random", image_size, normalization);
    let shared = bundle::write_shared(&mut writer, &trunk, &plan, info)?;
    let synth = AnomalySynth::new(TextureSource::Procedural, image_size)?;
    let setup = ProductSetup {
        trunk: &trunk,
        plan: &plan,
        preprocess: Preprocess::full_frame(image_size, normalization),
        synth: &synth,
        stage_names: arch.stage_names().to_vec(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let images: Vec<RgbImage> = (0..batch_size)
        .map(|_| procedural_texture(image_size, image_size, &mut rng))
        .collect();
    let refs: Vec<&RgbImage> = images.iter().collect();
    let x = to_input(&refs, &setup.preprocess)?;

    let later: Vec<_> = shared
        .later_stages
        .iter()
        .map(|s| dir.join(&s.graph))
        .collect();
    let mut ort_teacher = Teacher::ort(&dir.join(TRUNK_GRAPH), &later, &shared.adapted[0].name)?;
    let mut candle_teacher = Teacher::candle(&trunk, &plan);

    let run = |teacher: &mut Teacher, cached: bool, engine: FrozenEngine| -> Result<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let channels: Vec<usize> = {
            let probe = teacher.run(&x)?;
            plan.adapted
                .iter()
                .map(|&k| probe.stages[k - plan.first()].dim(1))
                .collect::<candle_core::Result<_>>()?
        };
        let mut student = Student::new(&plan, &channels, &mut rng)?;
        let mut opt = SGD::new(student.vars(), 0.01)?;
        let cache = teacher.run(&x)?;
        let mut start = Instant::now();
        for step in 0..=steps {
            if step == 1 {
                start = Instant::now(); // step 0 warms up
            }
            let fresh;
            let clean = if cached {
                &cache
            } else {
                fresh = teacher.run(&x)?;
                &fresh
            };
            train_step(
                &setup,
                &mut student,
                &mut opt,
                teacher,
                clean,
                &images,
                &mut rng,
                engine,
            )?;
        }
        Ok((steps * batch_size) as f64 / start.elapsed().as_secs_f64())
    };
    let baseline = run(&mut candle_teacher, false, FrozenEngine::Autograd)?;
    let fast = run(&mut ort_teacher, true, FrozenEngine::InputGradOnly)?;
    Ok(TrainBenchRow {
        trunk: kind,
        preset: plan.name,
        image_size,
        batch_size,
        steps,
        baseline_images_per_s: baseline,
        fast_images_per_s: fast,
        speedup: fast / baseline,
    })
}
