#!/usr/bin/env python3
"""Python ONNX Runtime baseline for the runtime's latency benchmark.

Runs one ONNX model on a random normal input of shape [N, 3, S, S] and prints a single JSON
line: {"median_ms", "mean_ms", "p90_ms", "iters", "ort_version"}. The measurement matches
the Rust benchmark's: session with intra_op_num_threads=T and ORT_ENABLE_ALL, W untimed
warm-up runs, then I timed runs of `session.run` alone (time.perf_counter), the input
prepared once beforehand.

Usage (with the .venv that scripts/setup.sh creates):
    .venv/bin/python scripts/bench_ort.py --model trunk.onnx --batch 1 --size 224 \
        --threads 2 --warmup 10 --iters 50 --input-name image
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="ONNX model file")
    p.add_argument("--batch", type=int, default=1, help="N, images per run")
    p.add_argument("--size", type=int, default=224, help="S, image height and width")
    p.add_argument("--threads", type=int, default=1, help="T, intra-op threads")
    p.add_argument("--warmup", type=int, default=10, help="W, untimed runs first")
    p.add_argument("--iters", type=int, default=50, help="I, timed runs")
    p.add_argument("--input-name", default=None, help="input tensor name (default: the model's first input)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    args = p.parse_args(argv)
    for name in ("batch", "size", "threads", "iters"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        p.error("--warmup must not be negative")
    return args


def percentile(sorted_ms, q):
    """Linear-interpolation percentile (numpy's default) of an ascending list."""
    return float(np.percentile(np.asarray(sorted_ms), q))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.model, sess_options=options, providers=["CPUExecutionProvider"])

    input_names = [i.name for i in session.get_inputs()]
    input_name = args.input_name or input_names[0]
    if input_name not in input_names:
        sys.exit(f"error: model {args.model} has no input {input_name!r}; its inputs are {input_names}")

    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch, 3, args.size, args.size), dtype=np.float32)
    feeds = {input_name: x}

    for _ in range(args.warmup):
        session.run(None, feeds)

    times_ms = []
    for _ in range(args.iters):
        start = time.perf_counter()
        session.run(None, feeds)
        times_ms.append((time.perf_counter() - start) * 1e3)
    times_ms.sort()

    print(
        json.dumps(
            {
                "median_ms": statistics.median(times_ms),
                "mean_ms": statistics.fmean(times_ms),
                "p90_ms": percentile(times_ms, 90),
                "iters": args.iters,
                "ort_version": ort.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
