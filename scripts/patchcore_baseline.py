#!/usr/bin/env python3
"""PatchCore reference baseline over the frozen EfficientNet-Lite0 trunk (an oracle, not a product).

This script scores a dataset with PatchCore (Roth et al., "Towards Total Recall in Industrial
Anomaly Detection", 2022) computed over the same frozen trunk the builder uses, so that our
method can be compared against a well-known memory-bank detector on identical features. It is a
reference oracle for benchmarks only; nothing in the builder or the runtime depends on it.

Trunk
    An ONNX graph written by the builder, e.g.

        target/release/adapts-builder export-trunk --trunk effnet-lite0 \\
            --weights weights/efficientnet-lite0.pth --cut stride16 --size 224 \\
            --out out/patchcore/lite0-stride16.onnx

    Input `image` [N,3,224,224]; the outputs `stride8` [N,40,28,28] and `stride16`
    [N,112,14,14] are used (the others are ignored).

Preprocessing (as the runtime's full-frame mode for this trunk, runtime/src/preprocess.rs)
    Decode to 8-bit RGB (grayscale and palette images become RGB, alpha is dropped), resize the
    whole frame straight to 224 x 224 (no crop, aspect ratio not kept; an image already 224 x 224
    is left as is) with PIL's antialiased `Image.BILINEAR` filter, which is close to, but not
    bit-identical with, the runtime's triangle filter (the `image` crate); JPEG decoders also
    differ slightly. Then `(x - 127) / 128` per channel, planar NCHW float32.

Patch features
    stride8 and stride16 are each 3 x 3 average-pooled (stride 1, padding 1, zero padding: the
    border windows are divided by 9, as torch's AvgPool2d(3, 1, 1) with its default
    count_include_pad=True); stride16 is then bilinearly upsampled to 28 x 28 with half-pixel
    centres (torch's align_corners=False, source coordinates clamped at the border); the two are
    concatenated on channels: one 152-d vector per location of a 28 x 28 grid. The memory bank
    is every location of every normal training image (all of them: no validation split).

Coreset
    k-center greedy: start from one point drawn at random, then repeatedly add the point whose
    distance to the selected set is largest, until k = floor(fraction x bank size) points
    (at least 1) are chosen. Distances for the selection are Euclidean on a random projection of
    the features to 128 dims (a dense Gaussian matrix, entries N(0, 1/128), drawn with
    numpy.random.default_rng(--seed), which also draws the start point); the chosen points keep
    their full 152-d vectors. The selection is exact greedy (the same points as the textbook
    loop, up to near-ties within float32 rounding), computed lazily for speed: distances to the
    selected set only decrease, so stale ones are upper bounds; the farthest point is searched
    among a few thousand points kept exact, and other points are brought up to date (in blocks,
    by matrix products, largest bound first) only when one of them could be the farthest.
    `--coreset 1.0` keeps the whole bank.

Scoring
    Each test patch's anomaly score is its Euclidean distance to the nearest coreset point
    (exact, computed in chunks to bound memory). The 28 x 28 map is bilinearly upsampled to
    224 x 224 (align_corners=False), blurred with a Gaussian of sigma 4 (scipy.ndimage
    gaussian_filter, truncate 4 -> 33 taps, mode 'reflect'); the image score is the map's max.

Metrics
    I-ROC: scikit-learn roc_auc_score of image scores, label = defect (test kind != good).
    P-ROC: roc_auc_score over every pixel of every test image (good images have empty masks);
    masks are resized to 224 x 224 with nearest neighbour (PIL Image.NEAREST), defect = value
    > 127. AUPRO: the MVTec AD reference compute_pro (8-connected regions, one curve point per
    distinct score) integrated up to 30 % FPR and divided by 0.3; the implementation is imported
    from scripts/make_pixel_metric_fixtures.py, the oracle of the Rust metric tests.
    Memory per product: coreset points x 152 x 4 bytes (float32), also in MB (10^6 bytes).

Data layouts (as the builder's readers)
    --layout mtd    Magnetic Tile Defects: ROOT/MT_<class>/Imgs/<name>.jpg, mask <name>.png
                    beside it. One product, `mtd`. Standard split: the MT_Free jpg names sorted
                    lexicographically, index i % 5 == 0 tests (good), the others train; every
                    image of the other MT_* classes tests, with the png beside it as its mask.
    --layout mvtec  ROOT/<product>/train/good/*, ROOT/<product>/test/<type>/*, masks
                    ROOT/<product>/ground_truth/<type>/<stem>_mask.png; --categories a,b picks
                    the products (default: every product directory). A defect image without its
                    mask is an error.

Run (needs the project venv: scripts/setup.sh installs numpy, onnxruntime, scikit-learn, scipy
and pillow into .venv)

    .venv/bin/python scripts/patchcore_baseline.py --layout mtd --data /path/to/mtd \\
        --coreset 0.01 --json out/patchcore/mtd-0.01.json
    .venv/bin/python scripts/patchcore_baseline.py --layout mvtec --data /path/to/mvtec \\
        --categories bottle,screw

A table per product (images, I-ROC, P-ROC, AUPRO, coreset size, MB, seconds) goes to stdout,
progress to stderr, and `--json FILE` writes the same numbers.
"""

import argparse
import importlib.util
import json
import math
import pathlib
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score

SCRIPTS = pathlib.Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
DEFAULT_MODEL = ROOT / "out/patchcore/lite0-stride16.onnx"

SIZE = 224
GRID = 28
IMAGE_EXTS = {".png", ".jpg", ".jpeg"}
GOOD = "good"


def log(msg):
    print(f"patchcore: {msg}", file=sys.stderr, flush=True)


def load_fixture_metrics():
    """compute_pro and trapezoid from scripts/make_pixel_metric_fixtures.py (one implementation)."""
    path = SCRIPTS / "make_pixel_metric_fixtures.py"
    spec = importlib.util.spec_from_file_location("pixel_metric_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compute_pro, module.trapezoid


# ---------------------------------------------------------------------------------------------
# Data layouts


def images_in(directory):
    """PNG and JPEG files directly in `directory`, sorted by name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def subdirs(directory):
    return sorted(p.name for p in directory.iterdir() if p.is_dir())


def load_mtd(root):
    free = [p for p in images_in(root / "MT_Free" / "Imgs") if p.suffix.lower() == ".jpg"]
    if not free:
        raise SystemExit(f"patchcore: no MT_Free/Imgs/*.jpg under {root}")
    train, test = [], []
    for i, path in enumerate(free):
        if i % 5 == 0:
            test.append((path, GOOD, None))
        else:
            train.append(path)
    for cls in subdirs(root):
        if cls == "MT_Free" or not cls.startswith("MT_"):
            continue
        for path in images_in(root / cls / "Imgs"):
            if path.suffix.lower() != ".jpg":
                continue
            mask = path.with_suffix(".png")
            if not mask.is_file():
                raise SystemExit(f"patchcore: defect image {path} without its mask {mask}")
            test.append((path, cls[len("MT_"):].lower(), mask))
    return [("mtd", train, test)]


def load_mvtec(root, categories):
    names = categories or [d for d in subdirs(root) if (root / d / "train" / GOOD).is_dir()]
    products = []
    for name in names:
        pdir = root / name
        train = images_in(pdir / "train" / GOOD)
        if not train:
            raise SystemExit(f"patchcore: no training images in {pdir / 'train' / GOOD}")
        test = []
        if (pdir / "test").is_dir():
            for kind in subdirs(pdir / "test"):
                for path in images_in(pdir / "test" / kind):
                    mask = None
                    if kind != GOOD:
                        mask = pdir / "ground_truth" / kind / f"{path.stem}_mask.png"
                        if not mask.is_file():
                            raise SystemExit(f"patchcore: defect image {path} without its mask {mask}")
                    test.append((path, kind, mask))
        if not test:
            raise SystemExit(f"patchcore: no test images under {pdir / 'test'}")
        products.append((name, train, test))
    return products


# ---------------------------------------------------------------------------------------------
# Preprocessing and features


def preprocess(path):
    img = Image.open(path)
    img = img.convert("RGB")
    if img.size != (SIZE, SIZE):
        img = img.resize((SIZE, SIZE), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32)
    x = (x - 127.0) / 128.0
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def load_mask(path):
    if path is None:
        return np.zeros((SIZE, SIZE), dtype=bool)
    m = Image.open(path).convert("L")
    if m.size != (SIZE, SIZE):
        m = m.resize((SIZE, SIZE), Image.NEAREST)
    return np.asarray(m) > 127


def avg_pool3(x):
    """3 x 3 mean, stride 1, zero padding 1, always divided by 9 ([B,C,H,W])."""
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    rows = p[:, :, :-2, :] + p[:, :, 1:-1, :] + p[:, :, 2:, :]
    return (rows[:, :, :, :-2] + rows[:, :, :, 1:-1] + rows[:, :, :, 2:]) / np.float32(9.0)


def bilinear_matrix(n_in, n_out):
    """[n_out, n_in] weights of 1-D linear interpolation with half-pixel centres (align_corners=False)."""
    m = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    for o in range(n_out):
        src = max((o + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        w1 = src - i0
        m[o, i0] += 1.0 - w1
        m[o, i1] += w1
    return m.astype(np.float32)


UP16 = bilinear_matrix(14, GRID)
UP_MAP = bilinear_matrix(GRID, SIZE)


class Trunk:
    def __init__(self, model, batch, threads):
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.batch = batch
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if "image" not in inputs or "stride8" not in outputs or "stride16" not in outputs:
            raise SystemExit(f"patchcore: {model} needs input image and outputs stride8, stride16 "
                             f"(has inputs {inputs}, outputs {list(outputs)})")

    def patches(self, paths, what):
        """[len(paths) * 784, 152] float32 patch features, row = image * 784 + y * 28 + x."""
        out = np.empty((len(paths) * GRID * GRID, 152), dtype=np.float32)
        t0 = time.time()
        for start in range(0, len(paths), self.batch):
            chunk = paths[start:start + self.batch]
            x = np.stack([preprocess(p) for p in chunk])
            s8, s16 = self.session.run(["stride8", "stride16"], {"image": x})
            if s8.shape[1:] != (40, GRID, GRID) or s16.shape[1:] != (112, 14, 14):
                raise SystemExit(f"patchcore: unexpected trunk shapes {s8.shape}, {s16.shape}")
            s8 = avg_pool3(s8)
            s16 = avg_pool3(s16)
            s16 = np.einsum("oh,bchw,pw->bcop", UP16, s16, UP16, optimize=True)
            f = np.concatenate([s8, s16], axis=1)  # [B,152,28,28]
            f = f.transpose(0, 2, 3, 1).reshape(-1, 152)
            out[start * GRID * GRID:(start + len(chunk)) * GRID * GRID] = f
            done = start + len(chunk)
            if done == len(paths) or (start // self.batch) % 10 == 9:
                log(f"  {what}: {done}/{len(paths)} images ({time.time() - t0:.1f} s)")
        return out


# ---------------------------------------------------------------------------------------------
# Coreset


def sq_dist_to(points, sq_norms, c, c_sq):
    d = sq_norms - 2.0 * (points @ c) + c_sq
    return np.maximum(d, 0.0, out=d)


def projection(features, dim, seed):
    """The seeded Gaussian projection of the features and the seeded first point."""
    rng = np.random.default_rng(seed)
    proj = rng.normal(0.0, 1.0 / math.sqrt(dim), size=(features.shape[1], dim)).astype(np.float32)
    start = int(rng.integers(len(features)))
    x = features @ proj
    return x, np.einsum("ij,ij->i", x, x), start


def greedy_coreset(features, k, dim, seed, top=4096, block=16384):
    """Indices of k points chosen by exact k-center greedy on a seeded random projection.

    Same choices as greedy_coreset_plain (up to near-ties) at a fraction of its cost. Distances to
    the selected set only decrease, so a stale distance is an upper bound. Each point keeps one
    (`bound`) with the number of centres it accounts for (`seen`). The farthest point is looked
    for among `top` points kept exact against every new centre; once the best of them falls
    below the largest bound outside them, points are brought up to date in order of decreasing
    bound (one matrix product per block against the centres each has not seen) until the
    `top` best exact distances provably hold the farthest point; the rest stay stale.
    """
    x, sq, cur = projection(features, dim, seed)
    n = len(x)
    bound = np.full(n, np.inf, dtype=np.float32)  # squared distance to the first seen[i] centres
    seen = np.zeros(n, dtype=np.int64)
    centres = np.empty((k, x.shape[1]), dtype=np.float32)
    centres_sq = np.empty(k, dtype=np.float32)
    chosen = []
    top_idx = np.arange(0)
    top_d = np.zeros(0, dtype=np.float32)
    outside = np.float32(np.inf)  # largest bound outside top_idx
    t0 = last_log = time.time()
    refills = 0
    computed = 0
    while True:
        centres[len(chosen)] = x[cur]
        centres_sq[len(chosen)] = sq[cur]
        chosen.append(cur)
        count = len(chosen)
        if count == k:
            break
        if len(top_idx):
            # A single-threaded product: small BLAS calls lose time to thread hand-offs.
            d = top_sq - 2.0 * np.einsum("ij,j->i", top_x, x[cur]) + sq[cur]
            np.minimum(top_d, np.maximum(d, 0.0), out=top_d)
            top_d[top_idx == cur] = 0.0
            j = int(np.argmax(top_d))
        if not len(top_idx) or top_d[j] < outside:
            refills += 1
            bound[top_idx] = top_d
            seen[top_idx] = count
            bound[chosen[-1]] = 0.0
            order = np.argsort(-bound, kind="stable")
            done = 0
            while done < n:
                blk = order[done:done + block]
                vers = seen[blk]
                for v in np.unique(vers):
                    if v == count:
                        continue
                    rows = blk[vers == v]
                    d = x[rows] @ centres[v:count].T
                    d *= -2.0
                    d += centres_sq[None, v:count]
                    d = np.maximum(d.min(axis=1) + sq[rows], 0.0)
                    np.minimum(bound[rows], d, out=d)
                    bound[rows] = d
                    seen[rows] = count
                    computed += len(rows) * (count - v)
                done += len(blk)
                fresh = order[:done]
                if done >= top and done < n:
                    tau = np.partition(bound[fresh], done - top)[done - top]
                    if bound[order[done]] <= tau:
                        break
            fresh = order[:done]
            m = min(top, done)
            part = np.argpartition(bound[fresh], done - m)
            top_idx = fresh[part[done - m:]]
            rest = fresh[part[:done - m]]
            outside = max(bound[rest].max() if len(rest) else -np.inf,
                          bound[order[done]] if done < n else -np.inf)
            outside = np.float32(outside)
            top_d = bound[top_idx].copy()
            top_x = x[top_idx]
            top_sq = sq[top_idx]
            j = int(np.argmax(top_d))
        cur = int(top_idx[j])
        now = time.time()
        if now - last_log > 30:
            log(f"  coreset: {count + 1}/{k} points ({now - t0:.0f} s, {refills} refills, "
                f"{computed / (n * count):.2f} of the full work, radius {math.sqrt(float(top_d[j])):.3f})")
            last_log = now
    log(f"  coreset: {k}/{k} points ({time.time() - t0:.1f} s, {refills} refills, "
        f"{computed / (n * max(k - 1, 1)):.2f} of the full work)")
    return np.array(chosen, dtype=np.int64)


def greedy_coreset_plain(features, k, dim, seed):
    """The textbook loop (one full distance pass per point); for checking greedy_coreset."""
    x, sq, cur = projection(features, dim, seed)
    min_d = np.full(len(x), np.inf, dtype=np.float32)
    chosen = [cur]
    for _ in range(k - 1):
        np.minimum(min_d, sq_dist_to(x, sq, x[cur], sq[cur]), out=min_d)
        min_d[cur] = 0.0
        cur = int(np.argmax(min_d))
        chosen.append(cur)
    return np.array(chosen, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Scoring


def nearest_distances(queries, bank, budget=1 << 24):
    """Euclidean distance of each query row to its nearest bank row, in bounded-size chunks."""
    bank_sq = np.einsum("ij,ij->i", bank, bank)
    q_sq = np.einsum("ij,ij->i", queries, queries)
    out = np.empty(len(queries), dtype=np.float32)
    bchunk = max(1, min(len(bank), budget // 1024))
    qchunk = max(1, budget // bchunk)
    for qs in range(0, len(queries), qchunk):
        q = queries[qs:qs + qchunk]
        best = np.full(len(q), np.inf, dtype=np.float32)
        for bs in range(0, len(bank), bchunk):
            b = bank[bs:bs + bchunk]
            d = q @ b.T
            d *= -2.0
            d += bank_sq[bs:bs + bchunk][None, :]
            np.minimum(best, d.min(axis=1), out=best)
        out[qs:qs + qchunk] = np.sqrt(np.maximum(best + q_sq[qs:qs + qchunk], 0.0))
    return out


def anomaly_maps(patch_scores, sigma):
    maps = patch_scores.reshape(-1, GRID, GRID)
    out = np.empty((len(maps), SIZE, SIZE), dtype=np.float32)
    for i, m in enumerate(maps):
        up = UP_MAP @ m @ UP_MAP.T
        out[i] = gaussian_filter(up, sigma=sigma, mode="reflect", truncate=4.0)
    return out


# ---------------------------------------------------------------------------------------------


def run_product(name, train, test, trunk, args, compute_pro, trapezoid):
    t0 = time.time()
    n_def = sum(1 for _, kind, _ in test if kind != GOOD)
    log(f"{name}: {len(train)} training images, {len(test)} test images ({n_def} defective)")
    bank = trunk.patches(train, "train features")
    if args.coreset >= 1.0:
        coreset = bank
    else:
        k = max(1, int(args.coreset * len(bank)))
        log(f"  coreset: selecting {k} of {len(bank)} patches")
        coreset = np.ascontiguousarray(bank[greedy_coreset(bank, k, args.projection_dim, args.seed)])
    del bank
    test_paths = [p for p, _, _ in test]
    feats = trunk.patches(test_paths, "test features")
    t1 = time.time()
    scores = nearest_distances(feats, coreset)
    del feats
    log(f"  nearest-neighbour distances to {len(coreset)} points ({time.time() - t1:.1f} s)")
    maps = anomaly_maps(scores, args.sigma)
    image_scores = maps.reshape(len(maps), -1).max(axis=1)
    labels = np.array([kind != GOOD for _, kind, _ in test])
    masks = np.stack([load_mask(m) for _, _, m in test])
    t2 = time.time()
    i_roc = float(roc_auc_score(labels, image_scores)) if 0 < labels.sum() < len(labels) else float("nan")
    p_roc = float(roc_auc_score(masks.ravel(), maps.ravel())) if masks.any() else float("nan")
    if masks.any():
        fprs, pros = compute_pro(maps, masks)
        aupro = trapezoid(fprs, pros, 0.3) / 0.3
    else:
        aupro = float("nan")
    log(f"  metrics ({time.time() - t2:.1f} s)")
    bytes_ = int(len(coreset) * 152 * 4)
    result = {
        "product": name,
        "train_images": len(train),
        "test_images": len(test),
        "test_defective": n_def,
        "bank_patches": len(train) * GRID * GRID,
        "image_auroc": i_roc,
        "pixel_auroc": p_roc,
        "aupro_0.3": float(aupro),
        "coreset_patches": len(coreset),
        "memory_bytes": bytes_,
        "memory_mb": bytes_ / 1e6,
        "seconds": time.time() - t0,
    }
    log(f"{name}: I-ROC {i_roc:.4f}  P-ROC {p_roc:.4f}  AUPRO {aupro:.4f}  coreset {len(coreset)}"
        f"  {bytes_} bytes ({bytes_ / 1e6:.2f} MB)  {result['seconds']:.1f} s")
    return result


def print_table(results):
    head = f"{'product':<12} {'images':>7} {'I-ROC':>7} {'P-ROC':>7} {'AUPRO':>7} {'coreset':>9} {'MB':>8} {'seconds':>8}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['product']:<12} {r['test_images']:>7} {r['image_auroc']:>7.4f} {r['pixel_auroc']:>7.4f} "
              f"{r['aupro_0.3']:>7.4f} {r['coreset_patches']:>9} {r['memory_mb']:>8.3f} {r['seconds']:>8.1f}")
    if len(results) > 1:
        mean = lambda key: float(np.mean([r[key] for r in results]))
        print(f"{'mean':<12} {sum(r['test_images'] for r in results):>7} {mean('image_auroc'):>7.4f} "
              f"{mean('pixel_auroc'):>7.4f} {mean('aupro_0.3'):>7.4f} "
              f"{sum(r['coreset_patches'] for r in results):>9} {mean('memory_mb'):>8.3f} "
              f"{sum(r['seconds'] for r in results):>8.1f}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="PatchCore reference baseline over the builder's exported EfficientNet-Lite0 "
                    "trunk (stride8 + stride16 patch features, greedy coreset, nearest-neighbour "
                    "scores). Prints I-ROC, P-ROC, AUPRO, coreset size and memory per product.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, type=pathlib.Path, help="dataset root directory")
    p.add_argument("--layout", required=True, choices=["mtd", "mvtec"],
                   help="mtd: Magnetic Tile Defects (one product, standard split); "
                        "mvtec: ROOT/<product>/{train,test,ground_truth}")
    p.add_argument("--categories", default="",
                   help="comma-separated products for --layout mvtec; empty: every product")
    p.add_argument("--model", type=pathlib.Path, default=DEFAULT_MODEL,
                   help="trunk ONNX from `adapts-builder export-trunk --trunk effnet-lite0 --cut stride16 --size 224`")
    p.add_argument("--coreset", type=float, default=0.01,
                   help="fraction of the memory bank kept by greedy coreset selection; 1.0 keeps all")
    p.add_argument("--projection-dim", type=int, default=128,
                   help="dimension of the random projection used for coreset selection")
    p.add_argument("--seed", type=int, default=0, help="seeds the projection and the first coreset point")
    p.add_argument("--sigma", type=float, default=4.0, help="Gaussian blur of the 224 x 224 anomaly map")
    p.add_argument("--batch", type=int, default=32, help="images per ONNX Runtime call")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: its default)")
    p.add_argument("--json", type=pathlib.Path, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if not 0.0 < args.coreset <= 1.0:
        p.error("--coreset must be in (0, 1]")
    if args.layout == "mtd" and args.categories:
        p.error("--categories applies to --layout mvtec only")
    if not args.model.is_file():
        p.error(f"no trunk model at {args.model} (see `adapts-builder export-trunk`)")
    if not args.data.is_dir():
        p.error(f"no dataset directory {args.data}")
    return args


def main(argv=None):
    args = parse_args(argv)
    compute_pro, trapezoid = load_fixture_metrics()
    if args.layout == "mtd":
        products = load_mtd(args.data)
    else:
        cats = [c for c in args.categories.split(",") if c]
        products = load_mvtec(args.data, cats)
    trunk = Trunk(args.model, args.batch, args.threads)
    t0 = time.time()
    results = [run_product(name, train, test, trunk, args, compute_pro, trapezoid)
               for name, train, test in products]
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "method": "patchcore",
            "model": str(args.model),
            "layout": args.layout,
            "coreset_fraction": args.coreset,
            "projection_dim": args.projection_dim,
            "seed": args.seed,
            "sigma": args.sigma,
            "feature_dim": 152,
            "grid": GRID,
            "input_size": SIZE,
            "seconds": time.time() - t0,
            "products": results,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
