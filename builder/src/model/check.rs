//! `backbone check`: classify a photo with a trunk's ImageNet head so a user can see at once
//! that the weights loaded right.

use std::path::{Path, PathBuf};

use adapts_runtime::preprocess::{load_rgb, Normalization, Preprocess};
use candle_core::{Device, Tensor};

use crate::model::graph::Eval;
use crate::model::imagenet::{top_k, Prediction};
use crate::model::weights::Checkpoint;
use crate::model::{Cut, TrunkKind};
use crate::{Error, Result};

/// What `backbone check` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    /// Trunk architecture that was loaded.
    pub trunk: TrunkKind,
    /// Checkpoint file the weights came from.
    pub weights: PathBuf,
    /// Hex sha256 of the checkpoint file.
    pub weights_sha256: String,
    /// Container format the checkpoint was read as.
    pub weights_format: crate::model::weights::Format,
    /// Photo that was classified.
    pub image: PathBuf,
    /// Side of the square centre crop fed to the network, pixels.
    pub input_size: u32,
    /// Input normalisation applied to the crop.
    pub normalization: Normalization,
    /// The five most probable ImageNet classes, best first.
    pub top5: Vec<Prediction>,
}

/// The input normalisation each shipped trunk's weights expect.
///
/// EfficientNet-Lite0's weights were trained in TensorFlow on `(x - 127) / 128`: with that
/// input the stem's output variance matches the first BatchNorm's running variance (ratio
/// about 0.8 on photos), while ImageNet mean/std overshoots it about four-fold (see
/// `stem_statistics_match_tf_normalisation` in builder/tests/pretrained.rs). Both label the
/// test photos correctly, TF normalisation with higher confidence.
pub fn default_normalization(kind: TrunkKind) -> Normalization {
    match kind {
        TrunkKind::Wrn50_2 => Normalization::Imagenet,
        TrunkKind::EffnetLite0 => Normalization::Tf,
    }
}

/// Loads `weights` into the full `kind` network and classifies `image`.
pub fn backbone_check(
    kind: TrunkKind,
    weights: &Path,
    image: &Path,
    size: u32,
    normalization: Normalization,
) -> Result<CheckReport> {
    let checkpoint = Checkpoint::load(weights)?;
    let (sha256, format) = (checkpoint.sha256.clone(), checkpoint.format);
    let trunk = checkpoint.build_trunk(kind.arch(), Cut::Classifier)?;
    let pixels = Preprocess::imagenet_eval(size, normalization).apply(&load_rgb(image)?);
    let s = size as usize;
    let x = Tensor::from_vec(pixels, (1, 3, s, s), &Device::Cpu)?;
    let out = trunk.forward(&mut Eval, &x)?;
    let logits = out
        .logits
        .ok_or_else(|| Error::Config("trunk built without its classifier".into()))?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(CheckReport {
        trunk: kind,
        weights: weights.to_path_buf(),
        weights_sha256: sha256,
        weights_format: format,
        image: image.to_path_buf(),
        input_size: size,
        normalization,
        top5: top_k(&logits, 5),
    })
}
