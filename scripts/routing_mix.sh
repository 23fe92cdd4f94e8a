#!/usr/bin/env bash
# Routing on a mix of real and synthetic products, and rejection of products never trained.
#
#   scripts/routing_mix.sh MTD_DIR DTD_DIR OUT [train options...]
#
# Trained (7): Magnetic Tile Defects (standard split), the demo's fabric, washer and wood
# (out/demo/data, written by `make demo`), and the DTD texture classes banded, bubbly and
# chequered as products (15 training, 5 test images each). Never trained: the other seven DTD
# classes, the demo's pcb, and the photos in tests/data. The bundle is trained with
# `adapts-builder train` (extra options are passed on, e.g. --preset M or --recipe paper),
# every test frame is judged by `adapts-runtime run`, and `adapts-builder report` prints
# routing accuracy per trained product and unknown-product rejections for the others.
# Needs release binaries (cargo build --release).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 3 ] || { sed -n 2,14p "$0"; exit 2; }
mtd=$1 dtd=$2 out=$3; shift 3
builder=target/release/adapts-builder runtime=target/release/adapts-runtime
[ -d out/demo/data/pcb ] || { echo "routing_mix: out/demo/data missing; run make demo first" >&2; exit 2; }
data=$out/data frames=$out/frames
rm -rf "$data" "$frames" "$out/bundle"
mkdir -p "$data/mtd/train/good" "$data/mtd/test/good"
i=0
for f in $(ls "$mtd"/MT_Free/Imgs/*.jpg | sort); do
    if [ $((i % 5)) -eq 0 ]; then ln -s "$(realpath "$f")" "$data/mtd/test/good/"
    else ln -s "$(realpath "$f")" "$data/mtd/train/good/"; fi
    i=$((i + 1))
done
for p in fabric washer wood; do
    mkdir -p "$data/$p/train" "$data/$p/test"
    ln -s "$(realpath out/demo/data/$p/train/good)" "$data/$p/train/good"
    ln -s "$(realpath out/demo/data/$p/test/good)" "$data/$p/test/good"
done
trained_dtd="banded bubbly chequered"
for c in $trained_dtd; do
    mkdir -p "$data/$c/train/good" "$data/$c/test/good"
    n=0
    for f in $(ls "$dtd/$c"/*.jpg | sort); do
        if [ $n -lt 15 ]; then ln -s "$(realpath "$f")" "$data/$c/train/good/"
        else ln -s "$(realpath "$f")" "$data/$c/test/good/"; fi
        n=$((n + 1))
    done
done
for p in mtd fabric washer wood $trained_dtd; do
    mkdir -p "$frames/$p/good" && cp -L "$data/$p/test/good/"* "$frames/$p/good/"
done
for c in $(ls "$dtd"); do
    case " $trained_dtd " in *" $c "*) continue ;; esac
    [ -d "$dtd/$c" ] || continue
    mkdir -p "$frames/dtd-$c/good" && cp "$dtd/$c"/*.jpg "$frames/dtd-$c/good/"
done
mkdir -p "$frames/pcb/good" "$frames/photos/good"
cp out/demo/data/pcb/test/good/* "$frames/pcb/good/"
cp tests/data/*.jpg "$frames/photos/good/"

"$builder" train --data "$data" --layout mvtec --categories "mtd,fabric,washer,wood,${trained_dtd// /,}" \
    --weights weights/efficientnet-lite0.pth --out "$out/bundle" "$@"
"$runtime" run --bundle "$out/bundle" --source "dir:$frames" --out "$out/results.jsonl"
"$builder" report --results "$out/results.jsonl"
