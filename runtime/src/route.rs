//! Routing: which product an image shows, from the routing vector (pooled teacher features).
//! Each product measures the distance with its [`RoutingModel`]: the squared L2 distance to
//! its prototype (the paper's), or a probabilistic PCA of its normal vectors (a Mahalanobis
//! distance per dimension, about 1 for the product's own images whatever their spread). The
//! nearest product is the one of lowest distance plus its offset (the mean log variance, so
//! the Gaussian's negative log-likelihood per dimension; 0 for L2). An image farther from the
//! nearest product than that product's routing radius is an unknown product.

use crate::bundle::{Product, RoutingModel};
use crate::error::{Error, Result};

/// Where an image was routed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route {
    /// Index of the nearest product, in bundle order.
    pub product: usize,
    /// Routing distance to that product's prototype.
    pub distance: f32,
    /// That product's routing radius.
    pub radius: f32,
    /// Whether `distance > radius`: the image matches no product in the bundle.
    pub unknown: bool,
}

/// The prototypes and radii of a bundle's products.
///
/// ```
/// use adapts_runtime::route::Router;
///
/// let router = Router::from_parts(vec![(vec![0.0, 0.0], 1.0), (vec![10.0, 0.0], 1.0)]).unwrap();
/// let route = router.route(&[9.5, 0.0]).unwrap();
/// assert_eq!(route.product, 1);
/// assert_eq!(route.distance, 0.25);
/// assert!(!route.unknown);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Router {
    dim: usize,
    prototypes: Vec<Vec<f32>>,
    models: Vec<RoutingModel>,
    /// Per product, added to the distance when choosing the nearest product.
    offsets: Vec<f32>,
    radii: Vec<f32>,
}

impl Router {
    /// A router over the products' prototypes, routing models and radii.
    pub fn new(products: &[Product]) -> Result<Self> {
        Self::from_models(
            products
                .iter()
                .map(|p| (p.prototype.clone(), p.routing.clone(), p.routing_radius))
                .collect(),
        )
    }

    /// A router from `(prototype, model, radius)` triples; every prototype must have the
    /// same length, and every model fit it.
    pub fn from_models(parts: Vec<(Vec<f32>, RoutingModel, f32)>) -> Result<Self> {
        let (pairs, models): (Vec<_>, Vec<_>) =
            parts.into_iter().map(|(p, m, r)| ((p, r), m)).unzip();
        let mut router = Self::from_parts(pairs)?;
        for (i, model) in models.into_iter().enumerate() {
            if let RoutingModel::Ppca {
                basis,
                variances,
                residual,
            } = &model
            {
                let residual_ok = residual.is_finite() && *residual > 0.0;
                if basis.len() != variances.len() * router.dim || !residual_ok {
                    return Err(Error::Routing {
                        reason: format!(
                            "routing model {i} has {} basis values for {} directions of length {}",
                            basis.len(),
                            variances.len(),
                            router.dim
                        ),
                    });
                }
                let logs: f64 = variances.iter().map(|&v| f64::from(v).ln()).sum::<f64>()
                    + (router.dim - variances.len()) as f64 * f64::from(*residual).ln();
                router.offsets[i] = (logs / router.dim.max(1) as f64) as f32;
            }
            router.models[i] = model;
        }
        Ok(router)
    }

    /// A router from `(prototype, radius)` pairs; every prototype must have the same length.
    pub fn from_parts(parts: Vec<(Vec<f32>, f32)>) -> Result<Self> {
        let dim = parts.first().map_or(0, |(p, _)| p.len());
        if let Some((i, (p, _))) = parts.iter().enumerate().find(|(_, (p, _))| p.len() != dim) {
            return Err(Error::Routing {
                reason: format!("prototype {i} has length {}, the first has {dim}", p.len()),
            });
        }
        let (prototypes, radii): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        Ok(Self {
            dim,
            models: vec![RoutingModel::Euclidean; prototypes.len()],
            offsets: vec![0.0; prototypes.len()],
            prototypes,
            radii,
        })
    }

    /// Number of products.
    pub fn len(&self) -> usize {
        self.prototypes.len()
    }

    /// Whether there are no products (every image is then unroutable).
    pub fn is_empty(&self) -> bool {
        self.prototypes.is_empty()
    }

    /// Routing distance from `z` to product `product`'s prototype.
    pub fn distance(&self, product: usize, z: &[f32]) -> Result<f32> {
        self.check(z)?;
        if product >= self.len() {
            return Err(Error::Routing {
                reason: format!("no product {product}; the bundle has {}", self.len()),
            });
        }
        Ok(self.distance_unchecked(product, z))
    }

    fn distance_unchecked(&self, product: usize, z: &[f32]) -> f32 {
        let prototype = &self.prototypes[product];
        match &self.models[product] {
            RoutingModel::Euclidean => squared_l2(z, prototype),
            RoutingModel::Ppca {
                basis,
                variances,
                residual,
            } => ppca_distance(z, prototype, basis, variances, *residual),
        }
    }

    /// The nearest product to `z` (the lowest index on a tie) and whether `z` lies beyond its
    /// radius. Fails on a vector of the wrong length, a non-finite vector, or no products.
    pub fn route(&self, z: &[f32]) -> Result<Route> {
        self.check(z)?;
        let (product, _, distance) = (0..self.len())
            .map(|i| {
                let d = self.distance_unchecked(i, z);
                (i, d + self.offsets[i], d)
            })
            .fold(
                None,
                |best: Option<(usize, f32, f32)>, (i, key, d)| match best {
                    Some((_, best_key, _)) if best_key <= key => best,
                    _ => Some((i, key, d)),
                },
            )
            .ok_or_else(|| Error::Routing {
                reason: "the bundle has no products".into(),
            })?;
        let radius = self.radii[product];
        Ok(Route {
            product,
            distance,
            radius,
            unknown: distance > radius,
        })
    }

    fn check(&self, z: &[f32]) -> Result<()> {
        if z.len() != self.dim {
            return Err(Error::Routing {
                reason: format!(
                    "routing vector has length {}, the prototypes have {}",
                    z.len(),
                    self.dim
                ),
            });
        }
        if z.iter().any(|v| !v.is_finite()) {
            return Err(Error::Routing {
                reason: "routing vector has a non-finite value".into(),
            });
        }
        Ok(())
    }
}

/// The probabilistic-PCA distance of [`RoutingModel::Ppca`], in `f64`:
/// `(sum_i (b_i . y)^2 / v_i + (|y|^2 - sum_i (b_i . y)^2) / residual) / D`, `y = z - p`.
pub fn ppca_distance(
    z: &[f32],
    prototype: &[f32],
    basis: &[f32],
    variances: &[f32],
    residual: f32,
) -> f32 {
    let y: Vec<f64> = z
        .iter()
        .zip(prototype)
        .map(|(&a, &b)| f64::from(a) - f64::from(b))
        .collect();
    let total: f64 = y.iter().map(|v| v * v).sum();
    let mut along = 0.0;
    let mut explained = 0.0;
    for (row, &v) in basis.chunks_exact(y.len().max(1)).zip(variances) {
        let p: f64 = row.iter().zip(&y).map(|(&b, &yi)| f64::from(b) * yi).sum();
        along += p * p;
        explained += p * p / f64::from(v);
    }
    let rest = (total - along).max(0.0) / f64::from(residual);
    ((explained + rest) / y.len().max(1) as f64) as f32
}

/// `sum_i (a_i - b_i)^2`, accumulated in `f64` so long vectors lose no precision.
pub fn squared_l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum::<f64>() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::from_parts(vec![
            (vec![0.0, 0.0, 0.0], 2.0),
            (vec![4.0, 0.0, 0.0], 0.5),
            (vec![0.0, 4.0, 0.0], 100.0),
        ])
        .expect("router")
    }

    #[test]
    fn picks_the_nearest_prototype() {
        let r = router();
        let route = r.route(&[3.5, 0.0, 0.0]).expect("route");
        assert_eq!(route.product, 1);
        assert_eq!(route.distance, 0.25);
        assert_eq!(route.radius, 0.5);
        assert!(!route.unknown);
        assert_eq!(r.route(&[0.0, 3.0, 0.0]).expect("route").product, 2);
        assert_eq!(r.route(&[0.1, 0.0, 0.0]).expect("route").product, 0);
    }

    #[test]
    fn beyond_the_nearest_radius_is_unknown() {
        let r = router();
        // Nearest is product 1 at distance 1.0, above its radius 0.5, though product 2's radius is
        // large: only the nearest product's radius decides.
        let route = r.route(&[5.0, 0.0, 0.0]).expect("route");
        assert_eq!(route.product, 1);
        assert_eq!(route.distance, 1.0);
        assert!(route.unknown);
        // Exactly on the radius is still known.
        let route = r.route(&[4.0, 0.0, 0.5_f32.sqrt()]).expect("route");
        assert!((route.distance - 0.5).abs() < 1e-6);
    }

    #[test]
    fn ties_go_to_the_first_product() {
        let r = Router::from_parts(vec![(vec![1.0], 1.0), (vec![-1.0], 1.0)]).expect("router");
        assert_eq!(r.route(&[0.0]).expect("route").product, 0);
    }

    #[test]
    fn distance_to_a_named_product() {
        let r = router();
        assert_eq!(r.distance(2, &[0.0, 1.0, 0.0]).expect("distance"), 9.0);
        assert!(r.distance(3, &[0.0; 3]).is_err());
    }

    #[test]
    fn refuses_bad_vectors_and_empty_routers() {
        let r = router();
        let err = r.route(&[0.0, 0.0]).expect_err("short vector");
        assert!(err.to_string().contains("length 2"), "{err}");
        assert!(r.route(&[f32::NAN, 0.0, 0.0]).is_err());
        let empty = Router::from_parts(vec![]).expect("empty router");
        assert!(empty.is_empty());
        let err = empty.route(&[]).expect_err("no products");
        assert!(err.to_string().contains("no products"), "{err}");
        assert!(Router::from_parts(vec![(vec![0.0], 1.0), (vec![0.0, 1.0], 1.0)]).is_err());
    }

    #[test]
    fn ppca_routing_is_a_per_dimension_mahalanobis_distance_and_penalises_spread() {
        // `wide` varies 100x along the first axis (variance 100, residual 1), `narrow` not.
        let mut wide = crate::bundle::tests::sample_product("wide", 0.0);
        wide.prototype = vec![0.0, 0.0, 0.0];
        wide.routing = RoutingModel::Ppca {
            basis: vec![1.0, 0.0, 0.0],
            variances: vec![100.0],
            residual: 1.0,
        };
        wide.routing_radius = 3.0;
        let mut narrow = crate::bundle::tests::sample_product("narrow", 0.0);
        narrow.prototype = vec![6.0, 0.0, 0.0];
        narrow.routing = RoutingModel::Ppca {
            basis: vec![1.0, 0.0, 0.0],
            variances: vec![1.0],
            residual: 1.0,
        };
        narrow.routing_radius = 3.0;
        let r = Router::new(&[wide, narrow]).expect("router");
        // Along the wide axis: 6^2 / 100 / 3 = 0.12 for `wide`.
        let z = [6.0, 0.0, 0.0];
        assert!((r.distance(0, &z).expect("distance") - 0.12).abs() < 1e-6);
        assert_eq!(r.distance(1, &z).expect("distance"), 0.0);
        // `wide`'s spread costs it ln(100) / 3 = 1.535 when choosing: at `narrow`'s prototype,
        // `narrow` wins although both distances are small.
        assert_eq!(r.route(&z).expect("route").product, 1);
        // Off-axis: (1^2 / 1) / 3 for `wide`, ((5^2 + 1^2) / 1) / 3 for `narrow`.
        let route = r.route(&[1.0, 1.0, 0.0]).expect("route");
        assert_eq!(route.product, 0);
        assert!(
            (route.distance - 1.01 / 3.0).abs() < 1e-5,
            "{}",
            route.distance
        );
        // Three units off-axis: 3.0 for `wide`, at its radius, then beyond it.
        assert!(!r.route(&[0.0, 3.0, 0.0]).expect("route").unknown);
        assert!(r.route(&[0.0, 3.1, 0.0]).expect("route").unknown);
        // A malformed model is refused.
        let mut bad = crate::bundle::tests::sample_product("bad", 0.0);
        bad.routing = RoutingModel::Ppca {
            basis: vec![1.0, 0.0],
            variances: vec![1.0],
            residual: 1.0,
        };
        assert!(Router::new(&[bad]).is_err());
    }
}
