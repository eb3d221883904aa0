"""A small CNN written as an ONNX file with random weights, for the README's first command.

    python -m npucc.examples demo.onnx

It needs only the `onnx` package (a core dependency), so a fresh install can compile and run a real
model file without any framework or download.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from npucc.atomic import write_atomic


def tiny_cnn_onnx(seed: int = 0):
    """conv-bn-relu-pool ×2, a residual add, global pool and a classifier: 1x3x32x32 -> 1x10."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
        return name

    def conv_bn_relu(x, cin, cout, name, stride=1):
        w = const(f"{name}.w", rng.normal(0, (2 / (9 * cin)) ** 0.5, (cout, cin, 3, 3)))
        b = const(f"{name}.b", rng.normal(0, 0.1, cout))
        nodes.append(helper.make_node("Conv", [x, w, b], [f"{name}.conv"], name=f"{name}/conv",
                                      pads=[1, 1, 1, 1], strides=[stride, stride]))
        bn = [const(f"{name}.bn.{k}", v) for k, v in (
            ("scale", rng.uniform(0.5, 1.5, cout)), ("bias", rng.normal(0, 0.1, cout)),
            ("mean", rng.normal(0, 0.1, cout)), ("var", rng.uniform(0.5, 1.5, cout)))]
        nodes.append(helper.make_node("BatchNormalization", [f"{name}.conv", *bn], [f"{name}.bn"],
                                      name=f"{name}/bn"))
        nodes.append(helper.make_node("Relu", [f"{name}.bn"], [f"{name}.relu"],
                                      name=f"{name}/relu"))
        return f"{name}.relu"

    x = conv_bn_relu("image", 3, 16, "stem")
    nodes.append(helper.make_node("MaxPool", [x], ["pool1"], name="pool1", kernel_shape=[2, 2],
                                  strides=[2, 2]))
    y = conv_bn_relu("pool1", 16, 16, "block1")
    nodes.append(helper.make_node("Add", ["pool1", y], ["res1"], name="res1"))
    z = conv_bn_relu("res1", 16, 32, "block2", stride=2)
    nodes.append(helper.make_node("GlobalAveragePool", [z], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    w = const("fc.w", rng.normal(0, 0.2, (10, 32)))
    b = const("fc.b", np.zeros(10))
    nodes.append(helper.make_node("Gemm", ["flat", w, b], ["logits"], name="fc", transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1))
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])], inits)
    # IR version 8 (with opset 17) so that common runtimes, onnxruntime included, read the file
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="npucc.examples", ir_version=8)
    onnx.checker.check_model(model)
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m npucc.examples",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("output", help="where to write the .onnx file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    data = tiny_cnn_onnx(args.seed).SerializeToString()
    folder = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(folder, exist_ok=True)
    write_atomic(args.output, data)
    print(f"wrote {args.output} ({len(data)} bytes): tiny CNN, input 'image' 1x3x32x32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
