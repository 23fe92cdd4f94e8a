//! The `affine_relu` fixture (written by `scripts/make_runtime_fixture.py`) and an independent
//! reference computation of its outputs from the same weights.

use std::path::PathBuf;

use serde::Deserialize;

/// Weights and tensor names of `affine_relu.onnx`, read from `affine_relu.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffineRelu {
    pub input: String,
    pub outputs: Vec<String>,
    #[serde(rename = "W")]
    pub w: Vec<Vec<f32>>,
    pub b: Vec<f32>,
}

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn model_path() -> PathBuf {
    fixture_dir().join("affine_relu.onnx")
}

impl AffineRelu {
    pub fn load() -> anyhow::Result<Self> {
        let path = fixture_dir().join("affine_relu.json");
        let text = std::fs::read_to_string(&path)?;
        Ok(serde_json::from_str(&text)?)
    }

    pub fn in_features(&self) -> usize {
        self.w.len()
    }

    pub fn out_features(&self) -> usize {
        self.b.len()
    }

    /// `x @ W + b` for a row-major `[batch, in_features]` input, accumulated in f64.
    pub fn pre_activation(&self, x: &[f32]) -> Vec<f32> {
        let (k, n) = (self.in_features(), self.out_features());
        x.chunks_exact(k)
            .flat_map(|row| {
                (0..n).map(move |j| {
                    let dot: f64 = row
                        .iter()
                        .zip(&self.w)
                        .map(|(&xi, w_row)| f64::from(xi) * f64::from(w_row[j]))
                        .sum();
                    (dot + f64::from(self.b[j])) as f32
                })
            })
            .collect()
    }

    /// `Relu(x @ W + b)`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.pre_activation(x)
            .into_iter()
            .map(|v| v.max(0.0))
            .collect()
    }
}
