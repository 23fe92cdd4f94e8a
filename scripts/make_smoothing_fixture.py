#!/usr/bin/env python3
"""Write builder/tests/fixtures/smoothing.json: small maps upsampled bilinearly and blurred.

The Rust test builder/tests/smoothing.rs checks the local head's one-step separable product
(adapts_builder::model::local::smoothed_interpolation) against these values. The oracle here
is scipy.ndimage.gaussian_filter (mode="reflect", truncate=4.0) applied to a bilinear
upsampling with half-pixel centres (torch's interpolate(mode="bilinear",
align_corners=False)). Only run to regenerate:

    python3 -m venv /tmp/sci && /tmp/sci/bin/pip install numpy scipy
    /tmp/sci/bin/python scripts/make_smoothing_fixture.py
"""

import json
import pathlib

import numpy as np
import scipy
from scipy.ndimage import gaussian_filter

OUT = pathlib.Path(__file__).resolve().parent.parent / "builder/tests/fixtures/smoothing.json"


def upsample(x, out_h, out_w):
    """Bilinear, half-pixel centres, edge-clamped (align_corners=False)."""
    def weights(out, inp):
        m = np.zeros((out, inp))
        for i in range(out):
            src = max((i + 0.5) * inp / out - 0.5, 0.0)
            i0 = min(int(np.floor(src)), inp - 1)
            i1 = min(i0 + 1, inp - 1)
            w1 = src - i0
            m[i, i0] += 1.0 - w1
            m[i, i1] += w1
        return m
    return weights(out_h, x.shape[0]) @ x @ weights(out_w, x.shape[1]).T


def main():
    rng = np.random.default_rng(7)
    cases = []
    for (h, w, out_h, out_w, sigma) in [(3, 4, 12, 16, 1.5), (4, 4, 32, 32, 4.0), (2, 5, 9, 20, 0.8)]:
        x = rng.random((h, w))
        y = gaussian_filter(upsample(x, out_h, out_w), sigma, mode="reflect", truncate=4.0)
        cases.append({
            "height": h, "width": w, "out_height": out_h, "out_width": out_w, "sigma": sigma,
            "map": x.ravel().tolist(), "expected": y.ravel().tolist(),
        })
    OUT.write_text(json.dumps({"scipy": scipy.__version__, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
