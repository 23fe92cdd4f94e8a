#!/usr/bin/env python3
"""Write builder/tests/fixtures/metrics.json: scikit-learn's metric values on fixed arrays.

The Rust test builder/tests/metrics_parity.rs reads the JSON and asserts that
adapts_builder::metrics (auroc, pixel_auroc, average_precision, f1_max) matches
scikit-learn to <= 1e-6; it needs no Python. This script is the oracle and is only run
to regenerate the fixture.

Regenerate (from the repository root, in a throwaway virtual environment):

    python3 -m venv /tmp/skl
    /tmp/skl/bin/pip install scikit-learn numpy
    /tmp/skl/bin/python scripts/make_metric_fixtures.py

The arrays are deterministic (numpy's PCG64 with fixed seeds) and stored as float32,
the precision the product scores in, so ties are the same on both sides. Cases cover
heavy ties (scores rounded to 2 decimals), perfect and inverse separation, all-equal
scores, a single positive, continuous scores, and about 2000 samples.

Per case the JSON holds: scores, labels (0/1), and scikit-learn's roc_auc_score,
average_precision_score, and F1max = max of 2PR/(P+R) (0 where P+R = 0) over the
thresholds of precision_recall_curve, with the threshold numpy.argmax picks.
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

OUT = pathlib.Path(__file__).resolve().parent.parent / "builder/tests/fixtures/metrics.json"


def correlated(rng, n, decimals, prevalence=0.3, shift=0.25):
    """Labels with the given prevalence and scores that lean higher on positives."""
    labels = rng.random(n) < prevalence
    scores = rng.random(n) + shift * labels
    if decimals is not None:
        scores = np.round(scores, decimals)
    return scores, labels


def cases():
    yield "ties_2_decimals", *correlated(np.random.default_rng(1), 300, 2)
    yield "ties_1_decimal", *correlated(np.random.default_rng(2), 200, 1, prevalence=0.5)
    yield "continuous", *correlated(np.random.default_rng(3), 500, None, prevalence=0.1)
    yield "large_2000", *correlated(np.random.default_rng(4), 2000, 3, prevalence=0.2)
    yield "perfect", np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), np.array([0, 0, 0, 1, 1, 1])
    yield "inverse", np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]), np.array([0, 0, 0, 1, 1, 1])
    yield "all_equal", np.full(9, 0.42), np.array([1, 0, 0, 1, 0, 0, 0, 1, 0])
    rng = np.random.default_rng(5)
    labels = np.zeros(100, dtype=bool)
    labels[37] = True
    yield "one_positive", np.round(rng.random(100), 2), labels
    yield "one_negative", np.round(rng.random(50), 2), np.arange(50) != 11


def f1max(labels, scores):
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom != 0)
    best = int(np.argmax(f1))
    return float(f1[best]), float(thresholds[best])


def main():
    out = []
    for name, scores, labels in cases():
        scores = np.asarray(scores, dtype=np.float32)
        labels = np.asarray(labels, dtype=bool)
        f1, threshold = f1max(labels, scores)
        out.append(
            {
                "name": name,
                "scores": [float(s) for s in scores],
                "labels": [int(v) for v in labels],
                "auroc": float(roc_auc_score(labels, scores)),
                "average_precision": float(average_precision_score(labels, scores)),
                "f1_max": f1,
                "f1_threshold": threshold,
            }
        )
    doc = {
        "generator": "scripts/make_metric_fixtures.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": out,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(out)} cases to {OUT}")


if __name__ == "__main__":
    main()
