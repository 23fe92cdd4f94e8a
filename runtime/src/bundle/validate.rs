//! Consistency rules a manifest must satisfy before a bundle is loaded or written: every graph
//! the data flow needs is listed (and so checksummed) in `files`, stage lists agree with each
//! other, and every product fits the routing and adapter layout.

use std::collections::HashSet;
use std::path::Path;

use super::manifest::{Manifest, RoutingModel, Scoring, FEATURES, MANIFEST_FILE};
use crate::error::{Error, Result};

impl Manifest {
    /// Checks the manifest's internal consistency; `origin` (bundle directory or manifest
    /// file) only names it in the error, which lists every problem found.
    pub fn validate(&self, origin: &Path) -> Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidBundle {
                path: origin.to_path_buf(),
                reason: problems.join("; "),
            })
        }
    }

    /// Name of the stage the trunk graph ends with (the first adapted stage).
    pub fn trunk_output(&self) -> Option<&str> {
        self.adapted.first().map(|s| s.name.as_str())
    }

    /// Name of the last stage on the teacher path, whose `pooled` output is the routing
    /// vector.
    pub fn last_teacher_stage(&self) -> Option<&str> {
        match self.later_stages.last() {
            Some(stage) => Some(stage.name.as_str()),
            None => self.trunk_output(),
        }
    }

    /// Whether the routing vector is the last teacher stage's `pooled` output: always under
    /// distance scoring, and under local scoring when a stage of its own routes instead of
    /// the features graph.
    pub fn routes_by_stage(&self) -> bool {
        self.routing_stage != FEATURES
    }

    /// Index of the product called `name`.
    pub fn product_index(&self, name: &str) -> Option<usize> {
        self.products.iter().position(|t| t.name == name)
    }

    /// Every graph of the bundle with its role, in data-flow order: trunk, later stages,
    /// features (local scoring), head, each product's graphs.
    pub fn graph_roles(&self) -> Vec<(String, &str)> {
        let mut graphs: Vec<(String, &str)> = vec![("trunk graph".into(), &self.trunk_graph)];
        for stage in &self.later_stages {
            graphs.push((format!("graph of stage `{}`", stage.name), &stage.graph));
        }
        if let Scoring::Local(local) = &self.scoring {
            graphs.push(("features graph".into(), &local.features_graph));
        }
        graphs.push(("head graph".into(), &self.head_graph));
        for product in &self.products {
            for (i, adapter) in product.adapters.iter().enumerate() {
                graphs.push((
                    format!("adapter {i} of product `{}`", product.name),
                    adapter,
                ));
            }
        }
        graphs
    }

    /// Every graph of the bundle, in [`Manifest::graph_roles`] order.
    pub fn graphs(&self) -> Vec<&str> {
        self.graph_roles().into_iter().map(|(_, g)| g).collect()
    }

    /// Whether the manifest lists the file at `rel`.
    pub fn has_file(&self, rel: &str) -> bool {
        self.files.iter().any(|f| f.path == rel)
    }

    /// The size of the file at `rel` as the manifest lists it (0 when it is not listed).
    pub fn file_bytes(&self, rel: &str) -> u64 {
        self.files
            .iter()
            .find(|f| f.path == rel)
            .map_or(0, |f| f.bytes)
    }

    /// Sum of the sizes of every listed file (the bundle's footprint without the manifest).
    pub fn files_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// Every problem with the manifest, in a stable order; empty when it is consistent.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut problem = |text: String| problems.push(text);

        if self.trunk.input_size == 0 {
            problem("trunk input size is 0".into());
        }

        // Stages.
        if self.adapted.is_empty() {
            problem("no adapted stages".into());
        }
        let mut stage_names = HashSet::new();
        for stage in &self.adapted {
            if !stage_names.insert(stage.name.as_str()) {
                problem(format!("adapted stage `{}` is listed twice", stage.name));
            }
            if stage.channels == 0 || stage.height == 0 || stage.width == 0 {
                problem(format!(
                    "adapted stage `{}` has an empty shape {}x{}x{}",
                    stage.name, stage.channels, stage.height, stage.width
                ));
            }
        }
        let mut later_names = HashSet::new();
        for stage in &self.later_stages {
            if !later_names.insert(stage.name.as_str()) {
                problem(format!("later stage `{}` is listed twice", stage.name));
            }
            if Some(stage.name.as_str()) == self.trunk_output() {
                problem(format!(
                    "later stage `{}` is the trunk's own output stage",
                    stage.name
                ));
            }
        }
        let expected_adapted: Vec<&str> = self
            .trunk_output()
            .into_iter()
            .chain(
                self.later_stages
                    .iter()
                    .filter(|s| s.adapted)
                    .map(|s| s.name.as_str()),
            )
            .collect();
        let adapted: Vec<&str> = self.adapted.iter().map(|s| s.name.as_str()).collect();
        if !self.adapted.is_empty() && adapted != expected_adapted {
            problem(format!(
                "adapted stages {adapted:?} do not match the trunk output followed by the \
                 adapted later stages {expected_adapted:?}"
            ));
        }
        match &self.scoring {
            Scoring::Distance => {
                if let Some(last) = self.last_teacher_stage() {
                    if self.routing_stage != last {
                        problem(format!(
                            "routing stage `{}` is not the last stage on the teacher path \
                             (`{last}`)",
                            self.routing_stage
                        ));
                    }
                }
            }
            Scoring::Local(local) => {
                let last = self.last_teacher_stage();
                if self.routing_stage != FEATURES && Some(self.routing_stage.as_str()) != last {
                    problem(format!(
                        "routing stage `{}`: local scoring routes by the features graph's \
                         `{FEATURES}` or by the last stage on the teacher path ({})",
                        self.routing_stage,
                        last.map_or("none".into(), |l| format!("`{l}`"))
                    ));
                }
                let sigma = local.smooth_sigma;
                if !(0.0..=self.trunk.input_size as f32).contains(&sigma) {
                    problem(format!(
                        "smoothing sigma {sigma} is not between 0 and the input size {}",
                        self.trunk.input_size
                    ));
                }
                let f = &local.features;
                if f.channels == 0 || f.height == 0 || f.width == 0 {
                    problem(format!(
                        "local features have an empty shape {}x{}x{}",
                        f.channels, f.height, f.width
                    ));
                }
            }
        }
        if self.routing_dim == 0 {
            problem("routing dimension is 0".into());
        }

        // Files.
        let mut listed = HashSet::new();
        for file in &self.files {
            if let Err(why) = check_rel_path(&file.path) {
                problem(format!("file path `{}` {why}", file.path));
            }
            if !listed.insert(file.path.as_str()) {
                problem(format!("file `{}` is listed twice", file.path));
            }
            if file.sha256.len() != 64
                || !file
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                problem(format!(
                    "file `{}` has a malformed sha256 `{}`",
                    file.path, file.sha256
                ));
            }
        }

        // Graphs: each listed in `files`, none used twice.
        let graphs = self.graph_roles();
        let mut used = HashSet::new();
        for (role, path) in &graphs {
            if !listed.contains(path) {
                problem(format!("{role} `{path}` is not listed in files"));
            }
            if !used.insert(*path) {
                problem(format!(
                    "{role} `{path}` is used by more than one graph role"
                ));
            }
        }

        // Products.
        let mut product_names = HashSet::new();
        for product in &self.products {
            if product.name.is_empty() {
                problem("a product has an empty name".into());
            }
            if !product_names.insert(product.name.as_str()) {
                problem(format!("product name `{}` is used twice", product.name));
            }
            if product.prototype.len() != self.routing_dim {
                problem(format!(
                    "product `{}` has a prototype of length {}, expected routing dimension {}",
                    product.name,
                    product.prototype.len(),
                    self.routing_dim
                ));
            }
            if product.prototype.iter().any(|v| !v.is_finite()) {
                problem(format!(
                    "product `{}` has a non-finite prototype value",
                    product.name
                ));
            }
            // An infinite radius (never unknown) is allowed.
            if product.routing_radius.is_nan() || product.routing_radius < 0.0 {
                problem(format!(
                    "product `{}` has routing radius {}, expected >= 0",
                    product.name, product.routing_radius
                ));
            }
            if !(product.threshold.is_finite() && product.threshold > 0.0) {
                problem(format!(
                    "product `{}` has score threshold {}, expected a finite value > 0",
                    product.name, product.threshold
                ));
            }
            let graphs = match self.scoring {
                Scoring::Distance => self.adapted.len(),
                Scoring::Local(_) => 1,
            };
            if product.adapters.len() != graphs {
                problem(format!(
                    "product `{}` has {} graphs, its scoring needs {graphs}",
                    product.name,
                    product.adapters.len(),
                ));
            }
            if let RoutingModel::Ppca {
                basis,
                variances,
                residual,
            } = &product.routing
            {
                let k = variances.len();
                let positive = |v: &f32| v.is_finite() && *v > 0.0;
                if basis.len() != k * self.routing_dim
                    || !positive(residual)
                    || !variances.iter().all(positive)
                    || basis.iter().any(|v| !v.is_finite())
                {
                    problem(format!(
                        "product `{}` has a routing model of {} directions, {} basis values for \
                         routing dimension {} and residual {residual} (every variance must be \
                         finite and > 0)",
                        product.name,
                        k,
                        basis.len(),
                        self.routing_dim
                    ));
                }
            }
        }
        problems
    }
}

/// Checks that `path` is a safe bundle-relative path: `/`-separated, non-empty components,
/// no `.` or `..`, not absolute, no backslashes, and not the manifest itself.
pub(crate) fn check_rel_path(path: &str) -> std::result::Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.starts_with('/') {
        return Err("is absolute");
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("contains a backslash or NUL");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("has an empty, `.` or `..` component");
    }
    if path == MANIFEST_FILE {
        return Err("is the manifest itself");
    }
    Ok(())
}
