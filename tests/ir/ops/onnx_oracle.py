"""onnxruntime as the oracle for npucc op kernels: build a one-node ONNX model, run it, and compare
with the same op built as a one-node npucc Graph run by the reference interpreter.

Reusable by any test that checks npucc semantics against ONNX (e.g. the ONNX frontend's tests):

    ours = run_npucc("Conv", [x, w, b], {"pads": (1, 1, 1, 1)}, const={1, 2})
    theirs = run_onnx_node("Conv", [x, w, b], {"pads": [1, 1, 1, 1]},
                           [ours[0].dtype], initializers={1, 2})
    assert_matches(ours, theirs)

`None` in an input list is an absent optional input (an empty name in ONNX). Arrays listed by index
in `initializers` / `const` become ONNX initializers / npucc constants; the others are graph inputs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from npucc.ir import Graph, TensorType, run_graph
from npucc.ir.types import DType

DEFAULT_OPSET = 17
ort.set_default_logger_severity(3)  # errors surface as exceptions; keep the log quiet

# ONNX element type of each npucc DType (bf16 has no numpy storage of its own, so no entry)
ONNX_DTYPE = {
    DType.f32: TensorProto.FLOAT, DType.f16: TensorProto.FLOAT16, DType.i64: TensorProto.INT64,
    DType.i32: TensorProto.INT32, DType.i16: TensorProto.INT16, DType.i8: TensorProto.INT8,
    DType.u8: TensorProto.UINT8, DType.bool: TensorProto.BOOL,
}

# Tolerances by output dtype: (rtol, atol); integer and bool outputs must match exactly
TOLERANCE = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float16): (1e-2, 1e-3)}


def onnx_type(dtype) -> int:
    return ONNX_DTYPE[DType.from_numpy(dtype)]


def activation_nodes(kind: str, params: Sequence[float], x: str, y: str, dtype=np.float32):
    """ONNX nodes (and initializers) computing npucc fused activation `kind` from x into y."""
    if kind == "none":
        return [helper.make_node("Identity", [x], [y])], []
    if kind == "clip":
        lo, hi = (numpy_helper.from_array(np.asarray(v, dtype), f"{y}_{n}")
                  for v, n in zip(params, ("min", "max")))
        return [helper.make_node("Clip", [x, lo.name, hi.name], [y])], [lo, hi]
    op, attrs = {"relu": ("Relu", {}), "sigmoid": ("Sigmoid", {}), "hard_swish": ("HardSwish", {}),
                 "leaky_relu": ("LeakyRelu", {"alpha": params[0] if params else 0.0})}[kind]
    return [helper.make_node(op, [x], [y], **attrs)], []


def single_node_model(op_type: str, inputs: Sequence[np.ndarray | None],
                      attrs: Mapping | None, out_dtypes: Sequence, *,
                      initializers: Collection[int] = (), opset: int = DEFAULT_OPSET,
                      activation: tuple[str, Sequence[float]] | None = None) -> onnx.ModelProto:
    """A model with one `op_type` node (plus an activation node after output 0 if given).

    Inputs are named in0, in1, ...; outputs out0, out1, ... with the given element types. A
    dotted `op_type` ("com.microsoft.FusedConv") is an op of that domain (imported at version 1).
    """
    names, graph_inputs, inits = [], [], []
    for i, a in enumerate(inputs):
        if a is None:
            names.append("")
            continue
        name = f"in{i}"
        names.append(name)
        if i in initializers:
            inits.append(numpy_helper.from_array(np.asarray(a), name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(name, onnx_type(a.dtype), a.shape))
    outs = [f"out{i}" for i in range(len(out_dtypes))]
    node_outs = list(outs)
    nodes = []
    if activation is not None:
        node_outs[0] = "pre_activation"
        act_nodes, act_inits = activation_nodes(*activation, "pre_activation", outs[0],
                                                dtype=np.dtype(out_dtypes[0]))
        inits += act_inits
    domain, _, op_type = op_type.rpartition(".")  # "com.microsoft.FusedConv": a contrib op
    nodes.append(helper.make_node(op_type, names, node_outs, domain=domain or None,
                                  **dict(attrs or {})))
    if activation is not None:
        nodes += act_nodes
    graph = helper.make_graph(nodes, f"single_{op_type}", graph_inputs,
                              [helper.make_tensor_value_info(o, onnx_type(d), None)
                               for o, d in zip(outs, out_dtypes)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)] + (
        [helper.make_opsetid(domain, 1)] if domain else []))
    model.ir_version = 8  # outputs have no declared shape: onnxruntime infers it
    return model


def run_model(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Run a model with onnxruntime on one thread, graph optimisations off (pure op semantics)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, dict(feeds))


def run_onnx_node(op_type: str, inputs: Sequence[np.ndarray | None], attrs: Mapping | None,
                  out_dtypes: Sequence, *, initializers: Collection[int] = (),
                  opset: int = DEFAULT_OPSET,
                  activation: tuple[str, Sequence[float]] | None = None) -> list[np.ndarray]:
    """Build `single_node_model` and run it on the non-initializer inputs."""
    model = single_node_model(op_type, inputs, attrs, out_dtypes, initializers=initializers,
                              opset=opset, activation=activation)
    feeds = {f"in{i}": a for i, a in enumerate(inputs) if a is not None and i not in initializers}
    return run_model(model, feeds)


def run_npucc(op: str, inputs: Sequence[np.ndarray | None], attrs: Mapping | None = None, *,
              const: Collection[int] = ()) -> list[np.ndarray]:
    """Build a one-node npucc Graph (inputs by index in `const` become constants) and run it with
    the reference interpreter, which also checks each output against its inferred type."""
    g = Graph(f"single_{op}")
    values = []
    for i, a in enumerate(inputs):
        if a is None:
            values.append(None)
        elif i in const:
            values.append(g.add_constant(a, f"c{i}"))
        else:
            values.append(g.add_input(f"x{i}", TensorType.of(np.asarray(a))))
    out = g.op(op, *values, **dict(attrs or {}))
    g.set_outputs(out if isinstance(out, tuple) else (out,))
    feeds = [a for i, a in enumerate(inputs) if a is not None and i not in const]
    return run_graph(g, feeds)


def assert_matches(ours: Sequence[np.ndarray], theirs: Sequence[np.ndarray], *,
                   tolerance: tuple[float, float] | None = None) -> None:
    """Same count, shapes and dtypes; values equal within the dtype's tolerance (exact for ints)."""
    assert len(ours) == len(theirs), f"{len(ours)} outputs vs {len(theirs)} from onnxruntime"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        b = np.asarray(b)
        assert a.shape == b.shape, f"output {i}: shape {a.shape} vs onnxruntime {b.shape}"
        assert a.dtype == b.dtype, f"output {i}: dtype {a.dtype} vs onnxruntime {b.dtype}"
        tol = tolerance or TOLERANCE.get(a.dtype)
        if tol is None:
            np.testing.assert_array_equal(a, b, err_msg=f"output {i}")
        else:
            np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=tol[0],
                                       atol=tol[1], err_msg=f"output {i}")


def check_against_onnx(op: str, inputs: Sequence[np.ndarray | None], attrs: Mapping | None, *,
                       onnx_op: str | None = None, onnx_attrs: Mapping | None = None,
                       onnx_inputs: Sequence[np.ndarray | None] | None = None,
                       const: Collection[int] = (),
                       onnx_initializers: Collection[int] | None = None,
                       opset: int = DEFAULT_OPSET,
                       activation: tuple[str, Sequence[float]] | None = None,
                       tolerance: tuple[float, float] | None = None) -> list[np.ndarray]:
    """Run npucc `op` and its ONNX counterpart on the same data and assert they match.

    `onnx_inputs` defaults to `inputs` (give it when ONNX takes extra tensor inputs, such as
    Reshape's shape); `onnx_initializers` defaults to `const` plus every ONNX input index beyond
    the npucc ones. Returns npucc's outputs.
    """
    ours = run_npucc(op, inputs, attrs, const=const)
    onnx_inputs = list(inputs) if onnx_inputs is None else list(onnx_inputs)
    if onnx_initializers is None:
        onnx_initializers = set(const) | set(range(len(inputs), len(onnx_inputs)))
    theirs = run_onnx_node(onnx_op or op, onnx_inputs,
                           attrs if onnx_attrs is None else onnx_attrs,
                           [o.dtype for o in ours], initializers=onnx_initializers, opset=opset,
                           activation=activation)
    assert_matches(ours, theirs, tolerance=tolerance)
    return ours
