# Two commands matter: `make demo` (set up, then run the main job) and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
BUILDER := target/release/adapts-builder

.PHONY: setup demo test bench lint fixtures

setup:
	scripts/setup.sh

# The main job on built-in defaults: check the pretrained trunk on two photos, then
# benchmark trunk latency (candle vs ONNX Runtime vs Python onnxruntime).
demo: setup
	$(CARGO) build --release -p adapts-builder
	$(BUILDER) backbone check --trunk effnet-lite0 --weights weights/efficientnet-lite0.pth --image tests/data/cat.jpg
	$(BUILDER) backbone check --trunk effnet-lite0 --weights weights/efficientnet-lite0.pth --image tests/data/coffee.jpg
	$(BUILDER) bench-trunk --warmup 1 --iters 5 --json out/bench-trunk.json

# Tests need the weights and libonnxruntime, not the Python benchmark baseline.
test:
	ADAPTS_SETUP_VENV=0 scripts/setup.sh
	$(CARGO) test --workspace

bench: setup
	$(CARGO) build --release -p adapts-builder
	$(BUILDER) bench-trunk --json out/bench-trunk.json

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Regenerates committed test fixtures (needs only Python's standard library).
fixtures:
	python3 scripts/make_torch_fixtures.py
