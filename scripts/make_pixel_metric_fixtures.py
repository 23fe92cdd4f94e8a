#!/usr/bin/env python3
"""Write builder/tests/fixtures/pixel_metrics.json: pixel metrics of fixed anomaly maps.

The Rust test builder/tests/metrics_parity.rs reads the JSON and asserts that
adapts_builder::metrics::PixelScores (P-ROC, P-AP, P-F1max, AUPRO) matches these values to
<= 1e-6; it needs no Python. This script is the oracle and is only run to regenerate:

    python3 -m venv /tmp/skl
    /tmp/skl/bin/pip install scikit-learn numpy scipy
    /tmp/skl/bin/python scripts/make_pixel_metric_fixtures.py

P-ROC, P-AP and P-F1max are scikit-learn's roc_auc_score, average_precision_score and the
best F1 over precision_recall_curve, on every pixel of every map. AUPRO follows the MVTec AD
evaluation code (compute_pro + trapezoid of its pro_curve_util / generic_util): regions are
scipy.ndimage.label components with a 3x3 structure (8-connected), the curve keeps one point
per distinct score, and the area up to max_fpr (interpolated there) is divided by max_fpr.

Maps are float32 on a coarse grid (many ties), masks are rectangles and diagonal strokes
(8-connectivity matters), some images have no defect, one case has equal scores everywhere.
"""

import json
import pathlib
from bisect import bisect

import numpy as np
import scipy
import sklearn
from scipy.ndimage import label
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

OUT = pathlib.Path(__file__).resolve().parent.parent / "builder/tests/fixtures/pixel_metrics.json"


def compute_pro(anomaly_maps, ground_truth_maps):
    """The MVTec AD reference: (fprs, pros) with one point per distinct score."""
    structure = np.ones((3, 3), dtype=int)
    num_ok_pixels = 0
    num_gt_regions = 0
    shape = (len(anomaly_maps),) + anomaly_maps[0].shape
    fp_changes = np.zeros(shape, dtype=np.uint32)
    pro_changes = np.zeros(shape, dtype=np.float64)
    for i, gt in enumerate(ground_truth_maps):
        labeled, n = label(gt, structure)
        num_gt_regions += n
        ok = labeled == 0
        num_ok_pixels += np.sum(ok)
        fp_changes[i, ok] = 1
        for k in range(n):
            region = labeled == (k + 1)
            pro_changes[i, region] = 1.0 / np.sum(region)
    scores = np.array(anomaly_maps).ravel()
    order = np.argsort(scores, kind="stable")[::-1]
    scores = scores[order]
    fprs = np.cumsum(fp_changes.ravel()[order], dtype=np.float64) / num_ok_pixels
    pros = np.cumsum(pro_changes.ravel()[order]) / num_gt_regions
    keep = np.append(np.diff(scores) != 0, np.True_)
    fprs = np.clip(fprs[keep], None, 1.0)
    pros = np.clip(pros[keep], None, 1.0)
    return np.concatenate(([0.0], fprs, [1.0])), np.concatenate(([0.0], pros, [1.0]))


def trapezoid(x, y, x_max):
    """The MVTec AD reference integration up to x_max, interpolated there."""
    x, y = np.asarray(x), np.asarray(y)
    correction = 0.0
    if x_max not in x:
        ins = bisect(x, x_max)
        y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x, y = x[mask], y[mask]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def f1max(labels, scores):
    precision, recall, _ = precision_recall_curve(labels, scores)
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom != 0)
    return float(np.max(f1))


def blobs(rng, images, height, width, step):
    maps, masks = [], []
    for i in range(images):
        mask = np.zeros((height, width), dtype=bool)
        for _ in range(i % 3):
            y, x = rng.integers(0, height - 4), rng.integers(0, width - 5)
            mask[y : y + rng.integers(2, 5), x : x + rng.integers(2, 6)] = True
        if i % 4 == 3:  # a diagonal stroke: one region only with 8-connectivity
            for d in range(min(height, width) // 2):
                mask[d, d] = True
        noise = np.round(rng.random((height, width)) / step) * step
        maps.append((noise + 0.6 * mask * rng.random((height, width))).astype(np.float32))
        masks.append(mask)
    return maps, masks


def cases():
    yield "blobs_ties", *blobs(np.random.default_rng(11), 8, 32, 32, 0.05)
    yield "blobs_fine_nonsquare", *blobs(np.random.default_rng(12), 6, 20, 28, 0.001)
    rng = np.random.default_rng(13)
    maps, masks = blobs(rng, 5, 16, 16, 0.25)
    yield "coarse_4_levels", maps, masks
    yield "all_equal", [np.full((12, 12), 0.5, dtype=np.float32) for _ in masks[:4]], masks[:4]


def main():
    out = []
    for name, maps, masks in cases():
        flat_scores = np.concatenate([m.ravel() for m in maps]).astype(np.float32)
        flat_labels = np.concatenate([m.ravel() for m in masks])
        if name == "all_equal":
            # The masks of 16 x 16 cut to the 12 x 12 maps.
            masks = [m[:12, :12] for m in masks]
            flat_labels = np.concatenate([m.ravel() for m in masks])
        fprs, pros = compute_pro(maps, masks)
        h, w = maps[0].shape
        out.append(
            {
                "name": name,
                "width": int(w),
                "height": int(h),
                "maps": [[float(v) for v in m.ravel()] for m in maps],
                "masks": [[int(v) for v in m.ravel()] for m in masks],
                "auroc": float(roc_auc_score(flat_labels, flat_scores)),
                "average_precision": float(average_precision_score(flat_labels, flat_scores)),
                "f1_max": f1max(flat_labels, flat_scores),
                "aupro_0.3": trapezoid(fprs, pros, 0.3) / 0.3,
                "aupro_0.05": trapezoid(fprs, pros, 0.05) / 0.05,
            }
        )
    doc = {
        "generator": "scripts/make_pixel_metric_fixtures.py",
        "sklearn": sklearn.__version__,
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "cases": out,
    }
    OUT.write_text(json.dumps(doc) + "\n")
    print(f"wrote {len(out)} cases to {OUT}")


if __name__ == "__main__":
    main()
