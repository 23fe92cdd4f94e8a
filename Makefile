# Two commands matter: `make demo` (set up, then run the main job) and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
BUILDER := target/release/adapts-builder

.PHONY: setup demo test bench lint fixtures paper fuzz

setup:
	scripts/setup.sh

# The main job on built-in defaults: synthesise four products, train three of them with the
# pretrained EfficientNet-Lite0 (preset S), run the device runtime over the mixed test images
# (the fourth product must come back as unknown_product), and report routing accuracy and
# image AUROC per product. To use your own MVTec-layout data instead of synthetic products:
#   make demo DATA=/path/to/mvtec CATEGORIES=bottle,cable,screw
DEMO ?= out/demo
DATA ?=
CATEGORIES ?= fabric,washer,wood
EPOCHS ?=
RUNTIME := target/release/adapts-runtime
DEMO_DATA := $(if $(DATA),$(DATA),$(DEMO)/data)
comma := ,
DEMO_PRODUCTS := $(if $(DATA),$(subst $(comma), ,$(CATEGORIES)),fabric washer wood pcb)

demo: setup
	$(CARGO) build --release -p adapts-builder -p adapts-runtime
	$(if $(DATA),,$(BUILDER) synth --out $(DEMO)/data --products 4 --size 224)
	$(BUILDER) train --data $(DEMO_DATA) --layout mvtec --categories $(CATEGORIES) \
		--trunk effnet-lite0 --weights weights/efficientnet-lite0.pth --preset s \
		$(if $(EPOCHS),--epochs $(EPOCHS)) --out $(DEMO)/bundle --json $(DEMO)/train.json
	$(BUILDER) info --bundle $(DEMO)/bundle
	rm -rf $(DEMO)/mixed
	for p in $(DEMO_PRODUCTS); do mkdir -p $(DEMO)/mixed/$$p && cp -R $(DEMO_DATA)/$$p/test/. $(DEMO)/mixed/$$p/; done
	$(RUNTIME) run --bundle $(DEMO)/bundle --source dir:$(DEMO)/mixed \
		--out $(DEMO)/results.jsonl --heatmaps $(DEMO)/heatmaps
	$(BUILDER) report --results $(DEMO)/results.jsonl
	$(BUILDER) eval --bundle $(DEMO)/bundle --data $(DEMO_DATA) --layout mvtec --setting continual \
		--heatmaps $(DEMO)/eval-heatmaps --heatmap-count 4 --json $(DEMO)/eval.json \
		--dump-scores $(DEMO)/scores.csv

# The paper's tables in one command: WRN50-2 at 224 px, presets S/M/L, single / multi-class /
# continual, on MVTec AD (or LAYOUT=visa|mvtec3d|folder|mtd), with the paper's recipe
# (RECIPE=local for this project's default recipe under the same protocol):
#   make paper DATA=/path/to/mvtec_anomaly_detection WEIGHTS=/path/to/wide_resnet50_2.pth
LAYOUT ?= mvtec
PRESETS ?= s,m,l
PAPER_EPOCHS ?= 10
PAPER_OUT ?= out/paper
RECIPE ?= paper
WEIGHTS ?=
paper:
	@test -n "$(DATA)" -a -n "$(WEIGHTS)" || { echo "usage: make paper DATA=DIR WEIGHTS=wide_resnet50_2.pth [LAYOUT=mvtec] [PRESETS=s,m,l] [RECIPE=paper|local] [PAPER_EPOCHS=10] [PAPER_OUT=out/paper]"; exit 2; }
	ADAPTS_SETUP_VENV=0 scripts/setup.sh
	$(CARGO) build --release -p adapts-builder
	$(BUILDER) paper --data $(DATA) --layout $(LAYOUT) --trunk wrn50-2 --weights $(WEIGHTS) \
		--presets $(PRESETS) --recipe $(RECIPE) --epochs $(PAPER_EPOCHS) --image-size 224 \
		--out $(PAPER_OUT)

# Tests need the weights and libonnxruntime, not the Python benchmark baseline. The camera
# module is also tested with the `v4l2` feature (its bindings need libclang), and the engine
# choice, plan store and GPU modules with the `gpu` feature (the GPU providers and cudarc
# compile without CUDA; the kernels' source is built on the host with g++); the `gpu-jetpack5`
# build is checked too. scripts/ensure-build-tools.sh installs libclang and g++ when missing.
# The README check then runs every command in the README's shell blocks with the binaries
# just built.
test:
	ADAPTS_SETUP_VENV=0 scripts/setup.sh
	scripts/ensure-build-tools.sh
	$(CARGO) test --workspace
	$(CARGO) test -p adapts-runtime --features v4l2 --lib camera::
	$(CARGO) test -p adapts-runtime --features gpu --lib -- engine:: gpu::
	$(CARGO) check -p adapts-runtime --features gpu-jetpack5
	scripts/check-readme.sh

bench: setup
	$(CARGO) build --release -p adapts-builder
	$(BUILDER) bench-trunk --json out/bench-trunk.json
	$(BUILDER) bench-train --trunk wrn50-2 --json out/bench-train.json
	$(CARGO) bench -p adapts-runtime --bench resize

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	scripts/ensure-build-tools.sh
	$(CARGO) clippy -p adapts-runtime --all-targets --features v4l2 -- -D warnings
	$(CARGO) clippy -p adapts-runtime --all-targets --features gpu -- -D warnings
	$(CARGO) clippy -p adapts-runtime --all-targets --features gpu-jetpack5 -- -D warnings

# Fuzzes each decoder that takes outside input (manifest, images, camera buffers, station
# config, stdin protocol) for FUZZ_SECONDS each; needs the nightly toolchain (cargo-fuzz is
# installed if missing). `make test` replays the corpus and the regressions on stable.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# Regenerates committed test fixtures (needs only Python's standard library).
fixtures:
	python3 scripts/make_torch_fixtures.py
