#!/usr/bin/env bash
# Magnetic Tile Defects, one run: the paper's recipe and local scoring, presets S and M,
# against the PatchCore reference on the same EfficientNet-Lite0 trunk, with memory per
# product for each.
#
#   scripts/mtd_compare.sh MTD_DIR OUT [EPOCHS]   (default: each recipe's own, see train --help)
#
# Needs release binaries (cargo build --release) and the venv of scripts/setup.sh. Prints a
# Markdown table and writes OUT/summary.md; every number is also in OUT/*.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 2 ] || { sed -n 2,10p "$0"; exit 2; }
mtd=$1 out=$2 epochs=${3:-}
builder=target/release/adapts-builder
mkdir -p "$out"
for recipe in paper local; do
    for preset in S M; do
        name=$recipe-$(echo $preset | tr A-Z a-z)
        rm -rf "$out/$name"
        "$builder" train --data "$mtd" --layout mtd --weights weights/efficientnet-lite0.pth \
            --preset $preset --recipe $recipe ${epochs:+--epochs "$epochs"} --out "$out/$name" \
            --json "$out/$name-train.json"
        "$builder" eval --bundle "$out/$name" --data "$mtd" --layout mtd --json "$out/$name-eval.json" \
            --dump-scores "$out/$name-scores.csv"
    done
done
"$builder" export-trunk --trunk effnet-lite0 --weights weights/efficientnet-lite0.pth \
    --cut stride16 --size 224 --out "$out/lite0-stride16.onnx"
for coreset in 0.01 0.0001; do
    .venv/bin/python scripts/patchcore_baseline.py --data "$mtd" --layout mtd \
        --model "$out/lite0-stride16.onnx" --coreset $coreset --json "$out/patchcore-$coreset.json"
done
python3 - "$out" "${epochs:-default}" <<'PY' | tee "$out/summary.md"
import json, sys
out, epochs = sys.argv[1], sys.argv[2]
print(f"| method | I-ROC | P-ROC | AUPRO | false rejects / escapes at the threshold | memory per product | training |")
print("|---|---|---|---|---|---|---|")
for recipe in ("paper", "local"):
    for preset in ("s", "m"):
        e = json.load(open(f"{out}/{recipe}-{preset}-eval.json"))
        t = json.load(open(f"{out}/{recipe}-{preset}-train.json"))
        p, c = e["products"][0], e["cost"]
        mem = f"{c['additional_fp32_mb'] * 1e3:.1f} KB FP32, {c['additional_stored_mb'] * 1e3:.1f} KB as stored"
        rates = f"{100 * p['false_reject_rate']:.1f} % / {100 * p['escape_rate']:.1f} %"
        run = f"{recipe} recipe, {preset.upper()}" + ("" if epochs == "default" else f", {epochs} epochs")
        print(f"| {run} | {p['image_auroc']:.3f} | "
              f"{p['pixel_auroc']:.3f} | {p['aupro']:.3f} | {rates} | {mem} | {t[0]['train_seconds']:.0f} s |")
for coreset in ("0.01", "0.0001"):
    j = json.load(open(f"{out}/patchcore-{coreset}.json"))
    r = j["products"][0] if "products" in j else j[0]
    def get(*keys):
        for k in keys:
            if k in r:
                return r[k]
        return float("nan")
    print(f"| PatchCore, coreset {coreset} | {get('image_auroc', 'i_roc'):.3f} | "
          f"{get('pixel_auroc', 'p_roc'):.3f} | {get('aupro_0.3', 'aupro'):.3f} | - | "
          f"{get('memory_bytes', 'bytes') / 1e3:.1f} KB FP32 | - |")
PY
