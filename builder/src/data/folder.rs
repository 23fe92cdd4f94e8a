//! The `folder` layout, for a user's own images:
//!
//! ```text
//! ROOT/<product>/good/*                   normal images, all used for training
//! ROOT/<product>/<defect>/*               defect test images
//! ROOT/<product>/masks/<defect>/<stem>.png   optional masks
//! ```

use std::path::Path;

use super::{images_in, test_kinds, ProductData, GOOD};
use crate::error::Result;

/// The directory of masks, which is not a defect type.
const MASKS: &str = "masks";

/// Lists the product in `dir`.
pub fn load(dir: &Path, name: &str) -> Result<ProductData> {
    let test = test_kinds(dir, &[GOOD, MASKS], Path::to_path_buf, |kind, stem| {
        dir.join(MASKS).join(kind).join(format!("{stem}.png"))
    })?;
    Ok(ProductData {
        name: name.into(),
        train: images_in(&dir.join(GOOD))?,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::super::scratch::Scratch;
    use super::super::{load_product, products, Layout};

    #[test]
    fn good_trains_defects_test_and_masks_are_optional() {
        let s = Scratch::new();
        s.image("tile/good/a.png");
        s.image("tile/good/b.jpg");
        s.image("tile/chip/c.png");
        s.image("tile/dent/d.png");
        s.mask("tile/masks/chip/c.png");
        assert_eq!(products(s.path(), Layout::Folder).unwrap(), ["tile"]);
        let p = load_product(s.path(), Layout::Folder, "tile").unwrap();
        assert_eq!(p.train.len(), 2);
        let got: Vec<_> = p
            .test
            .iter()
            .map(|t| (t.kind.as_str(), t.mask.is_some()))
            .collect();
        assert_eq!(got, [("chip", true), ("dent", false)]);
    }
}
