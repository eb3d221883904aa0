"""Ops a frontend evaluates at import time from sizes the model file declares (ONNX Range and
ConstantOfShape, TF Fill / Range / Tile, torch's aten.full / aten.arange) are checked against
npucc.limits before anything is allocated: a model asking for terabytes fails at once with an
npucc error naming the file, the node and the op, instead of a MemoryError or the OOM killer.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from npucc import limits
from npucc.errors import FrontendError
from npucc.frontends.onnx import load as load_onnx
from npucc.frontends.pytorch import load as load_torch
from npucc.frontends.tensorflow import load as load_tf
from npucc.frontends.tfproto import graph_pb2, types_pb2

HUGE = 10 ** 12  # elements: terabytes in any dtype


def _onnx_model(path, node, inits):
    """x + node's output (cast to float): the node's result is needed by the graph output."""
    graph = helper.make_graph(
        [node, helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["x", "rf"], ["y"])], "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


ONNX_CASES = {
    "range": (helper.make_node("Range", ["a", "b", "d"], ["r"], name="rng"),
              {"a": np.int64(0), "b": np.int64(HUGE), "d": np.int64(1)},
              r"node 'rng' \(op Range.*result of Range has shape \[1000000000000\].*over the"),
    "zero_step": (helper.make_node("Range", ["a", "b", "d"], ["r"], name="rng"),
                  {"a": np.int64(0), "b": np.int64(5), "d": np.int64(0)},
                  r"node 'rng' \(op Range.*delta 0 do not make a finite range"),
    "constant_of_shape": (helper.make_node("ConstantOfShape", ["s"], ["r"], name="cos"),
                          {"s": np.array([HUGE, 4], np.int64)},
                          r"node 'cos' \(op ConstantOfShape.*\[1000000000000, 4\].*over the"),
}


@pytest.mark.parametrize("case", sorted(ONNX_CASES))
def test_onnx_static_results_are_checked_before_allocating(tmp_path, case):
    node, inits, message = ONNX_CASES[case]
    path = _onnx_model(tmp_path / f"{case}.onnx", node, inits)
    with pytest.raises(FrontendError, match=f"{case}.onnx: {message}"):
        load_onnx(path)


def _tf_graph(path, op, consts):
    """A frozen GraphDef: y = x + op(consts...)."""
    gd = graph_pb2.GraphDef()
    x = gd.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = types_pb2.DT_FLOAT
    x.attr["shape"].shape.dim.add(size=2)
    for name, arr in consts.items():
        c = gd.node.add(name=name, op="Const")
        t = c.attr["value"].tensor
        t.dtype = types_pb2.DT_INT64 if arr.dtype == np.int64 else types_pb2.DT_FLOAT
        for d in arr.shape:
            t.tensor_shape.dim.add(size=d)
        t.tensor_content = arr.tobytes()
    gd.node.add(name="f", op=op, input=list(consts))
    y = gd.node.add(name="y", op="AddV2", input=["x", "f"])
    y.attr["T"].type = types_pb2.DT_FLOAT
    path.write_bytes(gd.SerializeToString())
    return path


TF_CASES = {
    "Fill": ({"dims": np.array([HUGE, 2], np.int64), "v": np.ones((), np.float32)},
             r"\[1000000000000, 2\].*over the"),
    "Range": ({"a": np.zeros((), np.int64), "b": np.array(HUGE, np.int64),
               "d": np.ones((), np.int64)}, r"\[1000000000000\].*over the"),
    "Tile": ({"c": np.ones(2, np.float32), "r": np.array([HUGE], np.int64)},
             r"result 0 of Tile has shape \[2000000000000\].*over the"),
}


@pytest.mark.parametrize("op", sorted(TF_CASES))
def test_tf_static_results_are_checked_before_allocating(tmp_path, op):
    consts, message = TF_CASES[op]
    path = _tf_graph(tmp_path / f"{op}.pb", op, consts)
    with pytest.raises(FrontendError, match=f"{op}.pb: node 'f' \\({op}\\): .*{message}"):
        load_tf(path, outputs=["y"])


@pytest.mark.parametrize("make, message", [
    (lambda: torch.full((4096,), 2.0), r"aten\.full.*has shape \[4096\]: 16384 bytes, over"),
    (lambda: torch.arange(4096, dtype=torch.float32), r"aten\.arange.*\[4096\]: 16384 bytes"),
])
def test_torch_static_results_are_checked_before_allocating(monkeypatch, make, message):
    """(torch allocates real tensors while exporting, so the limit is lowered instead)"""
    class M(torch.nn.Module):
        def forward(self, x):
            return x + make()

    ep = torch.export.export(M(), (torch.zeros(4096),))
    monkeypatch.setattr(limits, "MAX_TENSOR_BYTES", 1000)
    with pytest.raises(FrontendError, match=message):
        load_torch(ep)
