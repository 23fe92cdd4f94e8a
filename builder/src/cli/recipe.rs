//! Training options shared by `train` and `paper`: the recipe, the threshold rule and local
//! scoring's settings.

use adapts_builder::train::calibrate::ThresholdRule;
use adapts_builder::train::local::{LOCAL_STEPS, SHRINKAGE, SYNTHETIC_WEIGHT};
use adapts_builder::train::plan::Recipe;
use adapts_builder::train::TrainConfig;
use clap::{Args, ValueEnum};

/// Epochs of the paper's recipe unless `--epochs` says otherwise.
const PAPER_EPOCHS: usize = 10;

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

#[derive(Debug, Args)]
pub struct RecipeArgs {
    /// Training and scoring recipe: local scoring, or the AdapTS paper's.
    #[arg(long, value_enum, ignore_case = true, default_value = "local")]
    pub recipe: Recipe,
    /// Threshold rule: frr:RATE[:MARGIN] (target false-reject rate on validation normals,
    /// margin 0.05 unless given) or youden.
    #[arg(long, default_value = "frr:0.01")]
    pub threshold: ThresholdRule,
    /// Local scoring: standard deviation of the feature-space noise anomalies (whitened
    /// units).
    #[arg(long, default_value_t = 0.75)]
    pub noise: f32,
    /// Local scoring: shrinkage of the feature covariance towards its mean eigenvalue before
    /// whitening, as a fraction of it (0.01: nearly full whitening; larger values weigh
    /// directions of little variance less).
    #[arg(long, default_value_t = SHRINKAGE, value_parser = parse_shrinkage)]
    pub shrinkage: f64,
    /// Local scoring: standard deviation of the map's Gaussian smoothing, in input pixels
    /// (0: none).
    #[arg(long, default_value_t = 4.0)]
    pub smooth_sigma: f32,
    /// Local scoring: normalise the map per location against the training images.
    #[arg(long, value_enum, ignore_case = true, default_value = "on")]
    pub location_norm: Switch,
    /// Local scoring: synthetic anomalies made from the training images, whose covered
    /// locations also train the map as anomalous (0: feature noise alone) [default: preset
    /// S 25 per training image, at most 4000; the others 0].
    #[arg(long, value_name = "N")]
    pub synthetic_anomalies: Option<usize>,
    /// Local scoring: weight of the synthetic-anomaly loss term, against 1 for each noise
    /// term.
    #[arg(long, default_value_t = SYNTHETIC_WEIGHT)]
    pub synthetic_weight: f32,
    /// Local scoring: width of each product map's hidden layer; `calibrate --trunk` keeps
    /// the bundle's [default: the number of feature channels].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub map_width: Option<u16>,
}

impl RecipeArgs {
    /// The training settings with these options applied.
    /// `epochs` is the command line's `--epochs`; without it, the paper's recipe trains 10
    /// epochs and local scoring [`LOCAL_STEPS`] optimisation steps.
    pub fn config(&self, epochs: Option<usize>, batch_size: usize, seed: u64) -> TrainConfig {
        let mut config = TrainConfig {
            epochs: epochs.unwrap_or(PAPER_EPOCHS),
            batch_size,
            seed,
            threshold: self.threshold,
            ..TrainConfig::default()
        };
        config.local.noise = self.noise;
        config.local.shrinkage = self.shrinkage;
        config.local.smooth_sigma = self.smooth_sigma;
        config.local.per_location = self.location_norm == Switch::On;
        config.local.synthetic_anomalies = self.synthetic_anomalies;
        config.local.synthetic_weight = self.synthetic_weight;
        config.local.hidden = self.map_width.map(usize::from);
        if epochs.is_none() {
            config.local.steps = Some(LOCAL_STEPS);
        }
        config
    }
}

/// A finite shrinkage of at least 0.
fn parse_shrinkage(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a finite number of at least 0")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        recipe: RecipeArgs,
    }

    #[test]
    fn local_maps_train_a_step_budget_unless_epochs_are_given() {
        let local = Cli::parse_from(["t"]).recipe;
        let config = local.config(None, 8, 0);
        assert_eq!(config.local.steps, Some(LOCAL_STEPS));
        let config = local.config(Some(5), 8, 0);
        assert_eq!((config.local.steps, config.epochs), (None, 5));
        let paper = Cli::parse_from(["t", "--recipe", "paper"]).recipe;
        assert_eq!(paper.config(None, 8, 0).epochs, PAPER_EPOCHS);
    }

    #[test]
    fn the_shrinkage_reaches_the_local_settings_and_a_bad_one_is_refused() {
        let default = Cli::parse_from(["t"]).recipe.config(None, 8, 0);
        assert_eq!(default.local.shrinkage, SHRINKAGE);
        let set = Cli::parse_from(["t", "--shrinkage", "0.1"]).recipe;
        assert_eq!(set.config(None, 8, 0).local.shrinkage, 0.1);
        for bad in ["-0.5", "NaN", "inf", "x"] {
            let arg = format!("--shrinkage={bad}");
            let err = Cli::try_parse_from(["t", arg.as_str()]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("--shrinkage") && text.contains(bad), "{text}");
        }
    }
}
