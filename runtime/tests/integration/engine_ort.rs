//! `OrtSession` on the `affine_relu` fixture: numerics against the reference computation,
//! graph description, and the errors for bad inputs.

use adapts_runtime::{ort_runtime, Error, OrtError, OrtSession, SessionConfig, Tensor};

use crate::fixture::{model_path, AffineRelu};

fn load_session() -> anyhow::Result<OrtSession> {
    let config = SessionConfig {
        intra_op_threads: Some(1),
        ..SessionConfig::default()
    };
    Ok(OrtSession::load(&model_path(), &config)?)
}

/// A deterministic input with mixed signs, `[batch, in_features]`.
fn input(batch: usize, in_features: usize) -> anyhow::Result<Tensor> {
    let data = (0..batch * in_features)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.37)
        .collect();
    Ok(Tensor::new(vec![batch, in_features], data)?)
}

fn assert_close(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let scale = want.iter().fold(1e-6_f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6 * scale,
            "{name}[{i}]: got {g}, want {w}"
        );
    }
}

#[test]
fn runs_fixture_and_matches_reference_for_several_batches() -> anyhow::Result<()> {
    let spec = AffineRelu::load()?;
    let mut session = load_session()?;
    for batch in [1, 2, 5] {
        let x = input(batch, spec.in_features())?;
        let outputs = session.run(&[(spec.input.as_str(), &x)])?;

        let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, spec.outputs, "outputs come in declared order");

        let (_, y) = &outputs[0];
        let (_, pre) = &outputs[1];
        assert_eq!(y.shape, vec![batch, spec.out_features()]);
        assert_eq!(pre.shape, vec![batch, spec.out_features()]);
        assert_close("y", &y.data, &spec.forward(&x.data));
        assert_close("pre_activation", &pre.data, &spec.pre_activation(&x.data));
        assert!(
            pre.data.iter().any(|v| *v < 0.0) && y.data.iter().all(|v| *v >= 0.0),
            "the input must exercise the Relu"
        );
    }
    Ok(())
}

#[test]
fn describes_inputs_and_outputs_with_dynamic_batch() -> anyhow::Result<()> {
    let session = load_session()?;
    assert_eq!(session.input_names(), ["x"]);
    assert_eq!(session.output_names(), ["y", "pre_activation"]);
    assert_eq!(session.inputs()[0].shape, [None, Some(4)]);
    assert_eq!(session.inputs()[0].element_type, "f32");
    assert_eq!(session.outputs()[1].shape, [None, Some(3)]);
    Ok(())
}

#[test]
fn reports_library_path_and_version() -> anyhow::Result<()> {
    let runtime = ort_runtime()?;
    assert!(runtime.library_path().is_absolute());
    assert!(runtime.version().starts_with("1."), "{}", runtime.version());
    // setup.sh records the version it vendored next to the library.
    if let Some(dir) = runtime.library_path().parent() {
        if let Ok(recorded) = std::fs::read_to_string(dir.join("VERSION")) {
            assert_eq!(runtime.version(), recorded.trim());
        }
    }
    Ok(())
}

#[test]
fn wrong_input_name_is_named_in_the_error() -> anyhow::Result<()> {
    let mut session = load_session()?;
    let x = input(1, 4)?;
    let err = session.run(&[("image", &x)]).expect_err("unknown input");
    assert!(matches!(err, Error::UnknownInput { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("`image`") && msg.contains("`x`"), "{msg}");
    Ok(())
}

#[test]
fn wrong_shape_is_reported_with_expected_and_found() -> anyhow::Result<()> {
    let mut session = load_session()?;
    let x = input(2, 5)?;
    let err = session.run(&[("x", &x)]).expect_err("bad shape");
    assert!(matches!(err, Error::InputShape { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("[?, 4]") && msg.contains("[2, 5]"), "{msg}");
    Ok(())
}

#[test]
fn missing_duplicate_and_malformed_inputs_are_refused() -> anyhow::Result<()> {
    let mut session = load_session()?;
    let x = input(1, 4)?;

    let err = session.run(&[]).expect_err("missing input");
    assert!(
        matches!(err, Error::MissingInput { ref name, .. } if name == "x"),
        "{err:?}"
    );

    let err = session
        .run(&[("x", &x), ("x", &x)])
        .expect_err("duplicate input");
    assert!(matches!(err, Error::DuplicateInput { .. }), "{err:?}");

    let malformed = Tensor {
        shape: vec![1, 4],
        data: vec![0.0; 3],
    };
    let err = session.run(&[("x", &malformed)]).expect_err("short data");
    assert!(matches!(err, Error::TensorLength { .. }), "{err:?}");
    Ok(())
}

#[test]
fn missing_model_file_is_named() {
    let path = model_path().with_file_name("no_such_model.onnx");
    let err = OrtSession::load(&path, &SessionConfig::default()).expect_err("no file");
    assert!(matches!(err, Error::ModelNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("no_such_model.onnx"));
}

#[test]
fn corrupt_model_file_is_a_load_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("corrupt.onnx");
    std::fs::write(&path, b"this is not an onnx model")?;
    let result = OrtSession::load(&path, &SessionConfig::default());
    let err = result.expect_err("corrupt model");
    assert!(
        matches!(OrtError::of(&err), Some(OrtError::ModelLoad { .. })),
        "{err:?}"
    );
    Ok(())
}
