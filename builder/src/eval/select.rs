//! Which products an evaluation covers: those both the bundle and the dataset hold (or the
//! ones `--categories` names, each of which must be in both), each with a test set checked
//! before any inference runs.

use std::collections::BTreeSet;

use super::EvalConfig;
use crate::data::{self, ProductData};
use crate::{Error, Result};

/// The products of `config` among `in_bundle` (the bundle's products, in bundle order),
/// loaded and checked: every product has test images, and every defect image has a mask.
pub fn products(config: &EvalConfig, in_bundle: &[String]) -> Result<Vec<ProductData>> {
    let in_data: BTreeSet<String> = data::products(&config.data, config.layout)?
        .into_iter()
        .collect();
    let names: Vec<String> = if config.categories.is_empty() {
        in_bundle
            .iter()
            .filter(|n| in_data.contains(*n))
            .cloned()
            .collect()
    } else {
        for name in &config.categories {
            if !in_bundle.contains(name) {
                return Err(Error::Selection(format!(
                    "product `{name}` is not in bundle {} (it has: {})",
                    config.bundle.display(),
                    in_bundle.join(", ")
                )));
            }
            if !in_data.contains(name) {
                return Err(Error::Selection(format!(
                    "product `{name}` is not in {} ({:?} layout)",
                    config.data.display(),
                    config.layout
                )));
            }
        }
        config.categories.clone()
    };
    if names.is_empty() {
        return Err(Error::Selection(format!(
            "no product is both in bundle {} ({}) and in {} ({:?} layout)",
            config.bundle.display(),
            in_bundle.join(", "),
            config.data.display(),
            config.layout
        )));
    }
    names
        .iter()
        .map(|name| {
            let product = data::load_product(&config.data, config.layout, name)?;
            check_test_set(&product).map_err(|e| e.with_path(&config.data))?;
            Ok(product)
        })
        .collect()
}

/// A product can be evaluated: it has test images, and every defect image has a mask.
fn check_test_set(product: &ProductData) -> Result<()> {
    if product.test.is_empty() {
        return Err(Error::Dataset(format!(
            "product `{}` has no test images",
            product.name
        )));
    }
    match product
        .test
        .iter()
        .find(|t| t.is_anomalous() && t.mask.is_none())
    {
        Some(t) => Err(Error::Dataset(format!(
            "defect image ({}) without a ground-truth mask",
            t.kind
        ))
        .with_path(&t.path)),
        None => Ok(()),
    }
}
