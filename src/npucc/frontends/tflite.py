"""TensorFlow Lite frontend: reads a .tflite flatbuffer with the `tflite` schema package and maps
subgraph 0's builtin ops to the core op set.

    graph = load("model.tflite")                       # inputs/outputs of subgraph 0
    graph = load("model.tflite", outputs=["logits"])   # cut at tensors by name

Layout: TFLite tensors are NHWC and stay so (the graph's inputs and outputs keep the model's
layout); NCHW core ops are wrapped in transposes (see tf_common).

Quantized models (int8/uint8, per tensor or per channel) keep their parameters: every integer
tensor with scale/zero point becomes a TensorType with QuantParams, weights keep theirs (the
per-channel axis follows the weight transposition), int32 biases carry scale = x_scale * w_scale.
Such nodes run with npucc.numerics' tflite profile, bit-exact with TFLite's reference kernels.
fp16 weights (DEQUANTIZE of a float16 constant) and sparse weights (DENSIFY) become dense float32
constants at import time.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence

import numpy as np
import tflite

from ..errors import FrontendError, UnsupportedError
from ..ir import Graph, Value
from ..ir.types import DType, QuantParams, TensorType
from ..registry import Registry
from .guard import guarded
from .tf_common import (
    TO_NCHW,
    Builder,
    ConversionError,
    Handle,
    closest,
    int_list,
    keep_names,
    nhwc_shape,
    quant_of,
    resize_attrs,
    shape_of,
    strided_slice,
    tf_pads,
)
from .tflite_model import Tensor, check_index, decode_name, options, read_model

OP_NAMES = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
_PADDING = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
_ACT = tflite.ActivationFunctionType


def _ints(vector) -> np.ndarray:
    """A flatbuffer int vector read AsNumpy (which gives 0 when the vector is absent)."""
    return vector if isinstance(vector, np.ndarray) else np.zeros(0, np.int32)


class _Op:
    """One operator as converters see it."""

    def __init__(self, imp: TFLiteImporter, index: int, op):
        self.imp = imp
        self.index = index
        self.op = op
        what = f"operator #{index}"
        k = check_index(op.OpcodeIndex(), imp.model.OperatorCodesLength(), f"{what}: opcode index")
        code = imp.model.OperatorCodes(k)
        self.code = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        self.name = OP_NAMES.get(self.code, f"builtin code {self.code}")
        if self.code == tflite.BuiltinOperator.CUSTOM:
            self.name = f"CUSTOM:{decode_name(code.CustomCode(), what) or '?'}"
        n = len(imp.tensors)
        self.in_idx = [check_index(int(i), n, f"{what}: input tensor index", allow_absent=True)
                       for i in _ints(op.InputsAsNumpy())]
        self.out_idx = [check_index(int(i), n, f"{what}: output tensor index")
                        for i in _ints(op.OutputsAsNumpy())]
        self.label = imp.tensors[self.out_idx[0]].name if self.out_idx else f"op{index}"

    def describe(self) -> str:
        names = [self.imp.tensors[i].name if i >= 0 else "-" for i in self.in_idx]
        outs = [self.imp.tensors[i].name for i in self.out_idx]
        return f"operator #{self.index} {self.name} (inputs {names}, outputs {outs})"

    def has(self, i: int) -> bool:
        return i < len(self.in_idx) and self.in_idx[i] >= 0

    def tensor(self, i: int) -> Tensor:
        if not self.has(i):
            raise ConversionError(f"input {i} is required", False)
        return self.imp.tensors[self.in_idx[i]]

    def out_tensor(self, i: int = 0) -> Tensor:
        if i >= len(self.out_idx):
            raise ConversionError(f"output {i} is required", False)
        return self.imp.tensors[self.out_idx[i]]

    def input(self, i: int) -> Handle:
        if not self.has(i):
            raise ConversionError(f"input {i} is required", False)
        return self.imp.handle(self.in_idx[i])

    def static(self, i: int, what: str) -> np.ndarray:
        h = self.input(i)
        if isinstance(h, Value):
            if h.is_constant:
                return np.asarray(h.const)
            raise ConversionError(f"input {i} ({what}, tensor '{self.tensor(i).name}') must be a "
                                  "constant")
        return np.asarray(h)

    def ints(self, i: int, what: str, count: int | None = None) -> list[int]:
        """Static input i as a list of integers (of exactly `count` entries if given)."""
        return int_list(self.static(i, what), what, count)

    def options(self, cls, required: bool = False):
        """The operator's builtin options as `cls` (None when absent, unless `required`)."""
        try:
            o = options(self.op, cls)
        except FrontendError as e:
            raise ConversionError(str(e), False) from None
        if o is None and required:
            raise ConversionError(f"its {cls.__name__} are missing", False)
        return o


class TFLiteImporter:
    def __init__(self, buf: bytes, label: str, *, inputs=None, outputs=None, input_shapes=None):
        self.label = label
        self.model = read_model(buf)
        self.sg = self.model.Subgraphs(0)
        self.tensors = [Tensor(self.model, self.sg, i, buf) for i in range(self.sg.TensorsLength())]
        self.by_name = {t.name: t.index for t in self.tensors}
        self.graph = Graph(os.path.splitext(os.path.basename(label))[0] or "tflite")
        self.b = Builder(self.graph)
        self.handles: dict[int, Handle] = {}
        self.cut_inputs = self._names_to_indices(inputs, "input") if inputs else None
        self.cut_outputs = self._names_to_indices(outputs, "output") if outputs else None
        self.input_shapes = input_shapes

    def _names_to_indices(self, names, what) -> list[int]:
        out = []
        for n in names:
            if n not in self.by_name:
                raise FrontendError(f"{self.label}: no tensor named {n!r} for {what}; closest: "
                                    f"{closest(n, self.by_name)}")
            out.append(self.by_name[n])
        return out

    # ---- tensors ----
    def handle(self, index: int) -> Handle:
        if index in self.handles:
            return self.handles[index]
        t = self.tensors[index]
        if t.data is None:
            raise ConversionError(f"tensor '{t.name}' is read before it is computed", False)
        if t.sparsity is not None:
            raise ConversionError(f"tensor '{t.name}' is sparse; only DENSIFY may read it")
        if t.quant is not None:
            h = self.graph.add_constant(t.data, self.graph.unique_name(t.name),
                                        quant=t.quant)
        else:
            h = t.data.copy()
        self.handles[index] = h
        return h

    def constant(self, arr: np.ndarray, t: Tensor, quant: QuantParams | None) -> Value:
        return self.graph.add_constant(arr, self.graph.unique_name(t.name), quant=quant)

    # ---- driver ----
    def run(self) -> Graph:
        n = len(self.tensors)
        ins = self.cut_inputs if self.cut_inputs is not None else \
            [check_index(int(i), n, "subgraph input") for i in _ints(self.sg.InputsAsNumpy())]
        outs = self.cut_outputs if self.cut_outputs is not None else \
            [check_index(int(i), n, "subgraph output") for i in _ints(self.sg.OutputsAsNumpy())]
        shapes = self._input_shapes(ins)
        for i, shape in zip(ins, shapes):
            t = self.tensors[i]
            if t.np_dtype is None:
                raise UnsupportedError(f"{self.label}: input '{t.name}' has unsupported type "
                                       f"{t.type_name}")
            self.handles[i] = self.graph.add_input(
                t.name, TensorType(shape, DType.from_numpy(t.np_dtype), t.quant))
        ops = [_Op(self, k, self.sg.Operators(k)) for k in range(self.sg.OperatorsLength())]
        for op in self._needed(ops, set(ins), outs):
            self._convert(op)
        result = [self.b.value(self.handle(i), self.tensors[i].name) for i in outs]
        self.graph.set_outputs(result)
        keep_names(self.graph, result, [self.tensors[i].name for i in outs])
        return self.graph

    def _input_shapes(self, ins) -> list[tuple[int, ...]]:
        given = self.input_shapes
        shapes = []
        for k, i in enumerate(ins):
            t = self.tensors[i]
            shape = t.shape
            if isinstance(given, dict) and t.name in given:
                shape = tuple(given[t.name])
            elif isinstance(given, (list, tuple)) and given:
                shape = tuple(given[k])
            if any(d < 0 for d in shape):
                raise FrontendError(f"{self.label}: input '{t.name}' has unknown dims {shape}; "
                                    "give input_shapes")
            shapes.append(tuple(shape))
        return shapes

    def _needed(self, ops, inputs: set[int], outs: Sequence[int]) -> list[_Op]:
        producer = {i: op for op in ops for i in op.out_idx}
        needed, stack = set(), list(outs)
        seen = set()
        while stack:
            i = stack.pop()
            if i in seen or i in inputs or i < 0:
                continue
            seen.add(i)
            op = producer.get(i)
            if op is None:
                if self.tensors[i].data is None:
                    raise FrontendError(f"{self.label}: tensor '{self.tensors[i].name}' has no "
                                        "producer and no data; give it as an input")
                continue
            needed.add(op.index)
            stack.extend(op.in_idx)
        return [op for op in ops if op.index in needed]

    def _convert(self, op: _Op) -> None:
        fn = CONVERTERS.get(op.name)
        if fn is None:
            raise UnsupportedError(
                f"{self.label}: {op.describe()}: op code {op.code} ({op.name}) is not supported; "
                f"supported ops: {', '.join(sorted(CONVERTERS))}")
        try:
            results = fn(self, op)
        except ConversionError as e:
            cls = UnsupportedError if e.unsupported else FrontendError
            raise cls(f"{self.label}: {op.describe()}: {e}") from None
        if not isinstance(results, (list, tuple)):
            results = [results]
        for i, h in zip(op.out_idx, results):
            t = self.tensors[i]
            if isinstance(h, np.ndarray) and t.np_dtype is not None and h.dtype != t.np_dtype \
                    and t.quant is None:
                h = h.astype(t.np_dtype)
            self.handles[i] = h

    # ---- helpers for converters ----
    def emit(self, op: _Op, core_op: str, inputs, attrs=None, *, out: int | None = 0,
             quant_from_output=True) -> Handle:
        """Emit a core op for `op`; its result carries output tensor `out`'s quantization and
        name."""
        t = op.out_tensor(out) if out is not None else None
        quant = t.quant if (t is not None and quant_from_output) else None
        return self.b.emit(core_op, inputs, attrs, label=op.label, quant=quant,
                           name=t.name if t is not None else None)

    def activation(self, op: _Op, h: Handle, fused: int) -> Handle:
        """Apply a fused activation that the core op could not take as an attribute."""
        if fused == _ACT.NONE:
            return h
        kind = {_ACT.RELU: ("Relu", {}), _ACT.RELU6: ("Clip", {"min": 0.0, "max": 6.0}),
                _ACT.RELU_N1_TO_1: ("Clip", {"min": -1.0, "max": 1.0}),
                _ACT.TANH: ("Tanh", {})}.get(fused)
        if kind is None:
            raise ConversionError(f"fused activation {fused} is not supported")
        return self.emit(op, kind[0], [h], kind[1])


def _padding(options) -> str:
    try:
        return _PADDING[options.Padding()]
    except KeyError:
        raise ConversionError(f"unknown padding code {options.Padding()}", False) from None


def fused_attrs(fused: int) -> dict | None:
    """Fused activation as Conv/Gemm attributes (None: apply it as a separate op)."""
    return {_ACT.NONE: {}, _ACT.RELU: {"activation": "relu"},
            _ACT.RELU6: {"activation": "clip", "activation_params": (0.0, 6.0)},
            _ACT.RELU_N1_TO_1: {"activation": "clip", "activation_params": (-1.0, 1.0)}
            }.get(fused)


def _weights(imp: TFLiteImporter, op: _Op, i: int, perm, axis_map: dict) -> Handle:
    """A weight input transposed by `perm`; a constant's quantization axis follows it."""
    t = op.tensor(i)
    h = op.input(i)
    if isinstance(h, Value) and h.is_constant and t.quant is not None:
        q = t.quant
        if q.axis is not None:
            q = QuantParams.affine(q.scale, q.zero_point, axis=axis_map[q.axis], bits=q.bits)
        return imp.constant(np.transpose(np.asarray(h.const), perm), t, q)
    if isinstance(h, np.ndarray):
        return np.ascontiguousarray(np.transpose(h, perm))
    return imp.b.transpose(h, perm, op.label)


def _bias(op: _Op, i: int) -> Handle | None:
    return op.input(i) if op.has(i) else None


def _conv_like(imp, op, kind):
    x = op.input(0)
    if len(shape_of(x)) != 4 or len(op.tensor(1).shape) != 4 or min(op.tensor(1).shape) < 1:
        raise ConversionError(f"needs a 4-D input and 4-D weights, got shapes "
                              f"{list(shape_of(x))} and {list(op.tensor(1).shape)}", False)
    n, h, w, c = shape_of(x)
    if kind == "conv":
        o = op.options(tflite.Conv2DOptions, required=True)
        wt = _weights(imp, op, 1, (0, 3, 1, 2), {0: 0})
        kh, kw = op.tensor(1).shape[1:3]
        group = c // op.tensor(1).shape[3]
        b = _bias(op, 2)
    else:
        o = op.options(tflite.DepthwiseConv2DOptions, required=True)
        wt = _weights(imp, op, 1, (3, 0, 1, 2), {3: 0})
        kh, kw = op.tensor(1).shape[1:3]
        group = c
        b = _bias(op, 2)
    strides = (o.StrideH(), o.StrideW())
    dil = (o.DilationHFactor(), o.DilationWFactor())
    pads = tf_pads(_padding(o), (h, w), (kh, kw), strides, dil)
    act = fused_attrs(o.FusedActivationFunction())
    attrs = {"strides": strides, "pads": pads, "dilations": dil, "group": group, **(act or {})}
    t = op.out_tensor()
    y = imp.b.nchw_op("Conv", x, [wt, b], attrs, label=op.label, quant=t.quant,
                      name=None if act is None else t.name)
    return y if act is not None else imp.activation(op, y, o.FusedActivationFunction())


def conv_2d(imp, op):
    return _conv_like(imp, op, "conv")


def depthwise_conv_2d(imp, op):
    return _conv_like(imp, op, "depthwise")


def transpose_conv(imp, op):
    o = op.options(tflite.TransposeConvOptions, required=True)
    out_shape = tuple(op.ints(0, "output shape", 4))
    x = op.input(2)
    _, h, w, c = nhwc_shape(x)
    wt = _weights(imp, op, 1, (3, 0, 1, 2), {0: 1})
    kh, kw = op.tensor(1).shape[1:3]
    strides = (o.StrideH(), o.StrideW())
    pads_b, pads_e, extra = [], [], []
    if _padding(o) == "SAME":
        fwd = tf_pads("SAME", out_shape[1:3], (kh, kw), strides, (1, 1))
    else:
        fwd = (0, 0, 0, 0)
    for k, (n_in, n_out, s, kk) in enumerate(zip((h, w), out_shape[1:3], strides, (kh, kw))):
        full = s * (n_in - 1) + kk
        begin = fwd[k]
        end = full - begin - n_out
        pads_b.append(begin)
        pads_e.append(max(end, 0))
        extra.append(max(-end, 0))
    act = fused_attrs(o.FusedActivationFunction()) if hasattr(o, "FusedActivationFunction") \
        else {}
    attrs = {"strides": strides, "pads": tuple(pads_b + pads_e), "output_padding": tuple(extra),
             **(act or {})}
    t = op.out_tensor()
    y = imp.b.nchw_op("ConvTranspose", x, [wt, _bias(op, 3)], attrs, label=op.label,
                      quant=t.quant, name=t.name)
    if act is None:
        y = imp.activation(op, y, o.FusedActivationFunction())
    return y


def transpose_conv_bias(imp, op):
    """MediaPipe's custom Convolution2DTransposeBias: TRANSPOSE_CONV plus a bias, without the
    output-shape input. Inputs: NHWC data, OHWI weights, bias; custom options: int32 padding
    (1 SAME, 2 VALID), stride_w, stride_h. SAME pads k - (n - 1) % s - 1 in total (at least 0),
    half of it (rounded down) before; the output is s * (n - 1) + k minus that total."""
    raw = op.op.CustomOptionsAsNumpy().tobytes() if op.op.CustomOptionsLength() else b""
    if len(raw) < 12:
        raise ConversionError(f"custom options hold {len(raw)} bytes, not padding, stride_w, "
                              "stride_h (3 int32)", False)
    padding, sw, sh = struct.unpack("<iii", raw[:12])
    if padding not in (1, 2) or sw < 1 or sh < 1:
        raise ConversionError(f"custom options padding={padding}, stride_w={sw}, stride_h={sh} "
                              "are not (1 SAME or 2 VALID, positive strides)", False)
    x = op.input(0)
    if quant_of(x) is not None or len(shape_of(x)) != 4 or len(op.tensor(1).shape) != 4:
        raise ConversionError("Convolution2DTransposeBias takes a float NHWC input and OHWI "
                              "weights (as MediaPipe's kernel)")
    _, h, w, _ = shape_of(x)
    _, kh, kw, _ = op.tensor(1).shape
    begin, end = [], []
    for n, s, k in ((h, sh, kh), (w, sw, kw)):
        total = max(0, k - (n - 1) % s - 1) if padding == 1 else 0
        begin.append(total // 2)
        end.append(total - total // 2)
    t = op.out_tensor()
    return imp.b.nchw_op("ConvTranspose", x, [_weights(imp, op, 1, (3, 0, 1, 2), {0: 1}),
                                              op.input(2)],
                         {"strides": (sh, sw), "pads": tuple(begin + end)}, label=op.label,
                         name=t.name)


def fully_connected(imp, op):
    o = op.options(tflite.FullyConnectedOptions)
    x = op.input(0)
    wshape = op.tensor(1).shape
    k = wshape[1]
    xs = shape_of(x)
    rows = int(np.prod(xs)) // k
    q_in = quant_of(x)
    if xs != (rows, k):
        x = imp.b.emit("Reshape", [x], {"shape": (rows, k)}, label=op.label, quant=q_in)
    wt = _weights(imp, op, 1, (0, 1), {0: 0})
    act = fused_attrs(o.FusedActivationFunction()) if o is not None else {}
    y = imp.emit(op, "Gemm", [x, wt, _bias(op, 2)], {"transB": True, **(act or {})})
    if act is None:
        y = imp.activation(op, y, o.FusedActivationFunction())
    # not the output tensor's stored shape: with a dynamic batch it holds 1 for -1
    want = tuple(xs[:-1]) + (wshape[0],) if (o is not None and o.KeepNumDims()) \
        else (rows, wshape[0])
    if shape_of(y) != tuple(want):
        y = imp.emit(op, "Reshape", [y], {"shape": tuple(want)})
    return y


def _binary(core):
    def convert(imp, op):
        cls = {"Add": tflite.AddOptions, "Sub": tflite.SubOptions, "Mul": tflite.MulOptions,
               "Div": tflite.DivOptions}.get(core)
        o = op.options(cls) if cls else None
        fused = o.FusedActivationFunction() if o is not None else _ACT.NONE
        a, b = op.input(0), op.input(1)
        y = imp.emit(op, core, [a, b])
        return imp.activation(op, y, fused)
    return convert


def _pool(core):
    def convert(imp, op):
        o = op.options(tflite.Pool2DOptions, required=True)
        x = op.input(0)
        _, h, w, _ = nhwc_shape(x)
        k = (o.FilterHeight(), o.FilterWidth())
        s = (o.StrideH(), o.StrideW())
        attrs = {"kernel_shape": k, "strides": s,
                 "pads": tf_pads(_padding(o), (h, w), k, s, (1, 1))}
        t = op.out_tensor()
        y = imp.b.nchw_op(core, x, [], attrs, label=op.label, quant=t.quant, name=t.name)
        return imp.activation(op, y, o.FusedActivationFunction())
    return convert


def _reduce(core):
    def convert(imp, op):
        o = op.options(tflite.ReducerOptions, required=True)
        axes = tuple(op.ints(1, "axes"))
        return imp.emit(op, core, [op.input(0)], {"axes": axes, "keepdims": bool(o.KeepDims())})
    return convert


def _pad(imp, op):
    pads = op.static(1, "paddings").reshape(-1, 2)
    attrs = {"pads": tuple(int(v) for v in pads[:, 0]) + tuple(int(v) for v in pads[:, 1])}
    if op.name == "MIRROR_PAD":
        o = op.options(tflite.MirrorPadOptions, required=True)
        if o.Mode() != tflite.MirrorPadMode.REFLECT:
            return symmetric_pad(imp.b, op.input(0), pads, op.label, quant_of(op.input(0)))
        attrs["mode"] = "reflect"
    elif op.name == "PADV2" and op.has(2):
        v = op.static(2, "constant value").reshape(-1)[0]
        t = op.tensor(2)
        if t.quant is not None:
            v = (float(v) - t.quant.zero_point[0]) * t.quant.scale[0]
        attrs["value"] = float(v)
    return imp.emit(op, "Pad", [op.input(0)], attrs)


def symmetric_pad(b: Builder, x: Handle, pads, label, quant) -> Handle:
    """MirrorPad SYMMETRIC (edge repeated) as reversed slices concatenated around x."""
    for axis, (lo, hi) in enumerate(pads):
        lo, hi = int(lo), int(hi)
        if not lo and not hi:
            continue
        n = shape_of(x)[axis]
        parts = []
        if lo:
            parts.append(b.emit("Slice", [x], {"starts": (lo - 1,), "ends": (-n - 1,),
                                               "axes": (axis,), "steps": (-1,)},
                                label=label, quant=quant))
        parts.append(x)
        if hi:
            parts.append(b.emit("Slice", [x], {"starts": (n - 1,), "ends": (n - hi - 1,),
                                               "axes": (axis,), "steps": (-1,)},
                                label=label, quant=quant))
        x = b.emit("Concat", parts, {"axis": axis}, label=label, quant=quant)
    return x


def concatenation(imp, op):
    o = op.options(tflite.ConcatenationOptions, required=True)
    xs = [op.input(i) for i in range(len(op.in_idx))]
    axis = o.Axis() % len(shape_of(xs[0]))
    y = imp.emit(op, "Concat", xs, {"axis": axis})
    return imp.activation(op, y, o.FusedActivationFunction())


def _new_shape(op, x) -> tuple[int, ...]:
    shape = None
    if op.has(1):
        try:
            shape = op.ints(1, "shape")
        except ConversionError:
            shape = None
    if shape is None:
        o = op.options(tflite.ReshapeOptions)
        if o is not None and o.NewShapeLength():
            shape = [int(v) for v in o.NewShapeAsNumpy()]
    if shape is None:
        shape = list(op.out_tensor().shape)
    size = int(np.prod(shape_of(x)))
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        shape[shape.index(-1)] = size // max(known, 1)
    return tuple(shape)


def reshape(imp, op):
    x = op.input(0)
    return imp.emit(op, "Reshape", [x], {"shape": _new_shape(op, x)})


def shape_op(imp, op):
    """SHAPE: shapes are static after import, so this is a constant (Keras 3 writes reshapes as
    SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE; the chain folds)."""
    return np.array(shape_of(op.input(0)), dtype=op.out_tensor().np_dtype or np.int32)


def pack(imp, op):
    o = op.options(tflite.PackOptions)
    xs = [op.input(i) for i in range(len(op.in_idx))]
    axis = (o.Axis() if o is not None else 0) % (len(shape_of(xs[0])) + 1)
    parts = [imp.b.emit("Unsqueeze", [x], {"axes": (axis,)}, label=op.label, quant=quant_of(x))
             for x in xs]
    return imp.emit(op, "Concat", parts, {"axis": axis})


def squeeze(imp, op):
    o = op.options(tflite.SqueezeOptions)
    x = op.input(0)
    rank = len(shape_of(x))
    axes = [int(a) % rank for a in o.SqueezeDimsAsNumpy()] if o and o.SqueezeDimsLength() \
        else [i for i, d in enumerate(shape_of(x)) if d == 1]
    return imp.emit(op, "Squeeze", [x], {"axes": tuple(axes)})


def expand_dims(imp, op):
    x = op.input(0)
    axis = op.ints(1, "axis", 1)[0]
    axis = axis % (len(shape_of(x)) + 1)
    return imp.emit(op, "Unsqueeze", [x], {"axes": (axis,)})


def transpose(imp, op):
    perm = tuple(op.ints(1, "perm"))
    return imp.emit(op, "Transpose", [op.input(0)], {"perm": perm})


def strided_slice_op(imp, op):
    o = op.options(tflite.StridedSliceOptions, required=True)
    t = op.out_tensor()
    if o.Offset():
        raise ConversionError("StridedSlice with offset=true is not supported")
    return strided_slice(imp.b, op.input(0), op.static(1, "begin"), op.static(2, "end"),
                         op.static(3, "strides"), begin_mask=o.BeginMask(),
                         end_mask=o.EndMask(), ellipsis_mask=o.EllipsisMask(),
                         new_axis_mask=o.NewAxisMask(), shrink_axis_mask=o.ShrinkAxisMask(),
                         label=op.label, quant=t.quant, name=t.name)


def slice_op(imp, op):
    x = op.input(0)
    begin = op.ints(1, "begin")
    size = op.ints(2, "size")
    ends = [d if s == -1 else b + s for b, s, d in zip(begin, size, shape_of(x))]
    return imp.emit(op, "Slice", [x], {"starts": tuple(begin), "ends": tuple(ends)})


def _resize(method):
    def convert(imp, op):
        cls = tflite.ResizeBilinearOptions if method == "bilinear" else \
            tflite.ResizeNearestNeighborOptions
        o = op.options(cls)
        x = op.input(0)
        hw = op.ints(1, "size", 2)
        nchw = tuple(nhwc_shape(x)[i] for i in TO_NCHW)
        attrs = resize_attrs(method, hw, nchw, bool(o and o.AlignCorners()),
                             bool(o and o.HalfPixelCenters()))
        t = op.out_tensor()
        return imp.b.nchw_op("Resize", x, [], attrs, label=op.label, quant=t.quant, name=t.name)
    return convert


def softmax(imp, op):
    o = op.options(tflite.SoftmaxOptions)
    x = op.input(0)
    beta = o.Beta() if o is not None else 1.0
    if beta != 1.0:
        if quant_of(x) is not None:
            raise ConversionError(f"quantized SOFTMAX with beta={beta} is not supported")
        x = imp.b.emit("Mul", [x, np.asarray(beta, np.float32)], label=op.label)
    return imp.emit(op, "Softmax", [x], {"axis": -1})


def _unary(core, attrs_fn=None):
    def convert(imp, op):
        attrs = attrs_fn(op) if attrs_fn else {}
        return imp.emit(op, core, [op.input(0)], attrs)
    return convert


def tile(imp, op):
    reps = tuple(op.ints(1, "multiples"))
    return imp.emit(op, "Tile", [op.input(0)], {"repeats": reps})


def gather(imp, op):
    o = op.options(tflite.GatherOptions)
    x = op.input(0)
    if o is not None and o.BatchDims():
        raise ConversionError("GATHER with batch_dims is not supported")
    axis = (o.Axis() if o is not None else 0) % len(shape_of(x))
    return imp.emit(op, "Gather", [x, op.input(1)], {"axis": axis})


def prelu(imp, op):
    return imp.emit(op, "PRelu", [op.input(0), op.input(1)])


def _space(core):
    def convert(imp, op):
        cls = tflite.DepthToSpaceOptions if core == "DepthToSpace" else tflite.SpaceToDepthOptions
        o = op.options(cls, required=True)
        t = op.out_tensor()
        return imp.b.nchw_op(core, op.input(0), [], {"blocksize": o.BlockSize()},
                             label=op.label, quant=t.quant, name=t.name)
    return convert


def dequantize(imp, op):
    t = op.tensor(0)
    x = op.input(0)
    if isinstance(x, np.ndarray) and x.dtype == np.float16:
        return x.astype(np.float32)
    if isinstance(x, Value) and x.is_constant and t.quant is not None:
        q = t.quant
        shape = [1] * x.type.rank
        if q.axis is not None:
            shape[q.axis] = -1
        s = np.asarray(q.scale, np.float32).reshape(shape)
        zp = np.asarray(q.zero_point, np.int64).reshape(shape if len(q.zero_point) > 1 else ())
        return ((np.asarray(x.const).astype(np.int64) - zp).astype(np.float32) * s)
    if t.quant is None:
        raise ConversionError(f"DEQUANTIZE input '{t.name}' has no quantization params")
    q = t.quant
    return imp.emit(op, "DequantizeLinear", [x], {"scale": q.scale, "zero_point": q.zero_point,
                                                  "axis": q.axis}, quant_from_output=False)


def quantize(imp, op):
    x = op.input(0)
    t = op.out_tensor()
    if t.quant is None:
        raise ConversionError(f"QUANTIZE output '{t.name}' has no quantization params")
    if quant_of(x) is not None:  # requantization int -> int
        if x.dtype.numpy != t.np_dtype:
            raise ConversionError(f"requantizing {x.dtype.value} to {t.type_name} is not "
                                  "supported")
        return imp.emit(op, "Identity", [x])
    q = t.quant
    return imp.emit(op, "QuantizeLinear", [x], {
        "scale": q.scale, "zero_point": q.zero_point, "axis": q.axis,
        "dtype": DType.from_numpy(t.np_dtype), "rounding": "half_away"})  # TfLiteRound


def densify(imp, op):
    t = op.tensor(0)
    if t.data is None or t.sparsity is None:
        raise ConversionError(f"DENSIFY input '{t.name}' is not a sparse constant")
    dense = densify_array(t.data, t.shape, t.sparsity)
    if t.quant is not None:
        return imp.constant(dense, t, t.quant)
    return dense


def _index_vector(dm, which):
    """array_segments / array_indices of a DimensionMetadata (Int32/Uint16/Uint8 vectors)."""
    kind = dm.ArraySegmentsType() if which == "segments" else dm.ArrayIndicesType()
    table = dm.ArraySegments() if which == "segments" else dm.ArrayIndices()
    cls = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
           tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
           tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}[kind]
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return [int(v) for v in vec.ValuesAsNumpy()]


def densify_array(values: np.ndarray, shape, sp) -> np.ndarray:
    """Expand TFLite's sparse tensor format (traversal order, block map, DENSE / SPARSE_CSR
    dimension metadata) to a dense array of `shape`."""
    order = [int(v) for v in sp.TraversalOrderAsNumpy()]
    block_map = [int(v) for v in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else []
    n = len(shape)
    metas = [sp.DimMetadata(i) for i in range(sp.DimMetadataLength())]
    # dense size of every level (original dims in blocked form, then block dims)
    sizes = [0] * len(order)
    for level, dm in enumerate(metas):
        if dm.Format() == tflite.DimensionType.DENSE:
            sizes[order[level]] = dm.DenseSize()
    block_sizes = {block_map[i]: sizes[n + i] for i in range(len(block_map))}
    out = np.zeros(shape, values.dtype)
    coord = [0] * len(order)
    segs = {lv: (_index_vector(dm, "segments"), _index_vector(dm, "indices"))
            for lv, dm in enumerate(metas) if dm.Format() != tflite.DimensionType.DENSE}

    def place(value):
        idx = list(coord[:n])
        for i, d in enumerate(block_map):
            idx[d] = coord[d] * block_sizes[d] + coord[n + i]
        out[tuple(idx)] = value

    def walk(level, pos):
        if level == len(order):
            place(values[pos])
            return
        dm = metas[level]
        if dm.Format() == tflite.DimensionType.DENSE:
            size = dm.DenseSize()
            for i in range(size):
                coord[order[level]] = i
                walk(level + 1, pos * size + i)
        else:
            seg, ind = segs[level]
            for j in range(seg[pos], seg[pos + 1]):
                coord[order[level]] = ind[j]
                walk(level + 1, j)
    walk(0, 0)
    return out


def _clip(lo, hi):
    return _unary("Clip", lambda op: {"min": lo, "max": hi})


CONVERTERS: Registry[Callable] = Registry("TFLite op", {
    "CONV_2D": conv_2d,
    "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "TRANSPOSE_CONV": transpose_conv,
    "CUSTOM:Convolution2DTransposeBias": transpose_conv_bias,
    "FULLY_CONNECTED": fully_connected,
    "ADD": _binary("Add"), "SUB": _binary("Sub"), "MUL": _binary("Mul"), "DIV": _binary("Div"),
    "MAXIMUM": _binary("Max"), "MINIMUM": _binary("Min"),
    "AVERAGE_POOL_2D": _pool("AveragePool"), "MAX_POOL_2D": _pool("MaxPool"),
    "MEAN": _reduce("ReduceMean"), "SUM": _reduce("ReduceSum"), "REDUCE_MAX": _reduce("ReduceMax"),
    "REDUCE_PROD": _reduce("ReduceProd"), "SHAPE": shape_op, "PACK": pack,
    "PAD": _pad, "PADV2": _pad, "MIRROR_PAD": _pad,
    "CONCATENATION": concatenation,
    "RESHAPE": reshape, "SQUEEZE": squeeze, "EXPAND_DIMS": expand_dims, "TRANSPOSE": transpose,
    "STRIDED_SLICE": strided_slice_op, "SLICE": slice_op,
    "RESIZE_BILINEAR": _resize("bilinear"), "RESIZE_NEAREST_NEIGHBOR": _resize("nearest"),
    "SOFTMAX": softmax,
    "LOGISTIC": _unary("Sigmoid"), "TANH": _unary("Tanh"), "RELU": _unary("Relu"),
    "RELU6": _clip(0.0, 6.0), "RELU_N1_TO_1": _clip(-1.0, 1.0),
    "LEAKY_RELU": _unary("LeakyRelu", lambda op: {
        "alpha": op.options(tflite.LeakyReluOptions, required=True).Alpha()}),
    "PRELU": prelu, "HARD_SWISH": _unary("HardSwish"), "ELU": _unary("Elu"),
    "ABS": _unary("Abs"), "NEG": _unary("Neg"),
    "DEPTH_TO_SPACE": _space("DepthToSpace"), "SPACE_TO_DEPTH": _space("SpaceToDepth"),
    "TILE": tile, "GATHER": gather,
    "DEQUANTIZE": dequantize, "QUANTIZE": quantize, "DENSIFY": densify,
}, error=FrontendError)


@guarded
def load(source, *, inputs=None, outputs=None, input_shapes=None, **options) -> Graph:
    """Import a .tflite model (path or bytes) into a Graph.

    inputs / outputs: tensor names at which to cut the model (default: subgraph 0's own).
    input_shapes: shapes for inputs with unknown dims, a dict by name or a list in input order.
    """
    if options:
        raise FrontendError(f"tflite frontend: unknown option(s) {sorted(options)}; it takes "
                            "inputs, outputs, input_shapes")
    if isinstance(source, (bytes, bytearray)):
        buf, label = bytes(source), "<tflite bytes>"
    else:
        label = os.fspath(source)
        try:
            with open(label, "rb") as f:
                buf = f.read()
        except OSError as e:
            raise FrontendError(f"{label}: cannot read: {e.strerror}") from None
    return TFLiteImporter(buf, label, inputs=inputs, outputs=outputs,
                          input_shapes=input_shapes).run()
