#!/usr/bin/env bash
# The GPU checks in one run, for a machine with an NVIDIA GPU and its driver and NVRTC:
# the preprocessing kernels (compiled by NVRTC at run time) and the cudarc buffers against
# the CPU preprocessing on the photos in tests/data, in every pixel format the GPU unpacks
# and both resize modes, with the time per frame of each path.
#
#   scripts/gpu_check.sh [OUT] [BINARY]
#
# OUT (default out/gpu-check) gets one JSON report per case and summary.txt; BINARY
# (default target/release/adapts-runtime) must be a `--features gpu` build:
#   cargo build --release -p adapts-runtime --features gpu
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-out/gpu-check}"
BIN="${2:-target/release/adapts-runtime}"
mkdir -p "$OUT"

# NVRTC is often outside the loader's path (CUDA toolkit, or the pip `nvidia-cuda-nvrtc`).
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/*/lib /usr/lib/x86_64-linux-gnu \
    /usr/lib/aarch64-linux-gnu $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cuda_nvrtc/lib") for p in nvidia.__path__))' 2>/dev/null); do
    if compgen -G "$dir/libnvrtc.so*" >/dev/null; then
        export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        break
    fi
done
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader | tee "$OUT/gpu.txt" || true

status=0
: > "$OUT/summary.txt"
for format in YUYV UYVY RGB3 GREY; do
    for resize in full crop; do
        case="$format-$resize"
        if "$BIN" gpu-check --images tests/data --format "$format" --resize "$resize" \
            --iters 50 --json "$OUT/$case.json" > /dev/null 2> "$OUT/$case.log"; then
            python3 - "$OUT/$case.json" "$case" >> "$OUT/summary.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<11} max|gpu-cpu| {r['max_abs_diff']:.3g}  differing {r['values_differing']}/{r['values']}  "
      f"gpu p50 {r['gpu_total_ms']['p50']:.3f} ms (upload {r['gpu_upload_ms']['p50']:.3f}, unpack "
      f"{r['gpu_unpack_ms']['p50']:.3f}, resize {r['gpu_resize_ms']['p50']:.3f})  cpu p50 "
      f"{r['cpu_ms']['p50']:.3f} ms  gpu/cpu {r['ratio_p50']:.3f}x")
PY
        else
            echo "$case FAILED: $(tail -n 3 "$OUT/$case.log")" >> "$OUT/summary.txt"
            status=1
        fi
    done
done
cat "$OUT/summary.txt"
exit $status
