//! Routing: which product an image shows, by the nearest product prototype in squared L2
//! distance over the pooled teacher features of the routing stage. An image farther from its
//! nearest prototype than that product's routing radius is an unknown product.

use crate::bundle::Product;
use crate::error::{Error, Result};

/// Where an image was routed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route {
    /// Index of the nearest product, in bundle order.
    pub product: usize,
    /// Squared L2 distance to that product's prototype.
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
    radii: Vec<f32>,
}

impl Router {
    /// A router over the products' prototypes and routing radii.
    pub fn new(products: &[Product]) -> Result<Self> {
        Self::from_parts(
            products
                .iter()
                .map(|t| (t.prototype.clone(), t.routing_radius))
                .collect(),
        )
    }

    /// A router from `(prototype, radius)` pairs; every prototype must have the same length.
    pub fn from_parts(parts: Vec<(Vec<f32>, f32)>) -> Result<Self> {
        let dim = parts.first().map_or(0, |(p, _)| p.len());
        if let Some((i, (p, _))) = parts.iter().enumerate().find(|(_, (p, _))| p.len() != dim) {
            return Err(Error::Routing {
                reason: format!("prototype {i} has length {}, the first has {dim}", p.len()),
            });
        }
        let (prototypes, radii) = parts.into_iter().unzip();
        Ok(Self {
            dim,
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

    /// Squared L2 distance from `z` to product `product`'s prototype.
    pub fn distance(&self, product: usize, z: &[f32]) -> Result<f32> {
        self.check(z)?;
        let prototype = self.prototypes.get(product).ok_or_else(|| Error::Routing {
            reason: format!("no product {product}; the bundle has {}", self.len()),
        })?;
        Ok(squared_l2(z, prototype))
    }

    /// The nearest product to `z` (the lowest index on a tie) and whether `z` lies beyond its
    /// radius. Fails on a vector of the wrong length, a non-finite vector, or no products.
    pub fn route(&self, z: &[f32]) -> Result<Route> {
        self.check(z)?;
        let (product, distance) = self
            .prototypes
            .iter()
            .map(|p| squared_l2(z, p))
            .enumerate()
            .fold(None, |best: Option<(usize, f32)>, (i, d)| match best {
                Some((_, best_d)) if best_d <= d => best,
                _ => Some((i, d)),
            })
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
}
