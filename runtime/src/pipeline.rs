//! The per-frame pipeline: one image in, one verdict out.
//!
//! For each frame: preprocess (resize to the trunk's input size, no crop, normalise), run the
//! trunk and the later stages on the teacher path, route by the pooled routing vector to the
//! nearest product, run that product's adapters along the student path (re-using the shared
//! later stages), and let the head compare teacher and student features into an anomaly map
//! and score. The graph data flow is the one documented in [`crate::bundle::manifest`].
//!
//! Fail safe, never silent: whatever goes wrong inside [`Pipeline::infer`] (a graph error, a
//! tensor of the wrong shape, a NaN score) yields a FAIL verdict with reason `error` and the
//! message; an image of no known product is FAIL with reason `unknown_product`, and then no
//! adapters run.
//!
//! Under local scoring the image score is taken from the product's feature-resolution map
//! ([`SmoothedMax`]: the exact maximum of the head's upsampled, smoothed map without forming
//! it), and the head graph runs only for the full-resolution map, when it is wanted
//! ([`Pipeline::set_full_maps`]) or afterwards for a heatmap ([`Pipeline::complete_map`]).
//!
//! ```no_run
//! # fn main() -> adapts_runtime::Result<()> {
//! use std::path::Path;
//! use adapts_runtime::pipeline::Pipeline;
//! use adapts_runtime::{preprocess::load_rgb, SessionConfig};
//!
//! let mut pipeline = Pipeline::open(Path::new("bundle"), &SessionConfig::default())?;
//! let image = load_rgb(Path::new("frame.png"))?;
//! let result = pipeline.infer(&image, None);
//! println!("{:?} {} score/threshold = {}", result.product, result.verdict, result.ratio);
//! # Ok(())
//! # }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::bundle::manifest::{
    head_inputs, FEATURES_IN as X, FEATURES_OUT as Y, IMAGE, MAP, POOLED, SCORE,
};
use crate::bundle::manifest::{LocalScoring, Scoring, FEATURES};
use crate::bundle::{Bundle, GraphPrecision, Manifest};
use crate::engine::{Engine, GraphRunner, OrtEngine, SessionConfig};
use crate::error::{Error, Result};
use crate::preprocess::Preprocess;
use crate::route::Router;
use crate::smoothing::SmoothedMax;
use crate::tensor::Tensor;

mod inference;

pub use inference::{Inference, Latency, Reason, ReasonCode, Verdict};

pub use crate::engine::BoxedRunner;

/// The loaded graphs of a bundle, one runner each, in manifest order.
pub struct Graphs {
    /// The trunk graph.
    pub trunk: BoxedRunner,
    /// One runner per later stage, in `Manifest::later_stages` order.
    pub later_stages: Vec<BoxedRunner>,
    /// The features graph (local scoring only).
    pub features: Option<BoxedRunner>,
    /// The head graph.
    pub head: BoxedRunner,
    /// Per product (in `Manifest::products` order), its graphs: one adapter runner per adapted
    /// stage (distance scoring) or its map graph (local scoring).
    pub adapters: Vec<Vec<BoxedRunner>>,
}

impl fmt::Debug for Graphs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graphs")
            .field("later_stages", &self.later_stages.len())
            .field("adapters", &self.adapters.len())
            .finish_non_exhaustive()
    }
}

/// A bundle loaded for inference: its graphs, router and preprocessing.
pub struct Pipeline {
    manifest: Manifest,
    graphs: Graphs,
    router: Router,
    preprocess: Preprocess,
    head_inputs: Vec<(String, String)>,
    /// Local scoring: the image score from the product's feature-resolution map.
    smoothed_max: Option<SmoothedMax>,
    /// Whether each frame's full-resolution map is computed (local scoring; distance scoring
    /// always computes it).
    full_maps: bool,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("trunk", &self.manifest.trunk.id)
            .field("products", &self.manifest.products.len())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Opens the bundle in `bundle_dir` (verifying every file, see [`Bundle::open`]) and
    /// loads every graph into ONNX Runtime: trunk, later stages, head and each product's
    /// adapters. Each graph's input and output names are checked against the contract.
    pub fn open(bundle_dir: &Path, config: &SessionConfig) -> Result<Self> {
        let bundle = Bundle::open(bundle_dir)?;
        Self::from_bundle(&bundle, config)
    }

    /// Loads the graphs of an opened bundle into ONNX Runtime.
    pub fn from_bundle(bundle: &Bundle, config: &SessionConfig) -> Result<Self> {
        Self::with_engine(bundle, &OrtEngine::new(config.clone()))
    }

    /// Loads the graphs of an opened bundle into `engine` (INT8 twins where the bundle has
    /// them, see [`GraphPrecision::Auto`]), checking each graph's input and output names
    /// against the bundle contract.
    pub fn with_engine(bundle: &Bundle, engine: &dyn Engine) -> Result<Self> {
        Self::load(
            bundle.dir(),
            bundle.manifest(),
            engine,
            GraphPrecision::Auto,
        )
    }

    /// [`Pipeline::from_bundle`] in the given precision.
    pub fn from_bundle_at(
        bundle: &Bundle,
        config: &SessionConfig,
        precision: GraphPrecision,
    ) -> Result<Self> {
        Self::load(
            bundle.dir(),
            bundle.manifest(),
            &OrtEngine::new(config.clone()),
            precision,
        )
    }

    /// Loads the graphs `m` names from the bundle folder `dir` into `engine`, in `precision`.
    /// The files are not verified here: [`Bundle::open`] does that, and the builder uses this
    /// to score a bundle it is writing before its manifest is committed.
    pub fn load(
        dir: &Path,
        m: &Manifest,
        engine: &dyn Engine,
        precision: GraphPrecision,
    ) -> Result<Self> {
        m.check_precision(precision)?;
        let load = |rel: &str, inputs: &[&str], outputs: &[&str]| -> Result<BoxedRunner> {
            let file = m.graph_file(rel, precision);
            let runner = engine.load(&dir.join(&file))?;
            check_io(runner.as_ref(), &file, inputs, outputs)?;
            Ok(runner)
        };
        let first = m.trunk_output().unwrap_or_default();
        let trunk_outputs: &[&str] = if m.later_stages.is_empty() {
            &[first, POOLED]
        } else {
            &[first]
        };
        let trunk = load(&m.trunk_graph, &[IMAGE], trunk_outputs)?;
        let later_stages = m
            .later_stages
            .iter()
            .map(|s| load(&s.graph, &[X], &[Y, POOLED]))
            .collect::<Result<Vec<_>>>()?;
        let head_names = head_input_names(m.adapted.len());
        let (features, head, product_io) = match &m.scoring {
            Scoring::Distance => {
                let head_inputs: Vec<&str> = head_names
                    .iter()
                    .flat_map(|(t, s)| [t.as_str(), s.as_str()])
                    .collect();
                let head = load(&m.head_graph, &head_inputs, &[MAP, SCORE])?;
                (None, head, (X, Y))
            }
            Scoring::Local(local) => {
                let taps: Vec<&str> = head_names.iter().map(|(t, _)| t.as_str()).collect();
                let features = load(&local.features_graph, &taps, &[FEATURES, POOLED])?;
                let head = load(&m.head_graph, &[X], &[MAP, SCORE])?;
                (Some(features), head, (X, MAP))
            }
        };
        let adapters = m
            .products
            .iter()
            .map(|t| {
                t.adapters
                    .iter()
                    .map(|a| load(a, &[product_io.0], &[product_io.1]))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let int8 = match precision {
            GraphPrecision::Fp32 => 0,
            _ => m.int8_graphs().len(),
        };
        if precision == GraphPrecision::Fp32 && !m.int8_graphs().is_empty() {
            log::warn!(
                "bundle {}: running the FP32 graphs of a calibrated bundle, whose routing and \
                 thresholds were set on its INT8 graphs; compare against the FP32 bundle instead",
                dir.display()
            );
        }
        let twin = |rel: &str| m.graph_file(rel, precision) != rel;
        if twin(&m.trunk_graph) {
            let behind: Vec<&str> = m
                .products
                .iter()
                .filter(|p| p.adapters.iter().any(|a| !twin(a)))
                .map(|p| p.name.as_str())
                .collect();
            if !behind.is_empty() {
                log::warn!(
                    "bundle {}: {} not calibrated: FP32 graphs fitted on the FP32 trunk run on \
                     the INT8 trunk's features; run `adapts-builder calibrate` on the bundle",
                    dir.display(),
                    behind.join(", ")
                );
            }
        }
        log::info!(
            "bundle {}: trunk {}, preset {}, {} products, {} graphs ({int8} INT8) loaded into {}",
            dir.display(),
            m.trunk.id,
            m.preset,
            m.products.len(),
            2 + usize::from(features.is_some())
                + m.later_stages.len()
                + m.products.iter().map(|p| p.adapters.len()).sum::<usize>(),
            engine.describe()
        );
        let mut pipeline = Self::new(
            m.clone(),
            Graphs {
                trunk,
                later_stages,
                features,
                head,
                adapters,
            },
        )?;
        pipeline.check_head_score(&m.graph_file(&m.head_graph, precision))?;
        Ok(pipeline)
    }

    /// Local scoring: checks once that the head graph's score is the maximum
    /// [`SmoothedMax`] computes from the manifest's smoothing, on a fixed uneven map, so
    /// that the score of a frame does not depend on whether its full map is computed.
    fn check_head_score(&mut self, head_file: &str) -> Result<()> {
        let Some(sm) = self.smoothed_max.as_mut() else {
            return Ok(());
        };
        let (h, w) = sm.input();
        let probe = head_probe(h, w);
        let want = sm.max(&probe);
        let mut outputs = self
            .graphs
            .head
            .run(&[(X, &Tensor::new(vec![1, 1, h, w], probe)?)])?;
        let score = take(&mut outputs, SCORE, head_file)?;
        let got = score.data.first().copied().unwrap_or(f32::NAN);
        let close = (got - want).abs() <= HEAD_SCORE_TOLERANCE * want.abs();
        if !close {
            return Err(Error::GraphContract {
                graph: head_file.to_owned(),
                reason: format!(
                    "its score on a test map is {got}, but the manifest's smoothing (sigma {}, \
                     {h}x{w} to {}) gives {want}",
                    match &self.manifest.scoring {
                        Scoring::Local(l) => l.smooth_sigma,
                        Scoring::Distance => f32::NAN,
                    },
                    self.manifest.trunk.input_size
                ),
            });
        }
        Ok(())
    }

    /// A pipeline over already-loaded graphs of any engine. The manifest must be consistent
    /// ([`Manifest::validate`]) and `graphs` must match it in counts.
    pub fn new(manifest: Manifest, graphs: Graphs) -> Result<Self> {
        manifest.validate(Path::new("(manifest)"))?;
        let mismatch = |reason: String| Error::InvalidBundle {
            path: "(graphs)".into(),
            reason,
        };
        if graphs.later_stages.len() != manifest.later_stages.len() {
            return Err(mismatch(format!(
                "{} later stage runners for {} later stages",
                graphs.later_stages.len(),
                manifest.later_stages.len()
            )));
        }
        if graphs.adapters.len() != manifest.products.len() {
            return Err(mismatch(format!(
                "adapter runners for {} products, the manifest has {}",
                graphs.adapters.len(),
                manifest.products.len()
            )));
        }
        if let Some((product, runners)) = manifest
            .products
            .iter()
            .zip(&graphs.adapters)
            .find(|(p, r)| r.len() != p.adapters.len())
        {
            return Err(mismatch(format!(
                "product `{}` has {} runners for {} graphs",
                product.name,
                runners.len(),
                product.adapters.len()
            )));
        }
        let local = matches!(manifest.scoring, Scoring::Local(_));
        if graphs.features.is_some() != local {
            return Err(mismatch(format!(
                "a features runner is {} for {} scoring",
                if local { "missing" } else { "given" },
                if local { "local" } else { "distance" }
            )));
        }
        let router = Router::new(&manifest.products)?;
        let preprocess =
            Preprocess::full_frame(manifest.trunk.input_size, manifest.trunk.normalization);
        let head_inputs = head_input_names(manifest.adapted.len());
        let size = manifest.trunk.input_size as usize;
        let smoothed_max = match &manifest.scoring {
            Scoring::Local(l) => Some(SmoothedMax::new(
                (l.features.height, l.features.width),
                (size, size),
                l.smooth_sigma,
            )),
            Scoring::Distance => None,
        };
        Ok(Self {
            manifest,
            graphs,
            router,
            preprocess,
            head_inputs,
            smoothed_max,
            full_maps: true,
        })
    }

    /// Whether each frame's full-resolution map ([`Inference::map`]) is computed; on by
    /// default. Off, local scoring runs the head graph only when [`Pipeline::complete_map`]
    /// asks for it: a station needs the score to answer, and the map only for the heatmap of
    /// a rejected part. The score is the same either way. Distance scoring always computes
    /// the map, from which its score comes.
    pub fn set_full_maps(&mut self, on: bool) {
        self.full_maps = on;
    }

    /// Fills in `result`'s full-resolution map from its feature-resolution one when it was
    /// judged without ([`Pipeline::set_full_maps`]). Nothing to do when it has its map or no
    /// map at all.
    pub fn complete_map(&mut self, result: &mut Inference) -> Result<()> {
        let (None, Some(coarse)) = (&result.map, &result.coarse_map) else {
            return Ok(());
        };
        let mut input = coarse.clone();
        input.shape = [vec![1, 1], coarse.shape.clone()].concat();
        result.map = Some(full_map(&mut self.graphs, &self.manifest, &input)?);
        Ok(())
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Keeps only the first `n` products: the station as it stood when its `n`-th product was
    /// added (appending adds products at the end and never changes an earlier one). Routing then
    /// chooses among those `n` prototypes. An error when `n` is 0 or more than the products.
    pub fn truncate_products(&mut self, n: usize) -> Result<()> {
        if n == 0 || n > self.manifest.products.len() {
            return Err(Error::InvalidBundle {
                path: "(manifest)".into(),
                reason: format!(
                    "cannot keep {n} of {} products",
                    self.manifest.products.len()
                ),
            });
        }
        self.manifest.products.truncate(n);
        self.graphs.adapters.truncate(n);
        self.router = Router::new(&self.manifest.products)?;
        Ok(())
    }

    /// Judges one frame. Never fails: every problem becomes a FAIL verdict with its reason.
    ///
    /// With `product_override` (a PLC naming the product) routing is skipped, and the
    /// distance to that product's prototype is still reported; a name not in the bundle is
    /// FAIL with reason `error`.
    pub fn infer(&mut self, image: &RgbImage, product_override: Option<&str>) -> Inference {
        let start = Instant::now();
        let mut result = Inference::pending();
        if let Err(err) = self.judge(image, product_override, &mut result) {
            result.verdict = Verdict::Fail;
            result.reason = Some(Reason::Error(err.chain_message()));
        }
        result.latency.total_ms = ms(start.elapsed());
        result
    }

    /// The frame's steps; fills `out` as it goes, so a failure keeps what was measured.
    fn judge(
        &mut self,
        image: &RgbImage,
        product_override: Option<&str>,
        out: &mut Inference,
    ) -> Result<()> {
        let m = &self.manifest;
        let named = product_override
            .map(|name| {
                m.product_index(name).ok_or_else(|| Error::UnknownProduct {
                    name: name.to_owned(),
                    known: m.products.iter().map(|t| t.name.clone()).collect(),
                })
            })
            .transpose()?;

        // Preprocess.
        let step = Instant::now();
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(Error::GraphContract {
                graph: m.trunk_graph.clone(),
                reason: format!("the image is empty ({w}x{h})"),
            });
        }
        let size = m.trunk.input_size as usize;
        let input = Tensor::new(vec![1, 3, size, size], self.preprocess.apply(image))?;
        out.latency.preprocess_ms = ms(step.elapsed());

        // Teacher path: trunk, then every later stage.
        let step = Instant::now();
        let mut outputs = self.graphs.trunk.run(&[(IMAGE, &input)])?;
        let first = &m.adapted[0];
        let t_first = take(&mut outputs, &first.name, &m.trunk_graph)?;
        expect_stage_shape(&t_first, first, &m.trunk_graph)?;
        let mut teacher = vec![t_first];
        let mut pooled = if m.later_stages.is_empty() {
            Some(take(&mut outputs, POOLED, &m.trunk_graph)?)
        } else {
            None
        };
        let mut current = None::<Tensor>;
        for (k, stage) in m.later_stages.iter().enumerate() {
            let x = current.as_ref().unwrap_or(&teacher[0]);
            let mut outputs = self.graphs.later_stages[k].run(&[(X, x)])?;
            let y = take(&mut outputs, Y, &stage.graph)?;
            pooled = Some(take(&mut outputs, POOLED, &stage.graph)?);
            if stage.adapted {
                let info = &m.adapted[teacher.len()];
                expect_stage_shape(&y, info, &stage.graph)?;
                teacher.push(y.clone());
            }
            current = Some(y);
        }
        // Local scoring: the features graph stacks the tapped features and gives the routing
        // vector.
        let (features, pooled, routing_graph) = match &m.scoring {
            Scoring::Distance => {
                let graph = m.later_stages.last().map_or(&m.trunk_graph, |s| &s.graph);
                (None, pooled, graph)
            }
            Scoring::Local(local) => {
                let (features, from_features) =
                    local_features(&mut self.graphs, &self.head_inputs, local, &teacher)?;
                if m.routes_by_stage() {
                    let graph = m.later_stages.last().map_or(&m.trunk_graph, |s| &s.graph);
                    (Some(features), pooled, graph)
                } else {
                    (Some(features), Some(from_features), &local.features_graph)
                }
            }
        };
        let pooled = pooled.ok_or_else(|| Error::GraphContract {
            graph: routing_graph.clone(),
            reason: format!("no `{POOLED}` output"),
        })?;
        if pooled.shape.first() != Some(&1) || pooled.numel() != m.routing_dim {
            return Err(Error::GraphContract {
                graph: routing_graph.clone(),
                reason: format!(
                    "`{POOLED}` has shape {:?}, expected [1, {}]",
                    pooled.shape, m.routing_dim
                ),
            });
        }
        out.latency.trunk_ms = ms(step.elapsed());

        // Route (or take the product the caller named).
        let step = Instant::now();
        let index = match named {
            Some(index) => {
                out.distance = self.router.distance(index, &pooled.data)?;
                index
            }
            None => {
                let route = self.router.route(&pooled.data)?;
                out.distance = route.distance;
                out.nearest = Some(m.products[route.product].name.clone());
                if route.unknown {
                    out.routing_radius = route.radius;
                    out.latency.route_ms = ms(step.elapsed());
                    out.reason = Some(Reason::UnknownProduct);
                    return Ok(());
                }
                route.product
            }
        };
        let product = &m.products[index];
        let threshold = product.threshold;
        out.product = Some(product.name.clone());
        out.routing_radius = product.routing_radius;
        out.threshold = threshold;
        out.latency.route_ms = ms(step.elapsed());

        let score = match (features, self.smoothed_max.as_mut()) {
            (Some(features), Some(sm)) => {
                let small = local_map(&mut self.graphs, m, index, &features, out)?;
                let step = Instant::now();
                let score = sm.max(&small.data);
                if self.full_maps {
                    out.map = Some(full_map(&mut self.graphs, m, &small)?);
                }
                out.coarse_map = Some(map_2d(small, graph_of(m, index))?);
                out.latency.head_ms = ms(step.elapsed());
                score
            }
            _ => {
                let (map, score) =
                    distance_head(&mut self.graphs, m, &self.head_inputs, index, &teacher, out)?;
                if score.numel() != 1 {
                    return Err(Error::GraphContract {
                        graph: m.head_graph.clone(),
                        reason: format!("`{SCORE}` has shape {:?}, expected [1]", score.shape),
                    });
                }
                out.map = Some(map_2d(map, &m.head_graph)?);
                score.data[0]
            }
        };
        if score.is_nan() {
            return Err(Error::GraphContract {
                graph: m.head_graph.clone(),
                reason: "the score is NaN".into(),
            });
        }
        out.score = score;
        out.ratio = score / threshold;
        if score > threshold {
            out.reason = Some(Reason::Anomaly);
        } else {
            out.verdict = Verdict::Pass;
        }
        Ok(())
    }
}

/// Local scoring's features graph on the tapped teacher features: `(features, pooled)`.
fn local_features(
    graphs: &mut Graphs,
    head_inputs: &[(String, String)],
    local: &LocalScoring,
    teacher: &[Tensor],
) -> Result<(Tensor, Tensor)> {
    let inputs: Vec<(&str, &Tensor)> = head_inputs
        .iter()
        .zip(teacher)
        .map(|((t, _), x)| (t.as_str(), x))
        .collect();
    let runner = graphs
        .features
        .as_mut()
        .ok_or_else(|| Error::GraphContract {
            graph: local.features_graph.clone(),
            reason: "the features graph is not loaded".into(),
        })?;
    let mut outputs = runner.run(&inputs)?;
    let features = take(&mut outputs, FEATURES, &local.features_graph)?;
    expect_stage_shape(&features, &local.features, &local.features_graph)?;
    let pooled = take(&mut outputs, POOLED, &local.features_graph)?;
    Ok((features, pooled))
}

/// Distance scoring: product `index`'s student path through the shared later stages, then
/// the head on teacher and student features. Returns the head's `(map, score)`.
fn distance_head(
    graphs: &mut Graphs,
    m: &Manifest,
    head_inputs: &[(String, String)],
    index: usize,
    teacher: &[Tensor],
    out: &mut Inference,
) -> Result<(Tensor, Tensor)> {
    let product = &m.products[index];
    let step = Instant::now();
    let mut student = Vec::with_capacity(m.adapted.len());
    let mut s = run_adapter(&mut *graphs.adapters[index][0], &teacher[0], product, 0, m)?;
    student.push(s.clone());
    // Later stages past the last adapted one only serve routing: the head never sees them.
    let needed = m
        .later_stages
        .iter()
        .rposition(|s| s.adapted)
        .map_or(0, |p| p + 1);
    for (k, stage) in m.later_stages.iter().enumerate().take(needed) {
        let mut outputs = graphs.later_stages[k].run(&[(X, &s)])?;
        s = take(&mut outputs, Y, &stage.graph)?;
        if stage.adapted {
            let i = student.len();
            s = run_adapter(&mut *graphs.adapters[index][i], &s, product, i, m)?;
            student.push(s.clone());
        }
    }
    out.latency.adapters_ms = ms(step.elapsed());

    // Head: teacher vs student of every adapted stage -> map, score.
    let step = Instant::now();
    let mut inputs: Vec<(&str, &Tensor)> = Vec::with_capacity(2 * teacher.len());
    for ((t_name, s_name), (t, s)) in head_inputs.iter().zip(teacher.iter().zip(&student)) {
        inputs.push((t_name, t));
        inputs.push((s_name, s));
    }
    let mut outputs = graphs.head.run(&inputs)?;
    let map = take(&mut outputs, MAP, &m.head_graph)?;
    let score = take(&mut outputs, SCORE, &m.head_graph)?;
    out.latency.head_ms = ms(step.elapsed());
    Ok((map, score))
}

/// Relative difference allowed between the head graph's score and [`SmoothedMax`] on
/// [`head_probe`]: above FP16 rounding (TensorRT plans may run the head in FP16), far below
/// what a wrong blur or size does to the probe's peak.
const HEAD_SCORE_TOLERANCE: f32 = 5e-3;

/// The map [`Pipeline::check_head_score`] runs the head on: uneven and positive, with a
/// spike off the centre, so that a wrong size, blur or border rule moves the maximum by far
/// more than rounding does.
fn head_probe(h: usize, w: usize) -> Vec<f32> {
    let spike = (h / 3) * w + w / 4;
    (0..h * w)
        .map(|i| {
            let (y, x) = ((i / w) as f32, (i % w) as f32);
            let base = 1.0 + ((0.7 * x + 1.3 * y).sin() + 1.5) * (x + 1.0) / w as f32;
            if i == spike {
                base + 20.0
            } else {
                base
            }
        })
        .collect()
}

/// Local scoring: the head graph on a `[1, 1, h, w]` map: the full-resolution map, `[S, S]`.
fn full_map(graphs: &mut Graphs, m: &Manifest, small: &Tensor) -> Result<Tensor> {
    let mut outputs = graphs.head.run(&[(X, small)])?;
    map_2d(take(&mut outputs, MAP, &m.head_graph)?, &m.head_graph)
}

/// Local scoring: the graph of product `index`'s map.
fn graph_of(m: &Manifest, index: usize) -> &str {
    &m.products[index].adapters[0]
}

/// Local scoring: product `index`'s map graph on the local features: its `[1, 1, h, w]` map.
fn local_map(
    graphs: &mut Graphs,
    m: &Manifest,
    index: usize,
    features: &Tensor,
    out: &mut Inference,
) -> Result<Tensor> {
    let graph = graph_of(m, index);
    let step = Instant::now();
    let mut outputs = graphs.adapters[index][0].run(&[(X, features)])?;
    let small = take(&mut outputs, MAP, graph)?;
    let (h, w) = (features.shape[2], features.shape[3]);
    if small.shape != [1, 1, h, w] {
        return Err(Error::GraphContract {
            graph: graph.to_owned(),
            reason: format!(
                "`{MAP}` has shape {:?}, expected [1, 1, {h}, {w}]",
                small.shape
            ),
        });
    }
    out.latency.adapters_ms = ms(step.elapsed());
    Ok(small)
}

/// Runs adapter `index` of `product` on `x` and checks its output shape.
fn run_adapter(
    runner: &mut (dyn GraphRunner + Send),
    x: &Tensor,
    product: &crate::bundle::Product,
    index: usize,
    m: &Manifest,
) -> Result<Tensor> {
    let graph = &product.adapters[index];
    let mut outputs = runner.run(&[(X, x)])?;
    let y = take(&mut outputs, Y, graph)?;
    expect_stage_shape(&y, &m.adapted[index], graph)?;
    Ok(y)
}

/// Removes and returns the output `name`.
fn take(outputs: &mut Vec<(String, Tensor)>, name: &str, graph: &str) -> Result<Tensor> {
    match outputs.iter().position(|(n, _)| n == name) {
        Some(i) => Ok(outputs.swap_remove(i).1),
        None => Err(Error::GraphContract {
            graph: graph.to_owned(),
            reason: format!(
                "no output `{name}`; it returned {:?}",
                outputs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
            ),
        }),
    }
}

/// Checks a stage feature tensor is `[1, C, H, W]` as the manifest says.
fn expect_stage_shape(t: &Tensor, info: &crate::bundle::StageInfo, graph: &str) -> Result<()> {
    let expected = [1, info.channels, info.height, info.width];
    if t.shape != expected {
        return Err(Error::GraphContract {
            graph: graph.to_owned(),
            reason: format!(
                "features of stage `{}` have shape {:?}, expected {expected:?}",
                info.name, t.shape
            ),
        });
    }
    Ok(())
}

/// `[1, 1, H, W]` (or any shape whose leading dims are 1) to `[H, W]`.
fn map_2d(mut map: Tensor, graph: &str) -> Result<Tensor> {
    let rank = map.rank();
    if rank < 2 || map.shape[..rank - 2].iter().any(|&d| d != 1) {
        return Err(Error::GraphContract {
            graph: graph.to_owned(),
            reason: format!("`{MAP}` has shape {:?}, expected [1, 1, S, S]", map.shape),
        });
    }
    map.shape = map.shape[rank - 2..].to_vec();
    Ok(map)
}

/// Head input names `(t0, s0), (t1, s1), ...`.
fn head_input_names(stages: usize) -> Vec<(String, String)> {
    (0..stages).map(head_inputs).collect()
}

/// Checks a loaded graph's input names are exactly `inputs` and that it has every output in
/// `outputs`.
fn check_io(
    runner: &(dyn GraphRunner + Send),
    graph: &str,
    inputs: &[&str],
    outputs: &[&str],
) -> Result<()> {
    let names = |infos: &[crate::engine::TensorInfo]| -> Vec<String> {
        infos.iter().map(|i| i.name.clone()).collect()
    };
    let (have_in, have_out) = (names(runner.inputs()), names(runner.outputs()));
    let have: HashSet<&str> = have_in.iter().map(String::as_str).collect();
    let want: HashSet<&str> = inputs.iter().copied().collect();
    if have != want {
        return Err(Error::GraphContract {
            graph: graph.to_owned(),
            reason: format!("inputs are {have_in:?}, the bundle contract expects {inputs:?}"),
        });
    }
    if let Some(missing) = outputs.iter().find(|o| !have_out.iter().any(|h| h == *o)) {
        return Err(Error::GraphContract {
            graph: graph.to_owned(),
            reason: format!("no output `{missing}`; its outputs are {have_out:?}"),
        });
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests;
