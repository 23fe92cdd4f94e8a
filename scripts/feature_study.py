#!/usr/bin/env python3
"""Where the signal is on real parts: closed-form scorers over the frozen EfficientNet-Lite0.

A study, not a product feature. It asks which properties of the teacher features and of the
scoring carry the signal on Magnetic Tile Defects, without any training, so that the choices
of the local-scoring recipe rest on measurements. Every row fits a per-product model on the
normal training images (the standard split, 85 % fit, 15 % held out) and scores the test set:

- a Gaussian (mean, covariance with 1 % shrinkage) on the stride-8 features, per location
  (1x1) or averaged over 3x3 neighbourhoods, raw or L2-normalised over channels: the
  Mahalanobis distance map;
- the same map normalised per location against the held-out normals (mean and spread);
- image score as the map's maximum, the mean of its top 1 %, with or without a Gaussian
  blur (sigma 4 px at 224 px);
- stride-16 features, and stride-8 + stride-16 stacked;
- a k-means codebook (K = 16, 64, 256 centres, the nearest-centre distance) as a compact
  stand-in for a memory bank.

Maps are at the feature resolution, upsampled bilinearly (half-pixel centres) to 224 px.
Image AUROC and pixel AUROC (every second pixel in each direction, masks binarised at 127)
come from scikit-learn. Preprocessing mirrors the runtime's: the full frame resized to
224 x 224 (PIL bilinear, close to the runtime's triangle filter) and (x - 127) / 128.

    target/release/adapts-builder export-trunk --trunk effnet-lite0 \\
        --weights weights/efficientnet-lite0.pth --cut stride16 --size 224 --out out/study/lite0.onnx
    .venv/bin/python scripts/feature_study.py --data /path/to/mtd --model out/study/lite0.onnx

Takes about 3 minutes on 2 cores. Prints one row per variant.
"""

import argparse
import pathlib
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score


def mtd_split(root):
    root = pathlib.Path(root)
    free = sorted((root / "MT_Free" / "Imgs").glob("*.jpg"))
    train = [p for i, p in enumerate(free) if i % 5 != 0]
    test = [(p, 0, None) for i, p in enumerate(free) if i % 5 == 0]
    for cls in sorted(d for d in root.iterdir() if d.name.startswith("MT_") and d.name != "MT_Free"):
        for p in sorted((cls / "Imgs").glob("*.jpg")):
            test.append((p, 1, p.with_suffix(".png")))
    return train, test


def features(session, paths, batch=16):
    f8, f16 = [], []
    names = [o.name for o in session.get_outputs()]
    for i in range(0, len(paths), batch):
        x = np.stack([
            ((np.asarray(Image.open(p).convert("RGB").resize((224, 224), Image.BILINEAR),
                         np.float32) - 127.0) / 128.0).transpose(2, 0, 1)
            for p in paths[i:i + batch]
        ])
        out = dict(zip(names, session.run(None, {"image": x})))
        f8.append(out["stride8"])
        f16.append(out["stride16"])
        print(f"\rfeatures {min(i + batch, len(paths))}/{len(paths)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return np.concatenate(f8), np.concatenate(f16)


def interp(out, inp):
    m = np.zeros((out, inp), np.float32)
    for i in range(out):
        src = max((i + 0.5) * inp / out - 0.5, 0.0)
        i0 = min(int(np.floor(src)), inp - 1)
        i1 = min(i0 + 1, inp - 1)
        w1 = min(max(src - i0, 0.0), 1.0)
        m[i, i0] += 1 - w1
        m[i, i1] += w1
    return m


def up(x, size):
    return np.einsum("ih,nchw,jw->ncij", interp(size, x.shape[-2]), x, interp(size, x.shape[-1]),
                     optimize=True)


def avg3(x):
    h, w = x.shape[-2:]
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ones = np.pad(np.ones((h, w), np.float32), 1)
    total = np.zeros_like(x)
    count = np.zeros((h, w), np.float32)
    for dy in range(3):
        for dx in range(3):
            total += p[..., dy:dy + h, dx:dx + w]
            count += ones[dy:dy + h, dx:dx + w]
    return total / count


def l2n(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def rows(x):
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def gaussian_map(fit, test, shrink=0.01):
    v = rows(fit).astype(np.float64)
    mu = v.mean(0)
    cov = np.cov(v, rowvar=False)
    cov += shrink * np.trace(cov) / len(mu) * np.eye(len(mu))
    prec = np.linalg.inv(cov)
    d = test.transpose(0, 2, 3, 1) - mu
    return np.einsum("nhwc,cd,nhwd->nhw", d, prec, d, optimize=True)


def kmeans(v, k, iters=15, seed=0):
    rng = np.random.default_rng(seed)
    sample = v[rng.choice(len(v), min(len(v), 20000), replace=False)]
    centres = [sample[rng.integers(len(sample))]]
    d2 = ((sample - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        centres.append(sample[rng.choice(len(sample), p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((sample - centres[-1]) ** 2).sum(1))
    centres = np.array(centres)
    for _ in range(iters):
        assign = nearest(v, centres)[0]
        for j in range(k):
            members = v[assign == j]
            if len(members):
                centres[j] = members.mean(0)
    return centres


def nearest(v, centres):
    best = np.empty(len(v), np.float32)
    arg = np.empty(len(v), np.int64)
    cc = (centres ** 2).sum(1)
    for i in range(0, len(v), 65536):
        b = v[i:i + 65536]
        d = (b ** 2).sum(1)[:, None] - 2 * b @ centres.T + cc[None]
        arg[i:i + 65536] = d.argmin(1)
        best[i:i + 65536] = np.maximum(d.min(1), 0)
    return arg, best


def codebook_map(centres, x):
    n, _, h, w = x.shape
    return nearest(rows(x), centres)[1].reshape(n, h, w)


class Scorer:
    def __init__(self, labels, masks):
        self.labels = labels
        self.masks = masks[:, ::2, ::2].ravel()

    def row(self, name, maps, sigma=4.0, score="max", normals=None):
        m = maps.astype(np.float32)
        if normals is not None:
            m = (m - normals.mean(0)) / (normals.std(0) + 1e-6 * normals.std())
        m = up(m[:, None], 224)[:, 0]
        if sigma:
            m = np.stack([gaussian_filter(a, sigma) for a in m])
        flat = m.reshape(len(m), -1)
        if score == "max":
            s = flat.max(1)
        else:
            k = max(1, int(score * flat.shape[1]))
            s = np.sort(flat, 1)[:, -k:].mean(1)
        i_roc = roc_auc_score(self.labels, s)
        p_roc = roc_auc_score(self.masks, m[:, ::2, ::2].ravel())
        print(f"{name:58s} I-ROC {i_roc:.3f}  P-ROC {p_roc:.3f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="Magnetic Tile Defects root (MT_*/Imgs)")
    ap.add_argument("--model", required=True, help="Lite0 trunk exported with --cut stride16")
    args = ap.parse_args()
    train, test = mtd_split(args.data)
    session = ort.InferenceSession(args.model)
    tr8, tr16 = features(session, train)
    te8, te16 = features(session, [t[0] for t in test])
    labels = np.array([t[1] for t in test])
    masks = np.zeros((len(test), 224, 224), bool)
    for i, (_, _, mask) in enumerate(test):
        if mask is not None:
            masks[i] = np.asarray(Image.open(mask).convert("L").resize((224, 224), Image.NEAREST)) > 127
    rng = np.random.default_rng(0)
    order = rng.permutation(len(tr8))
    held = int(round(0.15 * len(tr8)))
    val, fit = order[:held], order[held:]
    out = Scorer(labels, masks)

    for local in (False, True):
        agg = avg3 if local else (lambda x: x)
        tag = "3x3" if local else "1x1"
        for norm in (False, True):
            f = l2n if norm else (lambda x: x)
            ntag = "L2-normalised" if norm else "raw"
            fit8, test8, val8 = f(agg(tr8[fit])), f(agg(te8)), f(agg(tr8[val]))
            m = gaussian_map(fit8, test8)
            out.row(f"stride8 {tag} {ntag}, Gaussian", m)
            if not norm:
                out.row(f"stride8 {tag} {ntag}, Gaussian, no blur", m, sigma=0)
                out.row(f"stride8 {tag} {ntag}, Gaussian, top-1% mean", m, score=0.01)
                out.row(f"stride8 {tag} {ntag}, Gaussian, per-location norm", m,
                        normals=gaussian_map(fit8, val8))
            m16 = up(gaussian_map(f(agg(tr16[fit])), f(agg(te16)))[:, None], 28)[:, 0]
            out.row(f"stride16 {tag} {ntag}, Gaussian", m16)
    stacked = lambda a8, a16: np.concatenate([avg3(a8), up(avg3(a16), a8.shape[-1])], 1)
    fit_s, test_s, val_s = stacked(tr8[fit], tr16[fit]), stacked(te8, te16), stacked(tr8[val], tr16[val])
    for k in (16, 64, 256):
        centres = kmeans(rows(fit_s).astype(np.float32), k)
        kb = centres.size * 4 / 1e3
        m = codebook_map(centres, test_s)
        out.row(f"stride8+16 3x3, k-means K={k} ({kb:.0f} KB)", m)
        out.row(f"stride8+16 3x3, k-means K={k}, per-location norm", m,
                normals=codebook_map(centres, val_s))


if __name__ == "__main__":
    main()
