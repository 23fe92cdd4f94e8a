#!/usr/bin/env bash
# INT8 against FP32 on one labelled dataset: trains local-recipe bundles (presets S and M,
# EfficientNet-Lite0), calibrates a copy of each (product maps only, then trunk and maps),
# evaluates all three, and prints one table (I-ROC, P-ROC, AUPRO, ms per image, bytes).
#   scripts/int8_compare.sh DATA LAYOUT OUT [EPOCHS] [CATEGORIES]   (no EPOCHS: the recipe's default)
#   scripts/int8_compare.sh /data/mtd mtd out/int8-mtd
#   scripts/int8_compare.sh out/demo/data mvtec out/int8-demo 10 fabric,washer,wood
#   PRESETS=s scripts/int8_compare.sh /data/mtd mtd out/int8-mtd   (one preset; the table lists what exists)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 3 ] || { sed -n 2,7p "$0"; exit 2; }
data=$1 layout=$2 out=$3 epochs=${4:-} categories=${5:-}
builder=target/release/adapts-builder
cats=()
[ -n "$categories" ] && cats=(--categories "$categories")
mkdir -p "$out"
for preset in ${PRESETS:-s m}; do
    fp32=$out/$preset-fp32
    rm -rf "$fp32" "$out/$preset-maps" "$out/$preset-int8"
    "$builder" train --data "$data" --layout "$layout" "${cats[@]}" --weights weights/efficientnet-lite0.pth \
        --preset $preset ${epochs:+--epochs "$epochs"} --out "$fp32"
    cp -R "$fp32" "$out/$preset-maps"
    "$builder" calibrate --bundle "$out/$preset-maps" --data "$data" --layout "$layout" \
        --json "$out/$preset-maps-calibrate.json"
    cp -R "$fp32" "$out/$preset-int8"
    "$builder" calibrate --bundle "$out/$preset-int8" --data "$data" --layout "$layout" --trunk \
        ${epochs:+--epochs "$epochs"} \
        --json "$out/$preset-int8-calibrate.json"
    for variant in fp32 maps int8; do
        "$builder" eval --bundle "$out/$preset-$variant" --data "$data" --layout "$layout" "${cats[@]}" \
            --json "$out/$preset-$variant-eval.json"
    done
done
python3 - "$out" <<'PY' | tee "$out/summary.md"
import json, os, sys
out = sys.argv[1]
names = {"fp32": "FP32", "maps": "INT8 maps", "int8": "INT8 trunk + maps"}
print("| preset | graphs | I-ROC | P-ROC | AUPRO | ms per image | bundle bytes |")
print("|---|---|---|---|---|---|---|")
for preset in ("s", "m"):
    for variant in ("fp32", "maps", "int8"):
        if not os.path.exists(f"{out}/{preset}-{variant}-eval.json"):
            continue
        e = json.load(open(f"{out}/{preset}-{variant}-eval.json"))
        ps = e["products"]
        mean = lambda k: sum(p[k] for p in ps) / len(ps)
        ms = mean("latency_ms")
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(f"{out}/{preset}-{variant}") for f in fs)
        print(f"| {preset.upper()} | {names[variant]} | {mean('image_auroc'):.3f} | {mean('pixel_auroc'):.3f} | "
              f"{mean('aupro'):.3f} | {ms:.2f} | {size} |")
PY
