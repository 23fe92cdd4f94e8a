//! Bundles written in format version 1 still open and run: `fixtures/bundle_v1` was written
//! by the version 1 writer (the `cli_run` tiny bundle: products `red` and `blue`, adapters
//! under `tasks/`) and is kept byte for byte; `manifest_v2.postcard` is its manifest in format
//! version 2.

use adapts_runtime::bundle::{read_manifest, Bundle, MANIFEST_FILE};
use adapts_runtime::pipeline::{Pipeline, Reason, Verdict};
use adapts_runtime::SessionConfig;
use image::{Rgb, RgbImage};

use crate::fixture::fixture_dir;

#[test]
fn a_version_1_bundle_opens_and_judges_as_written() -> anyhow::Result<()> {
    let dir = fixture_dir().join("bundle_v1");
    let bytes = std::fs::read(dir.join(MANIFEST_FILE))?;
    assert_eq!(
        &bytes[8..12],
        &1u32.to_le_bytes(),
        "the fixture is version 1"
    );

    let manifest = read_manifest(&dir.join(MANIFEST_FILE))?;
    let names: Vec<&str> = manifest.products.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["red", "blue"]);
    assert_eq!(manifest.products[1].adapters, ["tasks/blue/layer2.onnx"]);
    assert_eq!(manifest.products[1].threshold, 0.5);

    // Every file still matches its checksum, and the pipeline judges as version 1 did.
    let bundle = Bundle::open(&dir)?;
    let mut pipeline = Pipeline::from_bundle(&bundle, &SessionConfig::default())?;
    let red = pipeline.infer(&RgbImage::from_pixel(16, 12, Rgb([250, 10, 10])), None);
    assert_eq!(
        (red.product.as_deref(), red.verdict),
        (Some("red"), Verdict::Pass)
    );
    let blue = pipeline.infer(&RgbImage::from_pixel(16, 12, Rgb([10, 10, 250])), None);
    assert_eq!(blue.product.as_deref(), Some("blue"));
    assert_eq!(blue.reason, Some(Reason::Anomaly));
    assert_eq!(blue.ratio, 2.0);
    Ok(())
}

#[test]
fn a_version_2_manifest_decodes_with_sequence_0() -> anyhow::Result<()> {
    // `manifest_v2.postcard` is the manifest of `bundle_v1` as the version 2 writer encoded it.
    let path = fixture_dir().join("manifest_v2.postcard");
    let bytes = std::fs::read(&path)?;
    assert_eq!(
        &bytes[8..12],
        &2u32.to_le_bytes(),
        "the fixture is version 2"
    );
    let v2 = read_manifest(&path)?;
    let v1 = read_manifest(&fixture_dir().join("bundle_v1").join(MANIFEST_FILE))?;
    assert_eq!(v2, v1);
    assert_eq!(
        v2.sequence, 0,
        "manifests before version 3 carry no sequence number"
    );
    Ok(())
}
