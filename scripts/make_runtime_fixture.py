#!/usr/bin/env python3
"""Writes the ONNX fixture the runtime's engine tests run, and its weights as JSON.

    runtime/tests/fixtures/affine_relu.onnx   y = Relu(x @ W + b), pre_activation = x @ W + b
    runtime/tests/fixtures/affine_relu.json   W, b and the tensor names, for the test's own
                                              independent computation

x is [batch, 4] with a dynamic batch; W is [4, 3]; b is [3]. The outputs are declared as
(y, pre_activation), the reverse of the order they are computed in, so the tests can check
that results come back in the graph's declared output order.

Needs only the `onnx` package (pip install onnx); the tests themselves never run Python.
Usage: python3 scripts/make_runtime_fixture.py [OUT_DIR]
"""

import json
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

IN_FEATURES = 4
OUT_FEATURES = 3
OPSET = 17
IR_VERSION = 8  # readable by every ONNX Runtime since 1.10

# Fixed weights with mixed signs, exactly representable in f32, so some units are cut by Relu.
W = [
    [0.5, -1.0, 0.25],
    [-0.75, 0.5, 1.0],
    [1.5, 0.125, -0.5],
    [-0.25, 2.0, 0.75],
]
B = [0.1, -0.2, 0.05]


def build_model() -> onnx.ModelProto:
    weight = helper.make_tensor(
        "W", TensorProto.FLOAT, [IN_FEATURES, OUT_FEATURES], [v for row in W for v in row]
    )
    bias = helper.make_tensor("b", TensorProto.FLOAT, [OUT_FEATURES], B)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"], name="matmul"),
        helper.make_node("Add", ["xw", "b"], ["pre_activation"], name="add_bias"),
        helper.make_node("Relu", ["pre_activation"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "affine_relu",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", IN_FEATURES])],
        outputs=[
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", OUT_FEATURES]),
            helper.make_tensor_value_info(
                "pre_activation", TensorProto.FLOAT, ["batch", OUT_FEATURES]
            ),
        ],
        initializer=[weight, bias],
    )
    model = helper.make_model(
        graph,
        producer_name="adapts-edge-fixture",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "runtime/tests/fixtures"
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(build_model(), out_dir / "affine_relu.onnx")
    spec = {
        "input": "x",
        "outputs": ["y", "pre_activation"],
        "W": W,
        "b": B,
    }
    (out_dir / "affine_relu.json").write_text(json.dumps(spec, indent=2) + "\n")
    print(f"wrote {out_dir / 'affine_relu.onnx'} and {out_dir / 'affine_relu.json'}")


if __name__ == "__main__":
    main()
