//! The paper's experiment in one run: for each preset, products are trained one at a time
//! into one bundle (the continual protocol); after each step every product seen so far is
//! evaluated and every earlier product's weights are checked unchanged. The last step is the
//! multi-class result; the single-class result judges each product by its own adapters on the
//! same bundle (AdapTS products share nothing trainable, so a per-product bundle would hold
//! the very same adapters). Results go to `OUT/<preset>/` and `OUT/summary.md`.

use std::fmt::Write as _;
use std::path::PathBuf;

use adapts_runtime::bundle::Bundle;
use adapts_runtime::preprocess::Normalization;
use serde::Serialize;

use crate::data::{self, Layout};
use crate::eval::continual::{ContinualReport, WeightLedger};
use crate::eval::{single_class, EvalConfig, EvalReport, Evaluation, HeatmapConfig, Setting};
use crate::model::TrunkKind;
use crate::train::job::{self, TrainJob, WeightsSource};
use crate::train::plan::{Plan, Preset, Recipe};
use crate::train::TrainConfig;
use crate::{Error, Result};
use adapts_runtime::fsutil::write_atomic;

/// What to run.
#[derive(Debug, Clone)]
pub struct PaperRun {
    /// Dataset root.
    pub data: PathBuf,
    /// Dataset layout.
    pub layout: Layout,
    /// Products in training order; empty = every product of the dataset, sorted.
    pub categories: Vec<String>,
    /// Trunk architecture shared by every preset.
    pub trunk: TrunkKind,
    /// Trunk weights: a checkpoint file or seeded random weights.
    pub weights: WeightsSource,
    /// Input normalisation recorded in the bundles and applied to every image.
    pub normalization: Normalization,
    /// Presets to run, in order; each writes to `out/s/`, `out/m/` or `out/l/`.
    pub presets: Vec<Preset>,
    /// Training and scoring recipe (`Recipe::Paper` reproduces the paper's tables).
    pub recipe: Recipe,
    /// Output directory: one folder per preset and `summary.md`.
    pub out: PathBuf,
    /// Square network input side, pixels (a positive multiple of 32).
    pub image_size: u32,
    /// Directory of anomaly texture images; `None` = procedural textures.
    pub textures: Option<PathBuf>,
    /// Optimisation settings for every product.
    pub train: TrainConfig,
    /// Heatmap overlays per product in the multi-class evaluation (0 = none).
    pub heatmaps: usize,
}

/// One preset's results.
#[derive(Debug, Clone, Serialize)]
pub struct PresetResult {
    /// The preset these results are for.
    pub preset: Preset,
    /// Bundle directory holding every product of the run.
    pub bundle: PathBuf,
    /// Seconds spent training, all products.
    pub train_seconds: f64,
    /// Continual-setting matrices; its last step is the multi-class result.
    pub continual: ContinualReport,
    /// Single-class result: each product judged by its own adapters, routing off.
    pub single: EvalReport,
}

impl PresetResult {
    /// The multi-class result: the continual run's last step.
    pub fn multi(&self) -> &EvalReport {
        self.continual
            .steps
            .last()
            .expect("a continual report has at least one step")
    }
}

fn preset_name(p: Preset) -> &'static str {
    match p {
        Preset::S => "s",
        Preset::M => "m",
        Preset::L => "l",
    }
}

/// Runs every preset; `log` receives one line per step.
pub fn run(run: &PaperRun, log: &dyn Fn(&str)) -> Result<Vec<PresetResult>> {
    let categories = if run.categories.is_empty() {
        data::products(&run.data, run.layout)?
    } else {
        run.categories.clone()
    };
    if categories.is_empty() {
        return Err(
            Error::Selection(format!("no products ({:?} layout)", run.layout)).with_path(&run.data),
        );
    }
    let arch = run.trunk.arch();
    let mut results = Vec::new();
    for &preset in &run.presets {
        let dir = run.out.join(preset_name(preset));
        let bundle_dir = dir.join("bundle");
        let plan = Plan::resolve(&arch, preset, None, None, run.recipe)?;
        let mut ledger = WeightLedger::default();
        let mut steps = Vec::new();
        let mut train_seconds = 0.0;
        for (k, name) in categories.iter().enumerate() {
            let job = TrainJob {
                data: run.data.clone(),
                layout: run.layout,
                categories: vec![name.clone()],
                trunk_id: run.trunk.name().to_string(),
                arch,
                weights: run.weights.clone(),
                normalization: run.normalization,
                plan: plan.clone(),
                out: bundle_dir.clone(),
                append: k > 0,
                textures: run.textures.clone(),
                image_size: run.image_size,
                config: run.train.clone(),
                sign_key: None,
            };
            let summary = job::run(&job)?;
            train_seconds += summary.iter().map(|s| s.train_seconds).sum::<f64>();
            ledger.step(&Bundle::open(&bundle_dir)?)?;
            let last = k + 1 == categories.len();
            let config = EvalConfig {
                categories: categories[..=k].to_vec(),
                routing: Setting::Continual.routing(),
                setting: Setting::Continual,
                heatmaps: (last && run.heatmaps > 0).then(|| HeatmapConfig {
                    dir: dir.join("heatmaps"),
                    per_product: run.heatmaps,
                    matching: Vec::new(),
                }),
                ..EvalConfig::new(bundle_dir.clone(), run.data.clone(), run.layout)
            };
            let report = Evaluation::prepare(&config)?.run(&|| {})?;
            log(&format!(
                "preset {}: step {}/{} `{name}` added; mean I-ROC {} P-ROC {} routing {} over {} products",
                preset_name(preset).to_uppercase(),
                k + 1,
                categories.len(),
                crate::eval::continual::fmt_pct(report.mean.image_auroc),
                crate::eval::continual::fmt_pct(report.mean.pixel_auroc),
                crate::eval::continual::fmt_pct(report.mean.routing_accuracy),
                k + 1
            ));
            steps.push(report);
        }
        let continual = ContinualReport::from_steps(categories.clone(), steps, Some(ledger))?;
        let single = single_class(
            &EvalConfig::new(bundle_dir.clone(), run.data.clone(), run.layout),
            &|| {},
        )?;
        let result = PresetResult {
            preset,
            bundle: bundle_dir,
            train_seconds,
            continual,
            single,
        };
        write_atomic(
            &dir.join("results.json"),
            &serde_json::to_vec_pretty(&result)?,
        )?;
        write_atomic(
            &dir.join("scores.csv"),
            result.multi().scores_csv().as_bytes(),
        )?;
        results.push(result);
        write_atomic(
            &run.out.join("summary.md"),
            summary_markdown(&results).as_bytes(),
        )?;
    }
    Ok(results)
}

fn pct(v: Option<f64>) -> String {
    crate::eval::continual::fmt_pct(v)
}

fn opt2(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.2}"))
}

/// The paper-style tables in Markdown: settings per preset with the memory and cost columns,
/// the per-product multi-class table, and the continual matrices.
pub fn summary_markdown(results: &[PresetResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| preset | setting | I-ROC | I-AP | I-F1 | P-ROC | P-AP | P-F1 | AUPRO | routing | forgetting (I-ROC) | total MB FP32 | total MB INT8 | add. MB FP32 | add. MB INT8 | inf. GFLOPs | train GFLOPs | ms/img |"
    );
    let _ = writeln!(out, "|{}", "---|".repeat(18));
    for r in results {
        let rows: [(&str, &EvalReport, Option<f64>); 3] = [
            ("single", &r.single, None),
            ("multi", r.multi(), None),
            ("continual", r.multi(), r.continual.image_auroc.forgetting),
        ];
        for (setting, e, forgetting) in rows {
            let m = &e.mean;
            let c = &e.cost;
            let (total_fp32, total_int8) = (c.total_fp32_mb, c.total_int8_mb);
            let _ = writeln!(
                out,
                "| {} | {setting} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {total_fp32:.2} | {total_int8:.2} | {:.4} | {:.4} | {} | {} | {:.2} |",
                preset_name(r.preset).to_uppercase(),
                pct(m.image_auroc),
                pct(m.image_ap),
                pct(m.image_f1),
                pct(m.pixel_auroc),
                pct(m.pixel_ap),
                pct(m.pixel_f1),
                pct(m.aupro),
                pct(m.routing_accuracy),
                if setting == "continual" { pct(forgetting) } else { "-".into() },
                c.additional_fp32_mb,
                c.additional_int8_mb,
                opt2(c.inference_gflops),
                opt2(c.training_gflops),
                m.latency_ms
            );
        }
    }
    for r in results {
        let _ = writeln!(
            out,
            "\n## Preset {}: multi-class, per product\n\n```\n{}```\n\n## Preset {}: continual\n\n```\n{}```",
            preset_name(r.preset).to_uppercase(),
            r.multi().table(),
            preset_name(r.preset).to_uppercase(),
            r.continual.table()
        );
    }
    out
}
