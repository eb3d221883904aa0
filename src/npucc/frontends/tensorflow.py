"""TensorFlow frontend: imports a frozen GraphDef (.pb) given input names, shapes and output names,
like RKNN's `load_tensorflow(tf_pb, inputs, outputs, input_size_list)`.

    graph = load("frozen.pb", inputs=["input"], outputs=["logits"], input_shapes=[[1, 224, 224, 3]])

TensorFlow itself is not needed: the GraphDef protos are compiled into npucc.frontends.tfproto.
The graph is pruned to the nodes between the given inputs and outputs. Every tensor is a handle:
a numpy array when it is known at import time (Const, and Shape-derived subgraphs, folded as they
are met) or a graph Value. NHWC graphs stay NHWC (NCHW core ops are wrapped in transposes;
data_format="NCHW" ops map directly), so the model's inputs and outputs keep their layout.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np

from .. import limits
from ..errors import FrontendError, LimitError, UnsupportedError
from ..ir import Graph, Value
from ..ir.types import DType, TensorType
from ..registry import Registry
from .guard import guarded
from .tf_common import (
    Builder,
    ConversionError,
    Handle,
    closest,
    int_list,
    keep_names,
    nhwc_shape,
    resize_attrs,
    shape_of,
    strided_slice,
    tf_pads,
)
from .tfproto import graph_pb2, types_pb2

_DTYPES = {
    types_pb2.DT_FLOAT: np.float32, types_pb2.DT_HALF: np.float16,
    types_pb2.DT_DOUBLE: np.float64, types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT64: np.int64, types_pb2.DT_INT8: np.int8, types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_INT16: np.int16, types_pb2.DT_BOOL: np.bool_,
}
_VAL_FIELDS = {np.float32: "float_val", np.float16: "half_val", np.float64: "double_val",
               np.int32: "int_val", np.int64: "int64_val", np.int8: "int_val",
               np.uint8: "int_val", np.int16: "int_val", np.bool_: "bool_val"}


def _dtype_name(code: int) -> str:
    return types_pb2.DataType.Name(code) if code in types_pb2.DataType.values() else f"code {code}"


def tensor_to_array(t) -> np.ndarray:
    """A TensorProto as a numpy array; its shape, byte size and values checked first."""
    dt = _DTYPES.get(t.dtype)
    if dt is None:
        raise ConversionError(f"tensor dtype {_dtype_name(t.dtype)} is not supported")
    shape = [d.size for d in t.tensor_shape.dim]
    try:
        nbytes = limits.check_shape(shape, np.dtype(dt).itemsize, "the tensor")
    except LimitError as e:
        raise ConversionError(str(e), False) from None
    n = math.prod(shape)
    if t.tensor_content:
        if len(t.tensor_content) != nbytes:
            raise ConversionError(f"tensor_content holds {len(t.tensor_content)} bytes; shape "
                                  f"{shape} of {_dtype_name(t.dtype)} needs {nbytes}", False)
        return np.frombuffer(t.tensor_content, dtype=dt).reshape(shape).copy()
    vals = getattr(t, _VAL_FIELDS[dt])
    if len(vals) > n:
        raise ConversionError(f"the tensor lists {len(vals)} values for shape {shape}", False)
    if dt is np.float16 or np.issubdtype(dt, np.integer):  # stored widened: check the range
        wide = np.array(vals, np.int64)
        info = np.iinfo(np.uint16 if dt is np.float16 else dt)
        if wide.size and (wide.min() < info.min or wide.max() > info.max):
            raise ConversionError(f"tensor values outside the {_dtype_name(t.dtype)} range", False)
        arr = wide.astype(np.uint16).view(np.float16) if dt is np.float16 else wide.astype(dt)
    else:
        arr = np.array(vals, dtype=dt)
    if arr.size == n:
        return arr.reshape(shape)
    if arr.size == 1 or arr.size == 0:  # one value repeated (or all zeros)
        return np.full(shape, arr.reshape(-1)[0] if arr.size else 0, dtype=dt)
    last = np.full(n, arr[-1], dtype=dt)  # TF repeats the last value
    last[:arr.size] = arr
    return last.reshape(shape)


_REQUIRED = object()


def _tensor_name(name: str) -> tuple[str, int]:
    name = name.lstrip("^")
    if ":" in name:
        node, idx = name.rsplit(":", 1)
        if not idx.isdigit():
            raise FrontendError(f"tensor name {name!r}: the output index {idx!r} is not a number")
        return node, int(idx)
    return name, 0


class _Node:
    """One NodeDef as converters see it."""

    def __init__(self, imp: TFImporter, nd):
        self.imp = imp
        self.nd = nd
        self.name = nd.name
        self.op = nd.op
        self.data_inputs = [i for i in nd.input if not i.startswith("^")]

    def attr(self, key, default=_REQUIRED):
        """An attribute's value (bytes decoded); a missing one is `default`, or an error when no
        default is given."""
        if key not in self.nd.attr:
            if default is _REQUIRED:
                raise ConversionError(f"attribute '{key}' is missing", False)
            return default
        a = self.nd.attr[key]
        kind = a.WhichOneof("value")
        try:
            if kind == "list":
                lst = a.list
                for f in ("i", "f", "s", "b", "type"):
                    if len(getattr(lst, f)):
                        vals = list(getattr(lst, f))
                        return [v.decode() for v in vals] if f == "s" else vals
                return []
            v = getattr(a, kind) if kind else default
            return v.decode() if isinstance(v, bytes) else v
        except UnicodeDecodeError:
            raise ConversionError(f"attribute '{key}' holds a string that is not UTF-8",
                                  False) from None

    def input(self, i: int) -> Handle:
        if i >= len(self.data_inputs):
            raise ConversionError(f"input {i} is required", False)
        return self.imp.lookup(self.data_inputs[i])

    def static(self, i: int, what: str) -> np.ndarray:
        h = self.input(i)
        if isinstance(h, Value):
            if h.is_constant:
                return np.asarray(h.const)
            raise ConversionError(f"input {i} ({what}, '{self.data_inputs[i]}') must be known at "
                                  "import time")
        return np.asarray(h)

    def ints(self, i: int, what: str, count: int | None = None) -> list[int]:
        """Static input i as a list of integers (of exactly `count` entries if given)."""
        return int_list(self.static(i, what), what, count)

    def emit(self, op: str, inputs, attrs=None, name=None) -> Handle:
        return self.imp.b.emit(op, inputs, attrs, label=self.name, name=name or self.name)

    def nhwc(self) -> bool:
        fmt = self.attr("data_format", "NHWC")
        if fmt not in ("NHWC", "NCHW"):
            raise ConversionError(f"data_format {fmt} is not supported")
        return fmt == "NHWC"

    def spatial_op(self, op: str, x: Handle, extra, attrs) -> Handle:
        """An NCHW core op on x in this node's data format."""
        if self.nhwc():
            return self.imp.b.nchw_op(op, x, extra, attrs, label=self.name, name=self.name)
        return self.emit(op, [x, *extra], attrs)

    def hw(self, values) -> tuple[int, int]:
        """The H, W entries of a 4-element NHWC / NCHW attribute."""
        if not isinstance(values, (list, tuple)) or len(values) != 4 or \
                not all(isinstance(d, (int, np.integer)) for d in values):
            raise ConversionError(f"expected 4 integers (N, H, W, C or N, C, H, W), got {values!r}",
                                  False)
        v = list(values)
        return (v[1], v[2]) if self.nhwc() else (v[2], v[3])


class TFImporter:
    def __init__(self, gd, label: str, inputs, outputs, input_shapes):
        self.label = label
        self.gd = gd
        self.nodes = {nd.name: nd for nd in gd.node}
        self.graph = Graph(os.path.splitext(os.path.basename(label))[0] or "tensorflow")
        self.b = Builder(self.graph)
        self.handles: dict[tuple[str, int], Handle] = {}
        self.inputs = list(inputs) if inputs else None
        self.outputs = list(outputs) if outputs else None
        self.input_shapes = input_shapes

    def error(self, node: _Node | None, message: str, unsupported=False) -> FrontendError:
        where = f"{self.label}: node '{node.name}' ({node.op})" if node else self.label
        return (UnsupportedError if unsupported else FrontendError)(f"{where}: {message}")

    def lookup(self, name: str) -> Handle:
        key = _tensor_name(name)
        if key not in self.handles:
            raise ConversionError(f"tensor '{name}' is not available (unsupported producer or "
                                  "outside the cut)", False)
        return self.handles[key]

    def _check_name(self, name: str, what: str) -> tuple[str, int]:
        node, idx = _tensor_name(name)
        if node not in self.nodes:
            raise FrontendError(f"{self.label}: {what} '{name}' is not a node of the graph; "
                                f"closest names: {closest(node, self.nodes)}")
        return node, idx

    def run(self) -> Graph:
        placeholders = [nd.name for nd in self.gd.node if nd.op == "Placeholder"]
        in_names = self.inputs if self.inputs is not None else placeholders
        if self.outputs is None:
            raise FrontendError(f"{self.label}: give outputs= (output tensor names); a frozen "
                                "GraphDef does not say which nodes are outputs")
        in_keys = [self._check_name(n, "input") for n in in_names]
        out_keys = [self._check_name(n, "output") for n in self.outputs]
        shapes = self._input_shapes(in_keys)
        for (node, idx), shape in zip(in_keys, shapes):
            nd = self.nodes[node]
            dt = nd.attr["dtype"].type if "dtype" in nd.attr else types_pb2.DT_FLOAT
            np_dt = _DTYPES.get(dt, np.float32)
            name = node if idx == 0 else f"{node}:{idx}"
            self.handles[(node, idx)] = self.graph.add_input(
                name, TensorType(shape, DType.from_numpy(np_dt)))
        for nd in self._order(set(k[0] for k in in_keys), [k[0] for k in out_keys]):
            node = _Node(self, nd)
            fn = CONVERTERS.get(nd.op)
            if fn is None:
                raise self.error(node, f"op {nd.op} is not supported; supported ops: "
                                 f"{', '.join(sorted(CONVERTERS))}", unsupported=True)
            try:
                result = fn(node)
            except ConversionError as e:
                raise self.error(node, str(e), e.unsupported) from None
            results = result if isinstance(result, (list, tuple)) else [result]
            for i, h in enumerate(results):
                self.handles[(nd.name, i)] = h
        outs = [self.b.value(self.handles[k], k[0]) for k in out_keys]
        self.graph.set_outputs(outs)
        keep_names(self.graph, outs, [n if i == 0 else f"{n}:{i}" for n, i in out_keys])
        return self.graph

    def _input_shapes(self, keys) -> list[tuple[int, ...]]:
        given = self.input_shapes
        shapes = []
        for k, (node, _) in enumerate(keys):
            nd = self.nodes[node]
            shape = None
            if isinstance(given, dict) and node in given:
                shape = given[node]
            elif isinstance(given, (list, tuple)) and given:
                shape = given[k]
            elif "shape" in nd.attr and not nd.attr["shape"].shape.unknown_rank:
                shape = [d.size for d in nd.attr["shape"].shape.dim]
            if shape is None or any(d is None or d < 0 for d in shape):
                raise FrontendError(f"{self.label}: input '{node}' has unknown shape {shape}; "
                                    "give input_shapes (e.g. [[1, 224, 224, 3]])")
            shapes.append(tuple(int(d) for d in shape))
        return shapes

    def _order(self, inputs: set[str], outputs: list[str]) -> list:
        """Nodes needed for `outputs` (stopping at `inputs`), in topological order."""
        order, state = [], {}
        for root in outputs:
            stack = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    if state.get(name) != 2:
                        state[name] = 2
                        order.append(self.nodes[name])
                    continue
                if state.get(name) or name in inputs:
                    continue
                state[name] = 1
                stack.append((name, True))
                for i in self.nodes[name].input:
                    if i.startswith("^"):
                        continue
                    dep = _tensor_name(i)[0]
                    if dep not in self.nodes:
                        raise FrontendError(f"{self.label}: node '{name}' reads '{i}', which is "
                                            "not in the graph")
                    if not state.get(dep) and dep not in inputs:
                        stack.append((dep, False))
        return order


# ---------------------------------------------------------------- converters

def const(n: _Node):
    return tensor_to_array(n.nd.attr["value"].tensor)


def identity(n: _Node):
    return n.input(0)


def placeholder(n: _Node):
    raise ConversionError("a Placeholder that is not one of the given inputs is needed; add it to "
                          "inputs=", False)


def conv2d(n: _Node):
    x = n.input(0)
    w = _filter(n, 1)  # HWIO
    kh, kw, ci, co = w.shape
    c = nhwc_shape(x)[3 if n.nhwc() else 1]
    strides, dil = n.hw(n.attr("strides")), n.hw(n.attr("dilations", [1, 1, 1, 1]))
    hw = n.hw(shape_of(x))
    attrs = {"strides": strides, "dilations": dil, "group": c // ci,
             "pads": _pads(n, hw, (kh, kw), strides, dil)}
    return n.spatial_op("Conv", x, [np.ascontiguousarray(w.transpose(3, 2, 0, 1))], attrs)


def depthwise(n: _Node):
    x = n.input(0)
    w = _filter(n, 1)  # kh, kw, C, multiplier
    kh, kw, c, m = w.shape
    wc = np.ascontiguousarray(w.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None])
    strides, dil = n.hw(n.attr("strides")), n.hw(n.attr("dilations", [1, 1, 1, 1]))
    attrs = {"strides": strides, "dilations": dil, "group": c,
             "pads": _pads(n, n.hw(shape_of(x)), (kh, kw), strides, dil)}
    return n.spatial_op("Conv", x, [wc], attrs)


def _filter(n: _Node, i: int) -> np.ndarray:
    w = n.static(i, "filter")
    if w.ndim != 4 or min(w.shape) < 1:
        raise ConversionError(f"the filter must be 4-D with sizes >= 1, got shape "
                              f"{list(w.shape)}", False)
    return w


def _pads(n: _Node, hw, k, strides, dil):
    padding = n.attr("padding")
    if padding == "EXPLICIT":
        p = list(n.attr("explicit_paddings"))
        pairs = [(p[2], p[3]), (p[4], p[5])] if n.nhwc() else [(p[4], p[5]), (p[6], p[7])]
        return (pairs[0][0], pairs[1][0], pairs[0][1], pairs[1][1])
    try:
        return tf_pads(padding, hw, k, strides, dil)
    except ConversionError:
        raise
    except Exception as e:  # pragma: no cover - defensive
        raise ConversionError(str(e)) from None


def conv_backprop_input(n: _Node):
    sizes = n.ints(0, "input_sizes")
    w = _filter(n, 1)  # kh, kw, out_channels(M), in_channels(C of x)
    x = n.input(2)
    kh, kw = w.shape[:2]
    strides = n.hw(n.attr("strides"))
    dil = n.hw(n.attr("dilations", [1, 1, 1, 1]))
    if dil != (1, 1):
        raise ConversionError("dilated Conv2DBackpropInput is not supported")
    in_hw, out_hw = n.hw(shape_of(x)), n.hw(sizes)
    fwd = _pads(n, out_hw, (kh, kw), strides, (1, 1))
    begins, ends, extra = [], [], []
    for i in range(2):
        full = strides[i] * (in_hw[i] - 1) + (kh, kw)[i]
        end = full - fwd[i] - out_hw[i]
        begins.append(fwd[i])
        ends.append(max(end, 0))
        extra.append(max(-end, 0))
    attrs = {"strides": strides, "pads": tuple(begins + ends), "output_padding": tuple(extra)}
    return n.spatial_op("ConvTranspose", x, [np.ascontiguousarray(w.transpose(3, 2, 0, 1))], attrs)


def bias_add(n: _Node):
    x, b = n.input(0), n.input(1)
    if not n.nhwc() and len(shape_of(x)) == 4:
        b = n.imp.b.emit("Reshape", [b], {"shape": (shape_of(b)[0], 1, 1)}, label=n.name)
    return n.emit("Add", [x, b])


def matmul(n: _Node):
    return n.emit("Gemm", [n.input(0), n.input(1)],
                  {"transA": bool(n.attr("transpose_a", False)),
                   "transB": bool(n.attr("transpose_b", False))})


def fused_batch_norm(n: _Node):
    if n.attr("is_training", False):
        raise ConversionError("FusedBatchNorm with is_training=true cannot be imported for "
                              "inference")
    x = n.input(0)
    params = [n.input(i) for i in range(1, 5)]
    y = n.spatial_op("BatchNorm", x, params, {"epsilon": float(n.attr("epsilon", 1e-3))})
    return [y] + [None] * 5


def _binary(core):
    def convert(n: _Node):
        return n.emit(core, [n.input(0), n.input(1)])
    return convert


def _unary(core, attrs_fn: Callable | None = None, numpy_fn=None):
    def convert(n: _Node):
        x = n.input(0)
        if numpy_fn is not None and isinstance(x, np.ndarray):
            return numpy_fn(x)
        return n.emit(core, [x], attrs_fn(n) if attrs_fn else {})
    return convert


def rsqrt(n: _Node):
    x = n.input(0)
    if isinstance(x, np.ndarray):
        return (1.0 / np.sqrt(x)).astype(x.dtype)
    s = n.imp.b.emit("Sqrt", [x], label=n.name)
    return n.emit("Div", [np.ones((), np.float32), s])


def _pool(core):
    def convert(n: _Node):
        x = n.input(0)
        k, s = n.hw(n.attr("ksize")), n.hw(n.attr("strides"))
        attrs = {"kernel_shape": k, "strides": s,
                 "pads": tf_pads(n.attr("padding"), n.hw(shape_of(x)), k, s, (1, 1))}
        return n.spatial_op(core, x, [], attrs)
    return convert


def _reduce(core):
    def convert(n: _Node):
        x = n.input(0)
        rank = len(shape_of(x))
        axes = tuple(sorted({a % max(rank, 1) for a in n.ints(1, "axes")}))
        keep = bool(n.attr("keep_dims", False))
        if isinstance(x, np.ndarray):
            fn = {"ReduceMean": np.mean, "ReduceSum": np.sum, "ReduceMax": np.max}[core]
            return fn(x, axis=axes, keepdims=keep).astype(x.dtype)
        return n.emit(core, [x], {"axes": axes, "keepdims": keep})
    return convert


def pad(n: _Node):
    x = n.input(0)
    p = n.static(1, "paddings").reshape(-1, 2)
    attrs = {"pads": tuple(int(v) for v in p[:, 0]) + tuple(int(v) for v in p[:, 1])}
    if n.op == "MirrorPad":
        mode = n.attr("mode")
        if mode == "SYMMETRIC":
            from .tflite import symmetric_pad

            return symmetric_pad(n.imp.b, x, p, n.name, None)
        attrs["mode"] = "reflect"
    elif n.op == "PadV2":
        attrs["value"] = float(np.ravel(n.static(2, "constant_values"))[0])
    return n.emit("Pad", [x], attrs)


def concat(n: _Node):
    k = len(n.data_inputs) - 1
    xs = [n.input(i) for i in range(k)]
    axis = n.ints(k, "axis", 1)[0] % len(shape_of(xs[0]))
    if all(isinstance(x, np.ndarray) for x in xs):
        return np.concatenate(xs, axis=axis)
    return n.emit("Concat", xs, {"axis": axis})


def reshape(n: _Node):
    x = n.input(0)
    shape = n.ints(1, "shape")
    size = int(np.prod(shape_of(x)))
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        shape[shape.index(-1)] = size // max(known, 1)
    return n.emit("Reshape", [x], {"shape": tuple(shape)})


def squeeze(n: _Node):
    x = n.input(0)
    rank = len(shape_of(x))
    dims = n.attr("squeeze_dims", []) or []
    axes = tuple(sorted(int(a) % rank for a in dims)) if dims else \
        tuple(i for i, d in enumerate(shape_of(x)) if d == 1)
    if isinstance(x, np.ndarray):
        return np.squeeze(x, axis=axes)
    return n.emit("Squeeze", [x], {"axes": axes})


def expand_dims(n: _Node):
    x = n.input(0)
    axis = n.ints(1, "axis", 1)[0] % (len(shape_of(x)) + 1)
    if isinstance(x, np.ndarray):
        return np.expand_dims(x, axis)
    return n.emit("Unsqueeze", [x], {"axes": (axis,)})


def transpose(n: _Node):
    x = n.input(0)
    perm = tuple(n.ints(1, "perm"))
    if isinstance(x, np.ndarray):
        return np.transpose(x, perm)
    return n.emit("Transpose", [x], {"perm": perm})


def strided_slice_op(n: _Node):
    x = n.input(0)
    kw = {k: int(n.attr(k, 0)) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                         "new_axis_mask", "shrink_axis_mask")}
    return strided_slice(n.imp.b, x, n.static(1, "begin"), n.static(2, "end"),
                         n.static(3, "strides"), label=n.name, name=n.name, **kw)


def slice_op(n: _Node):
    x = n.input(0)
    begin = n.ints(1, "begin")
    size = n.ints(2, "size")
    ends = [d if s == -1 else b + s for b, s, d in zip(begin, size, shape_of(x))]
    return n.emit("Slice", [x], {"starts": tuple(begin), "ends": tuple(ends)})


def _resize(method):
    def convert(n: _Node):
        x = n.input(0)
        hw = n.ints(1, "size", 2)
        batch, h, w, c = nhwc_shape(x)
        nchw = (batch, c, h, w)
        attrs = resize_attrs(method, hw, nchw, bool(n.attr("align_corners", False)),
                             bool(n.attr("half_pixel_centers", False)))
        return n.imp.b.nchw_op("Resize", x, [], attrs, label=n.name, name=n.name)
    return convert


def _space(core):
    def convert(n: _Node):
        return n.spatial_op(core, n.input(0), [], {"blocksize": int(n.attr("block_size"))})
    return convert


def shape_op(n: _Node):
    dt = _DTYPES.get(n.attr("out_type", types_pb2.DT_INT32), np.int32)
    return np.array(shape_of(n.input(0)), dtype=dt)


def pack(n: _Node):
    xs = [n.input(i) for i in range(len(n.data_inputs))]
    axis = int(n.attr("axis", 0))
    if all(isinstance(x, np.ndarray) for x in xs):
        return np.stack(xs, axis=axis)
    axis %= len(shape_of(xs[0])) + 1
    parts = [n.imp.b.emit("Unsqueeze", [x], {"axes": (axis,)}, label=n.name) for x in xs]
    return n.emit("Concat", parts, {"axis": axis})


def cast(n: _Node):
    x = n.input(0)
    dt = _DTYPES.get(n.attr("DstT"))
    if dt is None:
        raise ConversionError("Cast to an unsupported dtype")
    if isinstance(x, np.ndarray):
        return x.astype(dt)
    if x.dtype.numpy == np.dtype(dt):
        return x
    return n.emit("Cast", [x], {"to": DType.from_numpy(dt)})


def tile(n: _Node):
    x = n.input(0)
    reps = tuple(n.ints(1, "multiples"))
    if isinstance(x, np.ndarray):
        return np.tile(x, reps)
    return n.emit("Tile", [x], {"repeats": reps})


def _static_only(fn):
    def convert(n: _Node):
        args = [n.static(i, "operand") for i in range(len(n.data_inputs))]
        return np.asarray(fn(n, *args))
    return convert


CONVERTERS: Registry[Callable] = Registry("TensorFlow op", {
    "Const": const, "Identity": identity, "StopGradient": identity, "NoOp": identity,
    "Snapshot": identity, "Placeholder": placeholder, "PlaceholderWithDefault": identity,
    "Conv2D": conv2d, "DepthwiseConv2dNative": depthwise,
    "Conv2DBackpropInput": conv_backprop_input,
    "BiasAdd": bias_add, "MatMul": matmul,
    "FusedBatchNorm": fused_batch_norm, "FusedBatchNormV3": fused_batch_norm,
    "Relu": _unary("Relu"), "Relu6": _unary("Clip", lambda n: {"min": 0.0, "max": 6.0}),
    "LeakyRelu": _unary("LeakyRelu", lambda n: {"alpha": float(n.attr("alpha", 0.2))}),
    "Elu": _unary("Elu"), "Sigmoid": _unary("Sigmoid"), "Tanh": _unary("Tanh"),
    "Softmax": _unary("Softmax", lambda n: {"axis": -1}),
    "Abs": _unary("Abs", numpy_fn=np.abs), "Neg": _unary("Neg", numpy_fn=np.negative),
    "Sqrt": _unary("Sqrt", numpy_fn=np.sqrt), "Rsqrt": rsqrt,
    "Add": _binary("Add"), "AddV2": _binary("Add"), "Sub": _binary("Sub"),
    "Mul": _binary("Mul"), "RealDiv": _binary("Div"), "Maximum": _binary("Max"),
    "Minimum": _binary("Min"),
    "MaxPool": _pool("MaxPool"), "AvgPool": _pool("AveragePool"),
    "Mean": _reduce("ReduceMean"), "Sum": _reduce("ReduceSum"), "Max": _reduce("ReduceMax"),
    "Pad": pad, "PadV2": pad, "MirrorPad": pad, "ConcatV2": concat,
    "Reshape": reshape, "Squeeze": squeeze, "ExpandDims": expand_dims, "Transpose": transpose,
    "StridedSlice": strided_slice_op, "Slice": slice_op,
    "ResizeBilinear": _resize("bilinear"), "ResizeNearestNeighbor": _resize("nearest"),
    "DepthToSpace": _space("DepthToSpace"), "SpaceToDepth": _space("SpaceToDepth"),
    "Shape": shape_op, "Pack": pack, "Cast": cast, "Tile": tile,
    "Size": _static_only(lambda n, x: np.int32(x.size)),
    "Rank": _static_only(lambda n, x: np.int32(x.ndim)),
    "Fill": _static_only(lambda n, dims, v: np.full([int(d) for d in dims], v)),
    "Range": _static_only(lambda n, a, b, d: np.arange(a, b, d)),
    "Prod": _static_only(lambda n, x, ax: np.prod(x, axis=tuple(np.ravel(ax)),
                                                  keepdims=bool(n.attr("keep_dims", False)))),
}, error=FrontendError)


@guarded
def load(source, *, inputs=None, outputs=None, input_shapes=None, **options) -> Graph:
    """Import a frozen GraphDef.

    inputs: input tensor names (default: every Placeholder); outputs: output tensor names
    (required); input_shapes: shapes in input order or a dict by name (RKNN's input_size_list),
    needed where the Placeholder shape has unknown dims.
    """
    if options:
        raise FrontendError(f"tensorflow frontend: unknown option(s) {sorted(options)}; it takes "
                            "inputs, outputs, input_shapes")
    if isinstance(outputs, str):
        outputs = [outputs]
    if isinstance(inputs, str):
        inputs = [inputs]
    label = os.fspath(source)
    gd = graph_pb2.GraphDef()
    try:
        with open(label, "rb") as f:
            gd.ParseFromString(f.read())
    except OSError as e:
        raise FrontendError(f"{label}: cannot read: {e.strerror}") from None
    except Exception as e:
        raise FrontendError(f"{label}: not a binary GraphDef ({type(e).__name__}: {e})") from None
    return TFImporter(gd, label, inputs, outputs, input_shapes).run()
