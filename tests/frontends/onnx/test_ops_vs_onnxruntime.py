"""Every op family the ONNX frontend maps, as a one-node ONNX model on hypothesis-drawn shapes and
attributes: imported by npucc and run by the reference interpreter, against onnxruntime.

Shape operands (Reshape shape, Slice starts, Resize scales...) are initializers, as exporters
write them; the data inputs are graph inputs. The one-node model builder and the onnxruntime
runner are the op kernels' oracle helpers (tests/ir/ops/onnx_oracle.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from npucc.frontends.onnx import load, supported_ops
from npucc.ir import run_graph
from tests.ir.ops.onnx_oracle import assert_matches, run_model, single_node_model
from tests.ir.ops.strategies import random_array, seeds

F32 = np.float32


class Case(NamedTuple):
    op: str
    inputs: list  # arrays (None: absent optional input)
    attrs: dict
    inits: frozenset = frozenset()  # indices of inputs that are initializers
    opset: int = 17
    out_dtypes: tuple | None = None  # default: dtype of input 0, one output
    padded: bool = False  # output 0 has a data-dependent row count: npucc's static maximum
    # holds onnxruntime's rows, then rows of -1
    tolerance: tuple | None = None  # (rtol, atol) for every output, integers too
    lowest_is_neg_inf: bool = False  # onnxruntime's float lowest stands for -inf (the spec's)


def _rng(draw):
    return np.random.default_rng(draw(seeds))


def _shape(draw, min_rank=1, max_rank=4, lo=1, hi=5):
    return [draw(st.integers(lo, hi)) for _ in range(draw(st.integers(min_rank, max_rank)))]


def _i64(v):
    return np.asarray(v, np.int64)


UNARY = ["Relu", "Sigmoid", "Tanh", "HardSwish", "Exp", "Log", "Sqrt", "Neg", "Abs",
         "Reciprocal", "Floor", "Ceil", "Round", "Erf", "Sin", "Cos", "Softplus", "Softsign",
         "Sign", "LeakyRelu", "HardSigmoid", "Elu", "Selu", "Mish", "Gelu", "IsNaN", "Identity",
         "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Celu",
         "ThresholdedRelu", "Shrink", "BitwiseNot", "Swish"]


@st.composite
def unary(draw):
    op = draw(st.sampled_from(UNARY))
    x = random_array(_rng(draw), _shape(draw), F32)
    if op in ("Log", "Sqrt"):
        x = np.abs(x) + F32(0.1)
    if op == "BitwiseNot":
        x = random_array(_rng(draw), x.shape, draw(st.sampled_from([np.int32, np.uint8])),
                         low=-100, high=100)
    if op in ("Asin", "Acos", "Atanh"):  # inside the domain, away from the poles of atanh
        x = np.clip(x, -0.99, 0.99).astype(F32)
    if op == "Acosh":
        x = np.abs(x) + F32(1)
    attrs = {}
    if op in ("LeakyRelu", "Elu", "ThresholdedRelu", "Swish"):
        attrs["alpha"] = draw(st.floats(0.0, 2.0))
    if op == "Celu":
        attrs["alpha"] = draw(st.floats(0.1, 2.0))
    if op == "Shrink":
        attrs = {"bias": draw(st.floats(-1.0, 1.0)), "lambd": draw(st.floats(0.0, 1.0))}
    if op == "HardSigmoid":
        attrs = {"alpha": draw(st.floats(0.05, 1.0)), "beta": draw(st.floats(0.0, 1.0))}
    if op == "Gelu":
        attrs["approximate"] = draw(st.sampled_from(["none", "tanh"]))
    opset = {"Gelu": 20, "Mish": 18, "BitwiseNot": 18, "Swish": 24}.get(op, 17)
    return Case(op, [x], attrs, opset=opset, out_dtypes=(np.bool_,) if op == "IsNaN" else None)


def _broadcast_pair(draw):
    out = _shape(draw)
    other = [d if draw(st.booleans()) else 1 for d in out][draw(st.integers(0, len(out))):]
    return (out, other) if draw(st.booleans()) else (other, out)


BINARY = {"Add": F32, "Sub": F32, "Mul": F32, "Div": F32, "Pow": F32, "Max": F32, "Min": F32,
          "PRelu": F32, "Equal": np.int64, "Less": F32, "Greater": F32, "LessOrEqual": F32,
          "GreaterOrEqual": F32, "And": np.bool_, "Or": np.bool_, "Xor": np.bool_,
          "Mod": np.int32, "BitwiseAnd": np.int32, "BitwiseOr": np.int8, "BitwiseXor": np.int64,
          "BitShift": np.uint8}


@st.composite
def binary(draw):
    op = draw(st.sampled_from(sorted(BINARY)))
    rng = _rng(draw)
    a_shape, b_shape = _broadcast_pair(draw)
    if op == "PRelu":  # slope broadcasts to X (unidirectional)
        a_shape, b_shape = (a_shape, b_shape) if len(a_shape) >= len(b_shape) and \
            all(b in (1, a) for a, b in zip(a_shape[::-1], b_shape[::-1])) else (a_shape, [1])
    dtype = BINARY[op]
    a, b = random_array(rng, a_shape, dtype), random_array(rng, b_shape, dtype)
    if op == "Pow":
        a = np.asarray(np.abs(a) + F32(0.5), F32)
    if op in ("Div", "Mod") and dtype != F32:
        b = np.where(b == 0, 3, b).astype(dtype)
    attrs = {"fmod": 1} if op == "Mod" and draw(st.booleans()) else {}
    if op == "BitShift":
        a = rng.integers(0, 256, a_shape).astype(np.uint8)
        b = rng.integers(0, 9, b_shape).astype(np.uint8)
        attrs["direction"] = draw(st.sampled_from(["LEFT", "RIGHT"]))
    boolean = op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")
    inits = frozenset({1}) if draw(st.booleans()) else frozenset()
    return Case(op, [a, b], attrs, inits, out_dtypes=(np.bool_,) if boolean else None,
                opset=18 if op.startswith("Bitwise") else 17)


@st.composite
def variadic(draw):
    op = draw(st.sampled_from(["Sum", "Mean", "Max", "Min"]))
    rng = _rng(draw)
    shape = _shape(draw)
    xs = [random_array(rng, shape[draw(st.integers(0, len(shape))):], F32)
          for _ in range(draw(st.integers(1, 3)))]
    xs[0] = random_array(rng, shape, F32)
    return Case(op, xs, {})


@st.composite
def where(draw):
    rng = _rng(draw)
    a, b = _broadcast_pair(draw)
    return Case("Where", [random_array(rng, a, np.bool_), random_array(rng, b, F32),
                          random_array(rng, a, F32)], {}, out_dtypes=(F32,))


@st.composite
def clip(draw):
    x = random_array(_rng(draw), _shape(draw), F32)
    lo, hi = draw(st.floats(-2, 0)), draw(st.floats(0, 2))
    if draw(st.booleans()):
        return Case("Clip", [x], {"min": lo, "max": hi}, opset=7)
    if draw(st.booleans()):  # min > max too: the spec sets every value to max
        lo, hi = draw(st.floats(-2, 2)), draw(st.floats(-2, 2))
    ins = [x, np.asarray(lo, F32) if draw(st.booleans()) else None,
           np.asarray(hi, F32) if draw(st.booleans()) else None]
    # a bound that is a graph input is computed at run time (Max / Min in npucc)
    inits = frozenset(i for i in (1, 2) if draw(st.booleans()))
    return Case("Clip", ins, {}, inits, opset=13)


def _window(draw, sr, conv=False):
    k = [draw(st.integers(1, 3)) for _ in range(sr)]
    s = [draw(st.integers(1, 3)) for _ in range(sr)]
    d = [draw(st.integers(1, 2)) for _ in range(sr)]
    return k, s, d


def _padding(draw, sr, attrs, allow_auto=True):
    auto = draw(st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]
                                if allow_auto else ["NOTSET"]))
    if auto == "NOTSET":
        attrs["pads"] = [draw(st.integers(0, 2)) for _ in range(2 * sr)]
    else:
        attrs["auto_pad"] = auto
        if auto.startswith("SAME") and "dilations" in attrs:  # onnxruntime: not with dilation
            attrs["dilations"] = [1] * sr
        if auto.startswith("SAME") and "kernel_shape" in attrs:  # onnxruntime: no stride > kernel
            attrs["strides"] = [min(s, k) for s, k in zip(attrs["strides"], attrs["kernel_shape"])]
    return attrs


@st.composite
def conv(draw):
    sr = draw(st.sampled_from([1, 2]))
    k, s, d = _window(draw, sr)
    group = draw(st.integers(1, 2))
    c, m = group * draw(st.integers(1, 3)), group * draw(st.integers(1, 3))
    spatial = [draw(st.integers((kk - 1) * dd + 1, 9)) for kk, dd in zip(k, d)]
    rng = _rng(draw)
    x = random_array(rng, [draw(st.integers(1, 2)), c] + spatial, F32)
    w = random_array(rng, [m, c // group] + k, F32)
    b = random_array(rng, [m], F32) if draw(st.booleans()) else None
    attrs = _padding(draw, sr, {"strides": s, "dilations": d, "group": group})
    return Case("Conv", [x, w, b], attrs, frozenset({1, 2}))


@st.composite
def conv_transpose(draw):
    sr = draw(st.sampled_from([1, 2]))
    k, s, d = _window(draw, sr)
    c, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    spatial = [draw(st.integers(1, 5)) for _ in range(sr)]
    rng = _rng(draw)
    x = random_array(rng, [1, c] + spatial, F32)
    w = random_array(rng, [c, m] + k, F32)
    attrs = {"strides": s, "dilations": d}
    full = [ss * (n - 1) + (kk - 1) * dd + 1 for ss, n, kk, dd in zip(s, spatial, k, d)]
    how = draw(st.sampled_from(["pads", "output_shape", "same"]))
    if how == "pads":
        attrs["pads"] = [draw(st.integers(0, (f - 1) // 2)) for f in full] * 2
        attrs["output_padding"] = [draw(st.integers(0, min(ss, dd) - 1)) for ss, dd in zip(s, d)]
    elif how == "output_shape":
        attrs["output_shape"] = [f + draw(st.integers(-min(f - 1, 2), 0)) for f in full]
    else:  # strides within the kernel extent: beyond it the spec and onnxruntime disagree
        attrs["auto_pad"] = draw(st.sampled_from(["SAME_UPPER", "SAME_LOWER"]))
        attrs["strides"] = [min(ss, (kk - 1) * dd + 1) for ss, kk, dd in zip(s, k, d)]
    return Case("ConvTranspose", [x, w], attrs, frozenset({1}))


@st.composite
def pool(draw):
    """MaxPool (dilated, with its Indices output in either storage_order), AveragePool and
    LpPool, 1-D and 2-D, every padding form and ceil_mode."""
    op = draw(st.sampled_from(["MaxPool", "AveragePool", "LpPool"]))
    sr = draw(st.sampled_from([1, 2]))
    k, s, d = _window(draw, sr)
    if op != "MaxPool":
        d = [1] * sr
    spatial = [draw(st.integers((kk - 1) * dd + 1, 9)) for kk, dd in zip(k, d)]
    x = random_array(_rng(draw), [1, draw(st.integers(1, 3))] + spatial, F32)
    attrs = {"kernel_shape": k, "strides": s}
    if op == "MaxPool":
        attrs["dilations"] = d
    elif op == "AveragePool":
        attrs["count_include_pad"] = int(draw(st.booleans()))
    else:
        attrs["p"] = draw(st.integers(1, 3))
    _padding(draw, sr, attrs)
    if "pads" in attrs:  # pads smaller than the kernel, as ONNX requires
        attrs["pads"] = [min(p, kk - 1) for p, kk in zip(attrs["pads"], k + k)]
        if op != "LpPool":
            attrs["ceil_mode"] = int(draw(st.booleans()))
    if op == "MaxPool" and draw(st.booleans()):  # the Indices output (SegNet's unpooling)
        if draw(st.booleans()):  # ties: the first max in scan order
            x = np.round(x).astype(F32)
        x = np.concatenate([x, x[::-1] * F32(2)])  # batch 2: the indices span N and C
        attrs["storage_order"] = int(draw(st.booleans()))
        return Case(op, [x], attrs, opset=12, out_dtypes=(F32, np.int64))
    return Case(op, [x], attrs)


@st.composite
def global_pool(draw):
    x = random_array(_rng(draw), [1, 2] + _shape(draw, 1, 2), F32)
    op = draw(st.sampled_from(["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"]))
    return Case(op, [x], {"p": draw(st.integers(1, 3))} if op == "GlobalLpPool" else {})


@st.composite
def norm(draw):
    op = draw(st.sampled_from(["BatchNormalization", "InstanceNormalization",
                               "LayerNormalization", "LRN", "GroupNormalization",
                               "LpNormalization", "MeanVarianceNormalization",
                               "RMSNormalization"]))
    rng = _rng(draw)
    shape = [draw(st.integers(1, 2)), draw(st.integers(1, 4))] + _shape(draw, 1, 2)
    x = random_array(rng, shape, F32)
    c = shape[1]
    eps = draw(st.sampled_from([1e-5, 1e-3]))
    if op == "BatchNormalization":
        ins = [x] + [random_array(rng, [c], F32) for _ in range(3)] + \
              [np.abs(random_array(rng, [c], F32)) + F32(0.1)]
        return Case(op, ins, {"epsilon": eps}, frozenset({1, 2, 3, 4}))
    # Normalizing over one element gives variance 0, where onnxruntime's float32 rounding of the
    # mean is amplified by 1/sqrt(epsilon) (up to 316x): require >= 2 normalized elements.
    if op == "InstanceNormalization":
        assume(np.prod(shape[2:]) >= 2)
        return Case(op, [x, random_array(rng, [c], F32), random_array(rng, [c], F32)],
                    {"epsilon": eps}, frozenset({1, 2}))
    if op == "GroupNormalization":  # opset 18: scale and bias per group; 21: per channel
        groups = draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
        assume(np.prod(shape[1:]) // groups >= 2)
        opset = draw(st.sampled_from([18, 21]))
        n = groups if opset == 18 else c
        return Case(op, [x, random_array(rng, [n], F32), random_array(rng, [n], F32)],
                    {"num_groups": groups, "epsilon": eps}, frozenset({1, 2}), opset=opset)
    if op == "LpNormalization":
        if draw(st.booleans()):
            x[:, 0] = 0  # a zero norm along some axes
        return Case(op, [x], {"axis": draw(st.integers(-len(shape), len(shape) - 1)),
                              "p": draw(st.sampled_from([1, 2]))})
    if op == "MeanVarianceNormalization":
        axes = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))
        if len(shape) == 4 and draw(st.booleans()):
            axes = None  # the default, [0, 2, 3]
        # >= 2 elements: over a constant region onnxruntime gives NaN, npucc 0 (the ONNX
        # function body adds 1e-9 to the deviation)
        assume(np.prod([shape[a] for a in axes or [0, 2, 3]]) >= 2)
        return Case(op, [x], {} if axes is None else {"axes": axes}, opset=13)
    if op == "LRN":  # onnxruntime: 4-D only
        x = random_array(rng, shape[:2] + [2, 3], F32)
        return Case(op, [x], {"size": draw(st.sampled_from([1, 3, 5])),
                              "alpha": 1e-3, "beta": 0.75, "bias": 1.0})
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    norm_shape = shape[axis:]
    if op == "RMSNormalization":  # scale broadcasts to the normalized axes
        scale = random_array(rng, norm_shape[draw(st.integers(0, len(norm_shape))):], F32)
        return Case(op, [x, scale], {"axis": axis, "epsilon": eps}, frozenset({1}), opset=23)
    assume(np.prod(norm_shape) >= 2)
    return Case(op, [x, random_array(rng, norm_shape, F32), random_array(rng, norm_shape, F32)],
                {"axis": axis, "epsilon": eps}, frozenset({1, 2}))


@st.composite
def col2im(draw):
    """Col2Im: blocks with strides, dilations and pads (and rows strides leave unread)."""
    k, s, d = _window(draw, 2)
    pads = [draw(st.integers(0, 1)) for _ in range(4)]
    image = [draw(st.integers(max((kk - 1) * dd + 1 - pads[i] - pads[i + 2], 1), 7))
             for i, (kk, dd) in enumerate(zip(k, d))]
    span = [(size + pads[i] + pads[i + 2] - (kk - 1) * dd - 1) // ss + 1
            for i, (size, kk, dd, ss) in enumerate(zip(image, k, d, s))]
    c = draw(st.integers(1, 2))
    x = random_array(_rng(draw), [draw(st.integers(1, 2)), c * k[0] * k[1], span[0] * span[1]],
                     F32)
    return Case("Col2Im", [x, _i64(image), _i64(k)],
                {"strides": s, "dilations": d, "pads": pads}, frozenset({1, 2}), opset=18)


@st.composite
def window(draw):
    """The window generators (constants at import time), periodic and symmetric, f32 and f16
    (a symmetric window of size 1 is NaN in onnxruntime, as 0 / 0)."""
    op = draw(st.sampled_from(["HannWindow", "HammingWindow", "BlackmanWindow"]))
    onnx_type, dtype = draw(st.sampled_from([(1, F32), (10, np.float16)]))
    return Case(op, [np.asarray(draw(st.integers(1, 12)), np.int64)],
                {"periodic": int(draw(st.booleans())), "output_datatype": onnx_type},
                frozenset({0}), opset=17, out_dtypes=(dtype,))


@st.composite
def matmul(draw):
    rng = _rng(draw)
    m, k, n = (draw(st.integers(1, 5)) for _ in range(3))
    if draw(st.booleans()):
        ta, tb = draw(st.integers(0, 1)), draw(st.integers(0, 1))
        a = random_array(rng, [k, m] if ta else [m, k], F32)
        b = random_array(rng, [n, k] if tb else [k, n], F32)
        c = random_array(rng, draw(st.sampled_from([[n], [m, n], [1, n], [m, 1]])), F32)
        attrs = {"transA": ta, "transB": tb, "alpha": draw(st.floats(0.5, 2)),
                 "beta": draw(st.floats(0.5, 2))}
        return Case("Gemm", [a, b, c], attrs, frozenset({1, 2}))
    batch = _shape(draw, 0, 2)
    return Case("MatMul", [random_array(rng, batch + [m, k], F32),
                           random_array(rng, [k, n], F32)], {}, frozenset({1}))


@st.composite
def softmax(draw):
    x = random_array(_rng(draw), _shape(draw), F32)
    opset = draw(st.sampled_from([11, 13]))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    op = draw(st.sampled_from(["Softmax", "LogSoftmax", "Hardmax"]))
    if op == "Hardmax" and draw(st.booleans()):
        x = np.round(x).astype(F32)  # equal maxima: the first one wins
    return Case(op, [x], {"axis": axis}, opset=opset)


@st.composite
def reshape_like(draw):
    rng = _rng(draw)
    shape = _shape(draw)
    x = random_array(rng, shape, F32)
    op = draw(st.sampled_from(["Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                               "CenterCropPad", "Compress"]))
    if op == "CenterCropPad":
        axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                             unique_by=lambda a: a % len(shape)))
        target = [draw(st.integers(1, 7)) for _ in axes]
        return Case(op, [x, _i64(target)], {"axes": axes}, frozenset({1}), opset=18)
    if op == "Compress":
        axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
        n = x.size if axis is None else shape[axis]
        cond = np.asarray(draw(st.lists(st.booleans(), min_size=1, max_size=n)))
        assume(cond.any())
        return Case(op, [x, cond], {} if axis is None else {"axis": axis}, frozenset({1}),
                    opset=11)
    if op == "Reshape":
        target = list(shape)
        if draw(st.booleans()):
            target = [0] * draw(st.integers(0, len(shape))) + [-1]
            target = [d if t == 0 else t for d, t in zip(shape, target)] + target[len(shape):] \
                if len(target) > len(shape) else target
        return Case(op, [x, _i64(target)], {}, frozenset({1}))
    if op == "Flatten":
        return Case(op, [x], {"axis": draw(st.integers(-len(shape), len(shape)))})
    if op == "Transpose":
        return Case(op, [x], {"perm": list(draw(st.permutations(range(len(shape)))))})
    if op == "Squeeze":
        x = x.reshape([1] + shape)
        return Case(op, [x, _i64([0])], {}, frozenset({1}))
    axes = sorted(draw(st.sets(st.integers(-len(shape) - 1, len(shape)), min_size=1,
                               max_size=1)))
    return Case(op, [x, _i64(axes)], {}, frozenset({1}))


@st.composite
def concat_split(draw):
    rng = _rng(draw)
    shape = _shape(draw)
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    if draw(st.booleans()):
        xs = []
        for _ in range(draw(st.integers(1, 3))):
            s = list(shape)
            s[axis] = draw(st.integers(1, 3))
            xs.append(random_array(rng, s, F32))
        return Case("Concat", xs, {"axis": axis})
    x = random_array(rng, shape, F32)
    dim = shape[axis]
    cuts = sorted(draw(st.lists(st.integers(0, dim), max_size=2)))
    sizes = np.diff([0] + cuts + [dim]).tolist()
    return Case("Split", [x, _i64(sizes)], {"axis": axis}, frozenset({1}),
                out_dtypes=(F32,) * len(sizes))


@st.composite
def slice_(draw):
    shape = _shape(draw, hi=7)
    x = random_array(_rng(draw), shape, F32)
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=2,
                         unique_by=lambda a: a % len(shape)))
    starts, ends, steps = [], [], []
    for a in axes:
        n = shape[a]
        step = draw(st.sampled_from([1, 2, -1, -2]))
        starts.append(draw(st.integers(-n - 2, n + 2)))
        # the "to the end" sentinels as exporters write them (onnxruntime deviates from the ONNX
        # reference for INT64_MAX with a negative step)
        ends.append(draw(st.integers(-n - 2, n + 2)) if draw(st.booleans())
                    else 2**63 - 1 if step > 0 else -(2**63))
        steps.append(step)
    return Case("Slice", [x, _i64(starts), _i64(ends), _i64(axes), _i64(steps)], {},
                frozenset({1, 2, 3, 4}))


@st.composite
def pad(draw):
    shape = _shape(draw, 1, 3, lo=2, hi=5)
    x = random_array(_rng(draw), shape, F32)
    mode = draw(st.sampled_from(["constant", "reflect", "edge"]))
    lo = -1 if mode == "constant" else 0
    hi = 1 if mode == "reflect" else 3
    pads = [draw(st.integers(lo, hi)) for _ in range(2 * len(shape))]
    return Case("Pad", [x, _i64(pads), np.asarray(draw(st.floats(-2, 2)), F32)],
                {"mode": mode}, frozenset({1, 2}))


@st.composite
def gather_tile_expand(draw):
    rng = _rng(draw)
    shape = _shape(draw)
    x = random_array(rng, shape, F32)
    op = draw(st.sampled_from(["Gather", "Tile", "Expand", "DepthToSpace", "SpaceToDepth"]))
    if op == "Gather":
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        n = shape[axis]
        idx = rng.integers(-n, n, _shape(draw, 0, 2)).astype(np.int64)
        return Case(op, [x, idx], {"axis": axis}, frozenset({1}) if draw(st.booleans())
                    else frozenset())
    if op == "Tile":
        return Case(op, [x, _i64([draw(st.integers(1, 3)) for _ in shape])], {},
                    frozenset({1}))
    if op == "Expand":
        target = [draw(st.integers(1, 3)) if d == 1 else d for d in shape]
        target = [draw(st.integers(1, 2))] * draw(st.integers(0, 1)) + target
        return Case(op, [x, _i64(target)], {}, frozenset({1}))
    b = draw(st.integers(1, 3))
    if op == "DepthToSpace":
        x = random_array(rng, [1, b * b * draw(st.integers(1, 2)), 2, 3], F32)
        return Case(op, [x], {"blocksize": b, "mode": draw(st.sampled_from(["DCR", "CRD"]))})
    x = random_array(rng, [1, 2, 2 * b, 3 * b], F32)
    return Case(op, [x], {"blocksize": b})


@st.composite
def resize(draw):
    rng = _rng(draw)
    x = random_array(rng, [1, 2, draw(st.integers(1, 5)), draw(st.integers(1, 5))], F32)
    mode = draw(st.sampled_from(["nearest", "linear"]))
    if draw(st.integers(0, 4)) == 0:  # the deprecated forms
        scales = np.asarray([1, 1] + [draw(st.sampled_from([1, 2, 3])) for _ in range(2)], F32)
        if draw(st.booleans()):
            return Case("Upsample", [x, scales], {"mode": mode}, frozenset({1}), opset=9)
        return Case("Resize", [x, scales], {"mode": mode}, frozenset({1}), opset=10)
    coord = draw(st.sampled_from(["half_pixel", "align_corners", "asymmetric",
                                  "pytorch_half_pixel"] +
                                 (["tf_half_pixel_for_nn"] if mode == "nearest" else [])))
    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    if mode == "nearest":
        attrs["nearest_mode"] = draw(st.sampled_from(["round_prefer_floor", "round_prefer_ceil",
                                                      "floor", "ceil"]))
    if draw(st.booleans()):
        sizes = _i64([1, 2, draw(st.integers(1, 9)), draw(st.integers(1, 9))])
        return Case("Resize", [x, None, None, sizes], attrs, frozenset({3}))
    scales = np.asarray([1, 1] + [draw(st.sampled_from([0.5, 1, 2, 3])) for _ in range(2)], F32)
    scales[2:] = [s if (d * s) % 1 == 0 else 1 for s, d in zip(scales[2:], x.shape[2:])]
    return Case("Resize", [x, None, scales], attrs, frozenset({2}))


@st.composite
def reduce_(draw):
    op = draw(st.sampled_from(["ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin",
                               "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
                               "ReduceLogSumExp", "ReduceLogSum", "ArgMax", "ArgMin"]))
    shape = _shape(draw)
    x = random_array(_rng(draw), shape, F32)
    if op == "ReduceLogSum":
        x = np.abs(x) + F32(0.1)
    keep = int(draw(st.booleans()))
    if op in ("ArgMax", "ArgMin"):
        return Case(op, [x], {"axis": draw(st.integers(-len(shape), len(shape) - 1)),
                              "keepdims": keep,
                              "select_last_index": int(draw(st.booleans()))},
                    opset=13, out_dtypes=(np.int64,))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape),
                         unique_by=lambda a: a % len(shape)))
    if op == "ReduceSum" or draw(st.booleans()):  # axes as an input (opset 18 form)
        ins = [x, _i64(axes)] if axes else [x]
        attrs = {"keepdims": keep}
        if draw(st.booleans()):  # torch's exporter writes it, also beside given axes
            attrs["noop_with_empty_axes"] = int(draw(st.booleans()))
        return Case(op, ins, attrs, frozenset({1}), opset=18)
    attrs = {"keepdims": keep, **({"axes": axes} if axes else {})}
    return Case(op, [x], attrs, opset=13)


@st.composite
def cast_quant(draw):
    rng = _rng(draw)
    shape = _shape(draw)
    op = draw(st.sampled_from(["Cast", "QuantizeLinear", "DequantizeLinear"]))
    if op == "Cast":
        to = draw(st.sampled_from([(1, F32), (7, np.int64), (6, np.int32), (10, np.float16),
                                   (9, np.bool_), (2, np.uint8)]))
        x = (random_array(rng, shape, F32) * 4).round()
        if to[1] == np.uint8:
            x = np.abs(x)
        return Case(op, [x], {"to": to[0]}, out_dtypes=(to[1],))
    dtype = draw(st.sampled_from([np.uint8, np.int8]))
    per_axis = draw(st.booleans()) and len(shape) > 1
    n = shape[1] if per_axis else 1
    scale = (np.abs(random_array(rng, [n], F32)) + F32(0.05)) if per_axis else F32(0.1)
    zp = random_array(rng, [n] if per_axis else [], dtype, low=-5, high=5)
    if dtype == np.uint8:
        zp = (zp.astype(np.int32) + 5).astype(np.uint8)
    if op == "QuantizeLinear":
        x = random_array(rng, shape, F32) * 4
        return Case(op, [x, np.asarray(scale), zp], {"axis": 1}, frozenset({1, 2}), opset=13,
                    out_dtypes=(dtype,))
    q = random_array(rng, shape, dtype, low=-100, high=100)
    return Case(op, [q, np.asarray(scale), zp], {"axis": 1}, frozenset({1, 2}), opset=13,
                out_dtypes=(F32,))


@st.composite
def order_scan(draw):
    """TopK (ties broken by the lower index), CumSum, GatherND, GatherElements, ScatterND and
    ScatterElements (what torch's exporter writes for top-k, cumsum, fancy indexing and in-place
    slice assignment)."""
    rng = _rng(draw)
    shape = _shape(draw)
    x = random_array(rng, shape, F32)
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    op = draw(st.sampled_from(["TopK", "CumSum", "CumProd", "GatherND", "GatherElements",
                               "ScatterND", "ScatterElements", "Trilu"]))
    if op == "Trilu":
        x = random_array(rng, [draw(st.integers(1, 5)) for _ in range(draw(st.integers(2, 4)))],
                         F32)
        k = [_i64([draw(st.integers(-4, 4))])] if draw(st.booleans()) else []
        return Case(op, [x, *k], {"upper": int(draw(st.booleans()))}, frozenset({1}), opset=14)
    if op in ("GatherElements", "ScatterElements"):
        n = shape[axis]
        ishape = [draw(st.integers(1, d)) for d in shape]
        if op == "GatherElements":
            idx = rng.integers(-n, n, ishape).astype(np.int64)
            return Case(op, [x, idx], {"axis": axis}, frozenset({1}), opset=13)
        # distinct targets along the axis, so no update lands twice (order-dependent)
        ishape[axis] = draw(st.integers(1, n))
        idx = np.argsort(rng.random([n] + ishape[:axis % len(shape)] + ishape[axis % len(shape)
                                                                           + 1:]), axis=0)
        idx = np.moveaxis(idx[:ishape[axis]], 0, axis % len(shape)).astype(np.int64) - \
            n * draw(st.integers(0, 1))
        upd = random_array(rng, ishape, F32)
        if draw(st.booleans()):  # its opset 9-10 name
            return Case("Scatter", [x, idx, upd], {"axis": axis}, frozenset({1}), opset=10)
        reduction = draw(st.sampled_from(["none", "add", "mul", "max", "min"]))
        return Case(op, [x, idx, upd], {"axis": axis, "reduction": reduction},
                    frozenset({1}), opset=18)
    if op == "ScatterND":
        last = draw(st.integers(1, len(shape)))
        rows = [tuple(int(rng.integers(0, d)) for d in shape[:last])
                for _ in range(draw(st.integers(1, 4)))]
        idx = _i64(sorted(set(rows)))  # distinct rows: no update lands twice
        upd = random_array(rng, [len(idx)] + shape[last:], F32)
        reduction = draw(st.sampled_from(["none", "add", "mul", "max", "min"]))
        return Case(op, [x, idx, upd], {"reduction": reduction}, frozenset({1}), opset=18)
    if op == "TopK":
        if draw(st.booleans()):
            x = np.round(x * 2) / F32(2)  # equal values
        k = draw(st.integers(0, shape[axis]))
        return Case(op, [x, _i64([k])], {"axis": axis, "largest": int(draw(st.booleans())),
                                         "sorted": 1}, frozenset({1}), opset=13,
                    out_dtypes=(F32, np.int64))
    if op in ("CumSum", "CumProd"):
        if draw(st.booleans()):
            x = (x * (10 if op == "CumSum" else 3)).astype(np.int32)
        return Case(op, [x, _i64(axis)], {"exclusive": int(draw(st.booleans())),
                                          "reverse": int(draw(st.booleans()))},
                    frozenset({1}), opset=14 if op == "CumSum" else 26)
    b = draw(st.integers(0, len(shape) - 1))
    last = draw(st.integers(1, len(shape) - b))
    dims = np.asarray(shape[b:b + last])
    lookups = _shape(draw, 0, 2)
    idx = (rng.random(shape[:b] + lookups + [last]) * 2 * dims - dims).astype(np.int64)
    return Case(op, [x, idx], {"batch_dims": b},
                frozenset({1}) if draw(st.booleans()) else frozenset(), opset=13)


EINSUMS = [("ij,jk->ik", [[2, 3], [3, 4]]), ("bij,bjk->bik", [[2, 3, 4], [2, 4, 5]]),
           ("bhqd,bhkd->bhqk", [[1, 2, 3, 4], [1, 2, 5, 4]]), ("ij->ji", [[3, 4]]),
           ("...ij,...jk->...ik", [[2, 3, 3, 4], [2, 3, 4, 2]]), ("ij->", [[3, 4]]),
           ("i,i->", [[5], [5]]), ("ji", [[3, 4]]), ("ii->i", [[3, 3]]),
           ("bchw,bdhw->bcd", [[1, 3, 2, 2], [1, 4, 2, 2]]), ("ij,kj", [[2, 3], [4, 3]])]


@st.composite
def einsum(draw):
    equation, shapes = draw(st.sampled_from(EINSUMS))
    rng = _rng(draw)
    return Case("Einsum", [random_array(rng, s, F32) for s in shapes], {"equation": equation},
                opset=12)


@st.composite
def recurrent(draw, layout: int = 0):
    """LSTM / GRU / RNN: directions, optional bias, states and peepholes, linear_before_reset,
    RNN activations, a full-length sequence_lens. Layout 0 (onnxruntime refuses layout 1; the
    converter's transposes for it are checked against layout 0 below)."""
    rng = _rng(draw)
    op = draw(st.sampled_from(["LSTM", "GRU", "RNN"]))
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    seq, batch, size, hidden = (draw(st.integers(1, 4)) for _ in range(4))
    direction = draw(st.sampled_from(["forward", "reverse", "bidirectional"]))
    d = 2 if direction == "bidirectional" else 1
    x = random_array(rng, [batch, seq, size] if layout else [seq, batch, size], F32)
    state = [batch, d, hidden] if layout else [d, batch, hidden]

    def maybe(shape):
        return random_array(rng, shape, F32) if draw(st.booleans()) else None
    ins = [x, random_array(rng, [d, gates * hidden, size], F32),
           random_array(rng, [d, gates * hidden, hidden], F32), maybe([d, 2 * gates * hidden]),
           np.full(batch, seq, np.int32) if draw(st.booleans()) else None, maybe(state)]
    attrs = {"hidden_size": hidden, "direction": direction, "layout": layout}
    outs = (F32, F32)
    if op == "LSTM":
        ins += [maybe(state), maybe([d, 3 * hidden])]
        outs += (F32,)
    elif op == "GRU":
        attrs["linear_before_reset"] = int(draw(st.booleans()))
    elif draw(st.booleans()):
        attrs["activations"] = [draw(st.sampled_from(["Tanh", "Relu", "Sigmoid"]))] * d
    while ins[-1] is None:
        ins.pop()
    return Case(op, ins, attrs, frozenset(range(1, len(ins))), opset=14, out_dtypes=outs)


@st.composite
def one_hot_reverse(draw):
    """OneHot (negative and out-of-range indices, any axis, float and int indices) and
    ReverseSequence (both axis orders)."""
    rng = _rng(draw)
    if draw(st.booleans()):
        depth = draw(st.integers(1, 5))
        # (indices, depth, values) types onnxruntime implements
        types = draw(st.sampled_from([(np.int64, np.int64, F32), (np.int64, np.int64, np.int64),
                                      (F32, F32, F32), (np.int32, np.int32, F32)]))
        idx = rng.integers(-depth - 1, depth + 1, _shape(draw, 1, 3)).astype(types[0])
        values = random_array(rng, [2], types[2])
        return Case("OneHot", [idx, np.asarray([depth], types[1]), values],
                    {"axis": draw(st.integers(-idx.ndim - 1, idx.ndim))},
                    frozenset({1, 2}) if draw(st.booleans()) else frozenset({1}), opset=11,
                    out_dtypes=(values.dtype,))
    shape = _shape(draw, 2, 4)
    t_axis = draw(st.integers(0, 1))
    lens = rng.integers(1, shape[t_axis] + 1, shape[1 - t_axis]).astype(np.int64)
    return Case("ReverseSequence", [random_array(rng, shape, F32), lens],
                {"time_axis": t_axis, "batch_axis": 1 - t_axis},
                frozenset({1}) if draw(st.booleans()) else frozenset(), opset=10)


def _quantized(rng, shape, dtype, scale_shape=()):
    """(integers, scale, zero point): a scale and zero point per tensor or per index."""
    info = np.iinfo(dtype)
    q = rng.integers(info.min, info.max + 1, shape).astype(dtype)
    scale = (rng.uniform(0.01, 0.1, scale_shape)).astype(F32)
    zp = rng.integers(info.min // 4 + info.max // 4, info.max // 2 + 1, scale_shape).astype(dtype)
    return q, scale, zp


@st.composite
def qoperator(draw):
    """onnxruntime's integer-op formats: QLinearConv, QLinearMatMul (requantized: within one
    step of onnxruntime's integer arithmetic), ConvInteger, MatMulInteger (exact) and
    DynamicQuantizeLinear."""
    rng = _rng(draw)
    op = draw(st.sampled_from(["QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
                               "DynamicQuantizeLinear"]))
    one_step = (0, 1)
    if op == "DynamicQuantizeLinear":
        x = random_array(rng, _shape(draw), F32) * F32(draw(st.sampled_from([1, 10])))
        if draw(st.booleans()):
            x = np.abs(x)  # the range widened to hold 0
        if draw(st.integers(0, 5)) == 0:
            x = np.zeros_like(x)  # an empty range
        return Case(op, [x], {}, opset=11, out_dtypes=(np.uint8, F32, np.uint8),
                    tolerance=(1e-6, 1))
    w_type = draw(st.sampled_from([np.int8, np.uint8]))
    per_channel = op != "ConvInteger" and draw(st.booleans())  # onnxruntime: per tensor
    if op in ("QLinearConv", "ConvInteger"):
        c, m, k = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
        x = _quantized(rng, [1, c, draw(st.integers(k, 6)), draw(st.integers(k, 6))], np.uint8)
        w = _quantized(rng, [m, c, k, k], w_type, [m] if per_channel else [])
        attrs = {"pads": [draw(st.integers(0, k - 1))] * 4,
                 "strides": [draw(st.integers(1, 2))] * 2}
        if op == "ConvInteger":
            return Case(op, [x[0], w[0], x[2], w[2]], attrs, frozenset({1, 2, 3}), opset=10,
                        out_dtypes=(np.int32,))
        if w_type == np.int8:  # onnxruntime: symmetric int8 weights
            w = (w[0], w[1], np.zeros_like(w[2]))
        y = _quantized(rng, [], np.uint8)
        bias = [rng.integers(-1000, 1000, [m]).astype(np.int32)] if draw(st.booleans()) else []
        return Case(op, [*x, *w, y[1] * F32(20), y[2], *bias], attrs,
                    frozenset(range(1, 9)) - {3} | ({3} if draw(st.booleans()) else set()),
                    opset=10, out_dtypes=(np.uint8,), tolerance=one_step)
    m, k, n = (draw(st.integers(1, 5)) for _ in range(3))
    a = _quantized(rng, _shape(draw, 0, 1) + [m, k], np.uint8)
    b = _quantized(rng, [k, n], w_type, [n] if per_channel else [])
    if op == "MatMulInteger":
        return Case(op, [a[0], b[0], a[2], b[2]], {}, frozenset({1, 2, 3}), opset=10,
                    out_dtypes=(np.int32,))
    y = _quantized(rng, [], np.uint8)
    return Case(op, [*a, *b, y[1] * F32(10), y[2]], {}, frozenset(range(1, 8)), opset=10,
                out_dtypes=(np.uint8,), tolerance=one_step)


@st.composite
def roi_align(draw):
    """RoiAlign: rois inside, across and outside the features (and flipped), both coordinate
    modes (opset 10 has only output_half_pixel), avg and max, fixed and adaptive sampling; and
    MaxRoiPool on such rois (some on rounding ties)."""
    rng = _rng(draw)
    n, c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 3)), *(draw(st.integers(1, 6))
                                                                      for _ in range(2))
    x = random_array(rng, [n, c, h, w], F32)
    r = draw(st.integers(1, 4))
    scale = draw(st.sampled_from([1.0, 0.5, 0.25]))
    rois = (rng.uniform(-2, 1.2, (r, 4)) * np.asarray([w, h, w, h]) / scale).astype(F32)
    idx = rng.integers(0, n, r).astype(np.int64)
    if draw(st.integers(0, 3)) == 0:  # MaxRoiPool's rois lead with their batch index
        rois = np.concatenate([idx[:, None].astype(F32), np.round(rois * 2) / 2], axis=1)
        return Case("MaxRoiPool", [x, rois], {"pooled_shape": [draw(st.integers(1, 3)),
                                                               draw(st.integers(1, 3))],
                                              "spatial_scale": scale},
                    frozenset({1}) if draw(st.booleans()) else frozenset())
    opset = draw(st.sampled_from([10, 16]))
    attrs = {"output_height": draw(st.integers(1, 3)), "output_width": draw(st.integers(1, 3)),
             "sampling_ratio": draw(st.integers(0, 2)), "spatial_scale": scale,
             "mode": draw(st.sampled_from(["avg", "max"]))}
    coords = draw(st.sampled_from(["half_pixel", "output_half_pixel"])) if opset == 16 else None
    if coords:
        attrs["coordinate_transformation_mode"] = coords
    if coords == "half_pixel" or draw(st.booleans()):
        # corners in order, as detectors give them (onnxruntime fails on a half_pixel roi of
        # negative size; npucc gives zeros)
        rois = np.concatenate([np.minimum(rois[:, :2], rois[:, 2:]),
                               np.maximum(rois[:, :2], rois[:, 2:])], axis=1)
    return Case("RoiAlign", [x, rois, idx], attrs, frozenset({2}) if draw(st.booleans())
                else frozenset(), opset=opset)


@st.composite
def grid_sample(draw):
    """GridSample: every mode and padding mode, align_corners, locations inside and outside the
    image, some on the pixel grid and on rounding ties (opset 16 and 20 mode names); and
    AffineGrid, which makes the grids of spatial transformers."""
    rng = _rng(draw)
    n, c, h, w = (draw(st.integers(1, 2)), draw(st.integers(1, 2)),
                  draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    out = [n, draw(st.integers(1, 4)), draw(st.integers(1, 4)), 2]
    grid = rng.uniform(-1.6, 1.6, out).astype(F32)
    if draw(st.booleans()):
        grid = (np.round(grid * 8) / 8).astype(F32)
    opset = draw(st.sampled_from([16, 20]))
    mode = draw(st.sampled_from(["linear", "nearest", "cubic"]))
    if opset == 16:
        mode = {"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode)
    padding = draw(st.sampled_from(["zeros", "border", "reflection"]))
    align = draw(st.integers(0, 1))
    assume(not (padding == "reflection" and align and min(h, w) == 1))  # reflects in 0 width
    if draw(st.integers(0, 3)) == 0:  # AffineGrid makes such grids
        assume(not (align and min(h, w) == 1))  # the ONNX reference and onnxruntime disagree
        theta = random_array(rng, [n, 2, 3], F32)
        return Case("AffineGrid", [theta, _i64([n, c, h, w])], {"align_corners": align},
                    frozenset({1}), opset=20)
    return Case("GridSample", [random_array(rng, [n, c, h, w], F32), grid],
                {"mode": mode, "padding_mode": padding, "align_corners": align},
                frozenset({1}) if draw(st.booleans()) else frozenset(), opset=opset)


@st.composite
def non_max_suppression(draw):
    """Boxes on a small grid (overlaps, equal IoUs, flipped corners, empty boxes) with scores
    from a few levels (ties), both box formats, thresholds hit exactly, several batches and
    classes, max_output absent, small, or INT64_MAX as exporters write it."""
    rng = _rng(draw)
    b, c, n = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 8))
    center = draw(st.integers(0, 1))
    boxes = rng.integers(0, 5, (b, n, 4)).astype(F32)
    if center:
        boxes[..., :2] /= 2
    scores = (rng.integers(0, 5, (b, c, n)) / 4).astype(F32)
    max_out = draw(st.sampled_from([None, 0, 1, 2, 3, n + 1, 2**63 - 1]))
    iou = draw(st.sampled_from([None, 0.0, 0.25, 1 / 3, 0.5, 0.7, 1.0]))
    score = draw(st.sampled_from([None, 0.0, 0.25, 0.5]))
    ins = [boxes, scores] + [None if v is None else np.asarray([v], dt) for v, dt in
                             ((max_out, np.int64), (iou, F32), (score, F32))]
    while ins[-1] is None:
        ins.pop()
    return Case("NonMaxSuppression", ins, {"center_point_box": center},
                frozenset(range(2, len(ins))), opset=draw(st.sampled_from([10, 11])),
                out_dtypes=(np.int64,), padded=True)


@st.composite
def attention(draw):
    """Attention (opsets 23-25): 3-D and 4-D Q, K, V, grouped heads (MHA, GQA, MQA), cross
    attention, a bool or float mask (broadcast over batch and heads), is_causal, a past
    key/value cache and present outputs, scale, softcap, nonpad_kv_seqlen (24), sliding windows
    (25) and every qk_matmul_output_mode; query rows with every key masked too (0 in the spec
    and onnxruntime). A mask shorter than the keys (onnxruntime refuses it) is checked against
    the ONNX reference in test_transformer_and_signal_ops.py. onnxruntime writes some masked
    scores of mode 2 as the lowest float where the spec has -inf. Tolerance 1e-4 relative,
    1e-5 absolute: the float order of the scaled matmuls and of the softmax differs from
    onnxruntime's."""
    rng = _rng(draw)
    opset = draw(st.sampled_from([23, 24, 25]))
    b, sq = draw(st.integers(1, 2)), draw(st.integers(1, 4))
    hkv = draw(st.integers(1, 2))
    hq = hkv * draw(st.sampled_from([1, 2, 3]))
    d, dv = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    skv = draw(st.integers(1, 4))
    past = draw(st.sampled_from([0, 0, 1, 3]))
    total = past + skv
    rank = draw(st.sampled_from([3, 4]))
    q = random_array(rng, [b, hq, sq, d], F32)
    k = random_array(rng, [b, hkv, skv, d], F32)
    v = random_array(rng, [b, hkv, skv, dv], F32)
    attrs = {}
    if rank == 3:
        q, k, v = (a.transpose(0, 2, 1, 3).reshape(a.shape[0], a.shape[2], -1) for a in (q, k, v))
        attrs.update(q_num_heads=hq, kv_num_heads=hkv)
    causal = draw(st.booleans())
    if causal:
        attrs["is_causal"] = 1
        # onnxruntime lets a single query with a cache see every key; the spec (and npucc)
        # only keys j <= past: they agree when the step brings one key too
        assume(not (past and sq == 1 and skv > 1))
    if draw(st.booleans()):
        attrs["scale"] = draw(st.floats(0.1, 2.0))
    if draw(st.booleans()):
        attrs["softcap"] = draw(st.floats(0.5, 5.0))
    nonpad = None
    if opset >= 24 and not past and draw(st.integers(0, 3)) == 0:
        assume(not causal or sq <= skv)
        nonpad = rng.integers(sq if causal else 1, skv + 1, [b]).astype(np.int64)
    if opset >= 25 and draw(st.booleans()):
        attrs["left_window_size"] = draw(st.integers(-1, 3))
        attrs["right_window_size"] = draw(st.integers(-1, 3))
    mask = None
    if draw(st.booleans()):
        mshape = [b, hq, sq, total][draw(st.integers(0, 2)):]
        # onnxruntime broadcasts the batch and head axes only, not the query axis
        mshape = [dd if draw(st.booleans()) else 1 for dd in mshape[:-2]] + mshape[-2:]
        if draw(st.booleans()):
            mask = rng.random(mshape) < 0.7
        else:
            mask = random_array(rng, mshape, F32)
    mode = draw(st.sampled_from([None, 0, 1, 2, 3]))
    n_out = 1
    ins = [q, k, v, mask]
    if past:
        ins += [random_array(rng, [b, hkv, past, d], F32),
                random_array(rng, [b, hkv, past, dv], F32)]
        n_out = 3
    elif draw(st.booleans()):
        n_out = 3  # present key / value without a cache: K and V as 4-D
    if nonpad is not None:
        ins += [None] * (6 - len(ins)) + [nonpad]
        n_out = 1
    if mode is not None and nonpad is None:  # (the outputs would skip present key / value)
        attrs["qk_matmul_output_mode"] = mode
        n_out = 4
    while ins[-1] is None:
        ins.pop()
    inits = frozenset({6}) if nonpad is not None and draw(st.booleans()) else frozenset()
    return Case("Attention", ins, attrs, inits, opset=opset, out_dtypes=(F32,) * n_out,
                tolerance=(1e-4, 1e-5), lowest_is_neg_inf=True)


@st.composite
def rotary_embedding(draw):
    """RotaryEmbedding (opset 23): 3-D (num_heads) and 4-D input, halves and interleaved pairs,
    full and partial rotary_embedding_dim, caches indexed by position_ids (a run-time input or
    an initializer) or given per token."""
    rng = _rng(draw)
    b, s, h = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    d = 2 * draw(st.integers(1, 4))
    rot = draw(st.sampled_from([0, d, 2 * draw(st.integers(1, d // 2))]))
    half = (rot or d) // 2
    x = random_array(rng, [b, h, s, d], F32)
    attrs = {"interleaved": draw(st.integers(0, 1))}
    if rot:
        attrs["rotary_embedding_dim"] = rot
    if draw(st.booleans()):
        x = x.transpose(0, 2, 1, 3).reshape(b, s, h * d)
        attrs["num_heads"] = h
    if draw(st.booleans()):
        positions = draw(st.integers(s, 8))
        angles = rng.uniform(-3, 3, [positions, half])
        pos = rng.integers(0, positions, [b, s]).astype(np.int64)
        ins = [x, np.cos(angles).astype(F32), np.sin(angles).astype(F32), pos]
        inits = frozenset({1, 2}) | (frozenset({3}) if draw(st.booleans()) else frozenset())
    else:
        angles = rng.uniform(-3, 3, [b, s, half])
        ins = [x, np.cos(angles).astype(F32), np.sin(angles).astype(F32)]
        inits = frozenset({1, 2}) if draw(st.booleans()) else frozenset()
    return Case("RotaryEmbedding", ins, attrs, inits, opset=23)


@st.composite
def spectral(draw):
    """DFT (opset 17: axis attribute; 20: axis input), real and complex input, forward and
    inverse, onesided (RFFT, IRFFT), dft_length absent, shorter or longer than the axis; STFT
    (with or without window and frame_length, onesided); MelWeightMatrix (folded at import).
    Tolerance 1e-4 relative, 1e-4 absolute: npucc transforms in float64, onnxruntime in float32
    sums of up to 16 terms."""
    rng = _rng(draw)
    op = draw(st.sampled_from(["DFT", "DFT", "STFT", "MelWeightMatrix"]))
    tol = (1e-4, 1e-4)
    if op == "MelWeightMatrix":
        rate = draw(st.integers(100, 48000))
        hi = draw(st.floats(0, rate / 2))
        lo = draw(st.floats(0, hi))
        ins = [_i64(draw(st.integers(1, 40))), _i64(draw(st.integers(4, 512))), _i64(rate),
               np.asarray(lo, F32), np.asarray(hi, F32)]
        return Case(op, ins, {}, frozenset(range(5)), out_dtypes=(F32,))
    if op == "STFT":
        length = draw(st.integers(2, 16))
        signal = random_array(rng, [draw(st.integers(1, 2)), draw(st.integers(length, 24)),
                                    draw(st.sampled_from([1, 2]))], F32)
        onesided = int(signal.shape[-1] == 1 and draw(st.booleans()))
        window = random_array(rng, [length], F32) if draw(st.booleans()) else None
        frame_length = _i64(length) if window is None or draw(st.booleans()) else None
        ins = [signal, _i64(draw(st.integers(1, 5))), window, frame_length]
        while ins[-1] is None:
            ins.pop()
        inits = frozenset({1, 3}) | (frozenset({2}) if draw(st.booleans()) else frozenset())
        return Case(op, ins, {"onesided": onesided}, inits, tolerance=tol)
    shape = _shape(draw, 1, 3, 1, 6)
    x = random_array(rng, shape + [draw(st.sampled_from([1, 2]))], F32)
    rank = x.ndim
    axis = draw(st.integers(-rank, rank - 2))
    assume(axis != -1)
    inverse, onesided = draw(st.integers(0, 1)), draw(st.integers(0, 1))
    if onesided and not inverse:  # RFFT: real input
        x = x[..., :1].copy()
    if onesided and inverse:  # IRFFT: complex input
        assume(x.shape[-1] == 2)
    n = draw(st.sampled_from([None, None, 1, 2, 5, 8, 9]))
    if onesided and inverse:  # n must fit the bins (npucc refuses others: see the converter)
        assume(x.shape[axis] > 1 if n is None else n // 2 + 1 == x.shape[axis])
    opset = draw(st.sampled_from([17, 20]))
    attrs = {"inverse": inverse, "onesided": onesided}
    ins = [x, None if n is None else _i64(n)]
    if opset == 17:
        attrs["axis"] = axis
        if axis < 0 and draw(st.booleans()):
            attrs["axis"] = axis + rank
    else:
        ins.append(_i64(axis))
    while ins[-1] is None:
        ins.pop()
    return Case("DFT", ins, attrs, frozenset({1, 2}), opset=opset, tolerance=tol)


@st.composite
def unpool_det_deform(draw):
    """MaxUnpool on the Indices of an onnxruntime MaxPool (overlapping windows too; npucc's own
    MaxPool Indices are in the pool family and test_transformer_and_signal_ops.py), with and
    without output_shape (the pooled input's shape, odd sizes included); Det of f32 matrices
    (batched, 1x1 to 4x4; tolerance 1e-4 relative / 1e-5 absolute: LU order differs);
    DeformConv (2-D: groups, offset groups, bias, mask, strides, pads, dilations, offsets
    reaching outside the image; tolerance 1e-4 / 1e-4, float64 against float32 sums); BitCast
    between same-width types (opset 26)."""
    rng = _rng(draw)
    op = draw(st.sampled_from(["MaxUnpool", "Det", "DeformConv", "BitCast"]))
    if op == "BitCast":
        src, dst = draw(st.sampled_from([(F32, np.int32), (np.int32, F32), (np.int8, np.uint8),
                                         (np.uint8, np.int8), (np.float16, np.int16),
                                         (np.int16, np.float16), (np.int64, np.int64)]))
        x = random_array(rng, _shape(draw), src, low=-100, high=100)
        if src == np.int32:  # no NaN bit patterns (NaN payloads need not survive)
            x = (x & 0x3FFFFFFF).astype(np.int32)
        if src == np.int16:
            x = (x & 0x3BFF).astype(np.int16)
        from tests.ir.ops.onnx_oracle import onnx_type
        return Case(op, [x], {"to": onnx_type(dst)}, opset=26, out_dtypes=(dst,))
    if op == "Det":
        m = draw(st.integers(1, 4))
        x = random_array(rng, _shape(draw, 0, 2) + [m, m], F32)
        return Case(op, [x], {}, opset=draw(st.sampled_from([11, 22])), tolerance=(1e-4, 1e-5))
    if op == "DeformConv":
        og, g = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        c = og * g * draw(st.integers(1, 2))
        m = g * draw(st.integers(1, 2))
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        strides = [draw(st.integers(1, 2)) for _ in range(2)]
        dil = [draw(st.integers(1, 2)) for _ in range(2)]
        pads = [draw(st.integers(0, 1)) for _ in range(4)]
        h = draw(st.integers((kh - 1) * dil[0] + 1, 6))
        w = draw(st.integers((kw - 1) * dil[1] + 1, 6))
        n = draw(st.integers(1, 2))
        oh = (h + pads[0] + pads[2] - (kh - 1) * dil[0] - 1) // strides[0] + 1
        ow = (w + pads[1] + pads[3] - (kw - 1) * dil[1] - 1) // strides[1] + 1
        x = random_array(rng, [n, c, h, w], F32)
        wt = random_array(rng, [m, c // g, kh, kw], F32)
        offset = (rng.uniform(-2.5, 2.5, [n, og * kh * kw * 2, oh, ow])).astype(F32)
        bias = random_array(rng, [m], F32) if draw(st.booleans()) else None
        mask = rng.uniform(0, 1, [n, og * kh * kw, oh, ow]).astype(F32) \
            if draw(st.booleans()) else None
        ins = [x, wt, offset, bias, mask]
        while ins[-1] is None:
            ins.pop()
        attrs = {"strides": strides, "dilations": dil, "pads": pads, "group": g,
                 "offset_group": og}
        if draw(st.booleans()):
            attrs["kernel_shape"] = [kh, kw]
        return Case(op, ins, attrs, frozenset({1, 3}), opset=draw(st.sampled_from([19, 22])),
                    tolerance=(1e-4, 1e-4))
    sr = draw(st.sampled_from([1, 2]))
    k = [draw(st.integers(1, 3)) for _ in range(sr)]
    s = [draw(st.integers(1, 3)) for _ in range(sr)]
    spatial = [draw(st.integers(kk, 7)) for kk in k]
    with_shape = draw(st.booleans())
    if not with_shape:  # the shape MaxUnpool computes must be the pooled input's
        spatial = [(sp - kk) // ss * ss + kk for sp, kk, ss in zip(spatial, k, s)]
    x = random_array(rng, [draw(st.integers(1, 2)), draw(st.integers(1, 3))] + spatial, F32)
    pool = single_node_model("MaxPool", [x], {"kernel_shape": k, "strides": s},
                             (F32, np.int64), opset=12)
    pooled, idx = run_model(pool, {"in0": x})
    attrs = {"kernel_shape": k, "strides": s}
    ins = [pooled, idx]
    if with_shape:
        ins.append(_i64(x.shape))
    return Case(op, ins, attrs, frozenset({2}) if draw(st.booleans()) else frozenset({1, 2}),
                opset=draw(st.sampled_from([11, 22])))


@st.composite
def stateful_sequence(draw):
    """The opset 27 decoding blocks: CausalConvWithState (kernel 2 to 4, with or without bias,
    past_state, silu / swish) and LinearAttention (every update_rule, GQA, past_state, per-head
    or per-key decay, per-head or shared beta, scale; keys L2-normalised as the delta rules
    expect). Tolerance 1e-4 relative, 1e-5 absolute: npucc's recurrence runs in float64,
    onnxruntime's in float32."""
    rng = _rng(draw)
    b, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    if draw(st.booleans()):
        k, length = draw(st.integers(2, 4)), draw(st.integers(1, 6))
        x = random_array(rng, [b, c, length], F32)
        ins = [x, random_array(rng, [c, 1, k], F32),
               random_array(rng, [c], F32) if draw(st.booleans()) else None,
               random_array(rng, [b, c, k - 1], F32) if draw(st.booleans()) else None]
        while ins[-1] is None:
            ins.pop()
        attrs = {}
        if draw(st.booleans()):
            attrs["activation"] = draw(st.sampled_from(["none", "silu", "swish"]))
        return Case("CausalConvWithState", ins, attrs, frozenset({1, 2}), opset=27,
                    out_dtypes=(F32, F32), tolerance=(1e-4, 1e-5))
    t, hkv = draw(st.integers(1, 5)), draw(st.integers(1, 2))
    hq = hkv * draw(st.integers(1, 2))
    dk, dv = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    rule = draw(st.sampled_from(["linear", "gated", "delta", "gated_delta"]))
    key = random_array(rng, [b, t, hkv, dk], F32)
    key = (key / np.linalg.norm(key, axis=-1, keepdims=True)).reshape(b, t, hkv * dk)
    ins = [random_array(rng, [b, t, hq * dk], F32), key.astype(F32),
           random_array(rng, [b, t, hkv * dv], F32),
           random_array(rng, [b, hkv, dk, dv], F32) if draw(st.booleans()) else None, None, None]
    if "gated" in rule:
        ins[4] = -rng.random([b, t, hkv * draw(st.sampled_from([1, dk]))]).astype(F32)
    if "delta" in rule:
        ins[5] = rng.random([b, t, draw(st.sampled_from([1, hkv]))]).astype(F32)
    while ins[-1] is None:
        ins.pop()
    attrs = {"q_num_heads": hq, "kv_num_heads": hkv}
    if rule != "gated_delta" or draw(st.booleans()):
        attrs["update_rule"] = rule
    if draw(st.booleans()):
        attrs["scale"] = draw(st.floats(0.1, 2.0))
    if draw(st.booleans()):
        attrs["chunk_size"] = draw(st.integers(1, 64))
    return Case("LinearAttention", ins, attrs, opset=27, out_dtypes=(F32, F32),
                tolerance=(1e-4, 1e-5))


MS = "com.microsoft."


@st.composite
def dynamic_quantize_lstm(draw):
    """com.microsoft.DynamicQuantizeLSTM: every direction, int8 (zero point 0) or uint8 weights,
    scales and zero points per direction or per gate column (one zero point value throughout:
    onnxruntime requires it), optional B, initial_h,
    initial_c, peepholes, clip, input_forget, full sequence_lens. onnxruntime (one thread)
    quantizes X and each step's hidden state as npucc does and multiplies integers exactly;
    what differs is float rounding of the gates (its sigmoid and tanh are approximations), which
    can move a hidden value across a quantization step at the next step: tolerance 1e-4
    absolute, 1e-3 relative."""
    rng = _rng(draw)
    seq, batch, size, hidden = (draw(st.integers(1, n)) for n in (5, 3, 6, 4))
    direction = draw(st.sampled_from(["forward", "reverse", "bidirectional"]))
    dirs = 2 if direction == "bidirectional" else 1
    w_type = draw(st.sampled_from([np.int8, np.uint8]))
    ins = [random_array(rng, [seq, batch, size], F32)]
    scales, zps = [], []
    for rows in (size, hidden):
        lo, hi = (-128, 127) if w_type == np.int8 else (0, 255)
        ins.append(rng.integers(lo, hi + 1, [dirs, rows, 4 * hidden]).astype(w_type))
        per_col = draw(st.booleans())
        shape = [dirs, 4 * hidden] if per_col else [dirs]
        scales.append((rng.random(shape) * 0.02 + 0.001).astype(F32))
        zps.append(np.zeros(shape, w_type) if w_type == np.int8 else
                   np.full(shape, rng.integers(100, 156), w_type))
    ins.append(random_array(rng, [dirs, 8 * hidden], F32) if draw(st.booleans()) else None)
    ins.append(np.full([batch], seq, np.int32) if draw(st.booleans()) else None)
    for _ in range(2):
        ins.append(random_array(rng, [dirs, batch, hidden], F32) if draw(st.booleans())
                   else None)
    ins.append(random_array(rng, [dirs, 3 * hidden], F32) if draw(st.booleans()) else None)
    ins += [scales[0], zps[0], scales[1], zps[1]]
    attrs = {"hidden_size": hidden, "direction": direction}
    if draw(st.booleans()):
        attrs["clip"] = draw(st.floats(0.5, 3.0))
    if draw(st.booleans()):
        attrs["input_forget"] = draw(st.integers(0, 1))
    if draw(st.booleans()):
        attrs["activations"] = ["Sigmoid", "Tanh", "Tanh"] * dirs
    return Case(MS + "DynamicQuantizeLSTM", ins, attrs,
                frozenset(range(1, len(ins))) - {0, 5, 6}, out_dtypes=(F32, F32, F32),
                tolerance=(1e-3, 1e-4))


@st.composite
def matmul_to_float(draw):
    """com.microsoft.DynamicQuantizeMatMul and MatMulIntegerToFloat: A of rank 2-4 (or 1),
    B int8 / uint8 of rank 2 (or batched, rank 3), a constant or a graph input, K small or
    large enough that the integer sums pass 2**24 (npucc's split MatMul), b_scale a scalar,
    [1] or per column ([N], or [batch, 1, N] for a batched B), b_zero_point absent, per tensor
    or per column, bias absent or present;
    DynamicQuantizeMatMul's A over small, large, non-negative and all-zero ranges;
    MatMulIntegerToFloat's A uint8 or int8 (onnxruntime: int8 A with int8 B only), a_scale
    and a_zero_point (absent or present) scalars or [1], constants or graph inputs.
    onnxruntime quantizes A, accumulates the integers exactly in int32 and computes
    float(acc) * (a_scale * b_scale) + bias in float32, which npucc emulates step for step
    (seen bit-exact); tolerance 1e-6 relative and absolute for a rounding of the final
    multiply-add (a fused one in a vectorized kernel)."""
    rng = _rng(draw)
    op = draw(st.sampled_from(["DynamicQuantizeMatMul", "MatMulIntegerToFloat"]))
    m, n = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    k = draw(st.integers(1, 6)) if draw(st.integers(0, 3)) else draw(st.integers(260, 700))
    batch = _shape(draw, 0, 2, 1, 3)
    a_shape = [k] if draw(st.integers(0, 9)) == 0 else batch + [m, k]
    b_type = draw(st.sampled_from([np.int8, np.uint8]))
    b_shape = [k, n]
    if len(a_shape) == 3 and draw(st.integers(0, 3)) == 0:
        b_shape = [a_shape[0], k, n]  # a batch of B matrices
    info = np.iinfo(b_type)
    b = rng.integers(info.min, info.max + 1, b_shape).astype(b_type)
    column = [n] if len(b_shape) == 2 else [b_shape[0], 1, n]  # per column of each B
    scale_shape = draw(st.sampled_from([[], [1], column]))
    b_scale = np.asarray(rng.random(scale_shape) * 0.05 + 0.001, F32)
    zp_shape = draw(st.sampled_from([None, [], [1], column]))
    b_zp = None if zp_shape is None else \
        np.asarray(rng.integers(info.min, info.max + 1, zp_shape), b_type)
    bias = random_array(rng, [n], F32) if draw(st.booleans()) else None
    b_init = {1} if draw(st.integers(0, 3)) else set()
    if op == "DynamicQuantizeMatMul":
        a = random_array(rng, a_shape, F32) * F32(draw(st.sampled_from([1, 10])))
        if draw(st.booleans()):
            a = np.abs(a)  # the range widened to hold 0
        if draw(st.integers(0, 7)) == 0:
            a = np.zeros_like(a)  # an empty range
        ins = [a, b, b_scale, b_zp, bias]
        inits = frozenset(b_init | {2, 3, 4})
    else:
        a_type = draw(st.sampled_from([np.int8, np.uint8])) if b_type == np.int8 else np.uint8
        a_info = np.iinfo(a_type)
        a = rng.integers(a_info.min, a_info.max + 1, a_shape).astype(a_type)
        a_param_shape = draw(st.sampled_from([[], [1]]))
        a_scale = np.asarray(rng.random(a_param_shape) * 0.05 + 0.001, F32)
        a_zp = None if draw(st.booleans()) else \
            np.asarray(rng.integers(a_info.min, a_info.max + 1, a_param_shape), a_type)
        ins = [a, b, a_scale, b_scale, a_zp, b_zp, bias]
        a_params = set() if draw(st.booleans()) else {2, 4}  # as DynamicQuantizeLinear gives
        inits = frozenset(b_init | {2, 3, 4, 5, 6} - a_params)
    while ins[-1] is None:
        ins.pop()
    return Case(MS + op, ins, {}, frozenset(i for i in inits if i < len(ins)),
                out_dtypes=(F32,), tolerance=(1e-6, 1e-6))


@st.composite
def contrib(draw):
    """onnxruntime's fused float contrib ops: FusedConv (every activation, with and without Z,
    bias, padding, strides, groups), FusedMatMul (alpha, transA, transB, batched and 1-D
    operands), Gelu, BiasGelu, FastGelu (with and without bias), QuickGelu (alpha),
    SkipLayerNormalization / SkipSimplifiedLayerNormalization (every skip shape, beta, bias,
    the optional outputs) and the default-domain
    SimplifiedLayerNormalization (axis, inv_std_var). Tolerance 1e-5: the same float32
    formulas, with onnxruntime's erf / tanh / exp approximations and sums in another order."""
    rng = _rng(draw)
    op = draw(st.sampled_from(["FusedConv", "FusedMatMul", "Gelu", "BiasGelu",
                               "FastGelu", "QuickGelu", "SkipLayerNormalization",
                               "SkipSimplifiedLayerNormalization",
                               "SimplifiedLayerNormalization"]))
    tol = (1e-5, 1e-5)
    if op == "FusedConv":
        g = draw(st.integers(1, 2))
        c, m, k = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2)), draw(st.integers(1, 3))
        x = random_array(rng, [draw(st.integers(1, 2)), c, draw(st.integers(k, 6)),
                               draw(st.integers(k, 6))], F32)
        stride = draw(st.integers(1, 2))
        attrs = {"kernel_shape": [k, k], "pads": [draw(st.integers(0, k - 1))] * 4,
                 "strides": [stride] * 2, "group": g}
        act = draw(st.sampled_from(["", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip",
                                    "HardSigmoid"]))
        if act:
            attrs["activation"] = act
        params = {"LeakyRelu": [draw(st.floats(0.0, 0.5))],
                  "Clip": sorted([draw(st.floats(-1, 1)), draw(st.floats(-1, 1))]),
                  "HardSigmoid": [draw(st.floats(0.1, 0.5)), draw(st.floats(0.0, 1.0))]}
        if act in params:
            attrs["activation_params"] = params[act]
        ins = [x, random_array(rng, [m, c // g, k, k], F32),
               random_array(rng, [m], F32) if draw(st.booleans()) else None]
        if draw(st.booleans()):
            out = [(n + 2 * attrs["pads"][0] - k) // stride + 1 for n in x.shape[2:]]
            ins.append(random_array(rng, [x.shape[0], m, *out], F32))
        while ins[-1] is None:
            ins.pop()
        inits = frozenset({1, 2})
    elif op == "FusedMatMul":
        m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
        batch = _shape(draw, 0, 2, 1, 3)
        ta, tb = draw(st.integers(0, 1)), draw(st.integers(0, 1))
        a = [m, k] if not ta else [k, m]
        b = [k, n] if not tb else [n, k]
        if draw(st.integers(0, 4)) == 0:  # a 1-D operand, no transpose
            ta, a = 0, [k]
        ins = [random_array(rng, batch + a, F32), random_array(rng, b, F32)]
        attrs = {"transA": ta, "transB": tb}
        if draw(st.booleans()):
            attrs["alpha"] = draw(st.floats(-2, 2))
        inits = frozenset({1})
    elif op in ("SkipLayerNormalization", "SkipSimplifiedLayerNormalization"):
        b, s_, h = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(2, 8))
        x = random_array(rng, [b, s_, h], F32)
        skip = random_array(rng, draw(st.sampled_from([[b, s_, h], [1, s_, h], [s_, h]])), F32)
        vec = [random_array(rng, [h], F32) if draw(st.booleans()) else None
               for _ in range(2 if op == "SkipLayerNormalization" else 1)]
        ins = [x, skip, random_array(rng, [h], F32), *vec]
        while ins[-1] is None:
            ins.pop()
        attrs = {"epsilon": draw(st.sampled_from([1e-12, 1e-5, 0.1]))}
        inits = frozenset(range(2, len(ins)))
        # output, or with mean, inv_std_var and the sum (mean: not for the RMS form)
        outs = 1 + draw(st.integers(0, 1)) * 3 * (op == "SkipLayerNormalization")
        return Case(MS + op, ins, attrs, inits, out_dtypes=(F32,) * outs, tolerance=tol)
    elif op == "SimplifiedLayerNormalization":
        shape = _shape(draw, 1, 3, 1, 5)
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        ins = [random_array(rng, shape, F32), random_array(rng, shape[axis:], F32)]
        attrs = {"axis": axis, "epsilon": draw(st.sampled_from([1e-5, 0.1]))}
        return Case(op, ins, attrs, frozenset({1}), opset=17,
                    out_dtypes=(F32,) * draw(st.integers(1, 2)), tolerance=tol)
    else:
        shape = _shape(draw, 1, 3)
        x = random_array(rng, shape, F32) * F32(3)
        bias = random_array(rng, shape[-1:], F32)
        attrs = {}
        if op == "BiasGelu" or (op == "FastGelu" and draw(st.booleans())):
            ins = [x, bias]
        else:
            ins = [x]
        if op == "QuickGelu" and draw(st.booleans()):
            attrs["alpha"] = draw(st.floats(0.5, 2.0))
        inits = frozenset({1})
    return Case(MS + op, ins, attrs, inits, tolerance=tol)


FAMILIES = {"unary": unary(), "binary": binary(), "variadic": variadic(), "where": where(),
            "clip": clip(), "conv": conv(), "conv_transpose": conv_transpose(), "pool": pool(),
            "global_pool": global_pool(), "norm": norm(), "matmul": matmul(),
            "softmax": softmax(), "reshape_like": reshape_like(), "concat_split": concat_split(),
            "slice": slice_(), "pad": pad(), "gather_tile_expand": gather_tile_expand(),
            "resize": resize(), "reduce": reduce_(), "cast_quant": cast_quant(),
            "order_scan": order_scan(), "einsum": einsum(), "recurrent": recurrent(),
            "non_max_suppression": non_max_suppression(), "one_hot_reverse": one_hot_reverse(),
            "qoperator": qoperator(), "roi_align": roi_align(),
            "grid_sample": grid_sample(), "col2im": col2im(), "window": window(),
            "attention": attention(), "rotary_embedding": rotary_embedding(),
            "spectral": spectral(), "unpool_det_deform": unpool_det_deform(),
            "stateful_sequence": stateful_sequence(),
            "dynamic_quantize_lstm": dynamic_quantize_lstm(), "contrib": contrib(),
            "matmul_to_float": matmul_to_float()}


def check_case(case: Case) -> None:
    out_dtypes = case.out_dtypes or (case.inputs[0].dtype,)
    model = single_node_model(case.op, case.inputs, case.attrs, out_dtypes,
                              initializers=case.inits, opset=case.opset)
    feeds = {f"in{i}": a for i, a in enumerate(case.inputs)
             if a is not None and i not in case.inits}
    theirs = run_model(model, feeds)
    if case.lowest_is_neg_inf:
        theirs = [np.where(t == np.finfo(t.dtype).min, -np.inf, t) if t.dtype.kind == "f"
                  else t for t in theirs]
    ours = run_graph(load(model), feeds)
    if case.padded:
        k = len(theirs[0])
        assert len(ours[0]) >= k and (ours[0][k:] == -1).all(), ours[0]
        ours = [ours[0][:k], *ours[1:]]
    assert_matches(ours, theirs, tolerance=case.tolerance)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(deadline=None, max_examples=25)
@given(data=st.data())
def test_onnx_op_through_frontend_matches_onnxruntime(family, data):
    check_case(data.draw(FAMILIES[family], label=family))


def test_families_cover_the_converted_ops():
    """Every ONNX op the frontend converts is drawn by some family above, except the ops that
    only exist at import time (their results are folded, checked by the conformance tests) and
    onnxruntime's com.microsoft QOperator ops (checked in whole models onnxruntime quantized,
    test_qoperator.py); the other com.microsoft ops are drawn (BiasAdd, which onnxruntime runs
    on CUDA only: against numpy below)."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    import_time_only = {"Constant", "ConstantOfShape", "Shape", "Size", "Range", "NonZero",
                        "EyeLike", "Dropout", "CastLike", "Not", "IsInf",
                        # inlined / unrolled: test_import.py, test_control_flow.py
                        "If", "Loop", "Scan",
                        # experimental, opset <= 9 only: test_import.py
                        "ImageScaler"}
    qoperator_ms = {"QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
                    "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat", "QGemm"}
    missing = [op for op in supported_ops() if op not in import_time_only
               and op.removeprefix(MS) not in qoperator_ms
               and f'"{op.removeprefix(MS)}"' not in source]
    assert not missing, f"no hypothesis family draws {missing}"


@settings(deadline=None, max_examples=25)
@given(case=recurrent(layout=1))
def test_batch_first_recurrent_layers_equal_their_layout_0_form(case):
    """layout=1 (batch first) imports as Transposes around the layout-0 layer: the outputs equal
    the layout-0 model's (checked against onnxruntime above) on the transposed data."""
    x, *rest = case.inputs
    to0 = [x.transpose(1, 0, 2)] + [
        a.transpose(1, 0, 2) if i in (5, 6) and a is not None else a   # initial_h / initial_c
        for i, a in enumerate(rest, start=1)]
    outs = (F32,) * len(case.out_dtypes)
    ours = [run_graph(load(single_node_model(case.op, ins, {**case.attrs, "layout": lay}, outs,
                                             initializers=case.inits, opset=14)),
                      {"in0": ins[0]}) for ins, lay in ((case.inputs, 1), (to0, 0))]
    y1, *states1 = ours[0]
    y0, *states0 = ours[1]
    np.testing.assert_array_equal(y1, y0.transpose(2, 0, 1, 3))
    for a, b in zip(states1, states0):
        np.testing.assert_array_equal(a, b.transpose(1, 0, 2))


@settings(deadline=None, max_examples=25)
@given(n=st.integers(1, 2), s=st.integers(1, 3), c=st.integers(1, 6), seed=seeds)
def test_bias_add_is_x_plus_bias_plus_skip(n, s, c, seed):
    """com.microsoft.BiasAdd (no CPU kernel in onnxruntime): X + bias + skip, exactly."""
    rng = np.random.default_rng(seed)
    x, skip = random_array(rng, [n, s, c], F32), random_array(rng, [n, s, c], F32)
    bias = random_array(rng, [c], F32)
    model = single_node_model(MS + "BiasAdd", [x, bias, skip], {}, [F32])
    (y,) = run_graph(load(model), {"in0": x, "in1": bias, "in2": skip})
    np.testing.assert_array_equal(y, x + bias + skip)


@pytest.mark.parametrize("op, ins, attrs, message", [
    ("FusedMatMul", [np.ones((2, 2, 2), F32)] * 2, {"transBatchA": 1}, "transBatchA=1"),
    ("FusedConv", [np.ones((1, 1, 3, 3), F32)] * 2, {"activation": "Elu"}, "activation 'Elu'"),
    ("FusedConv", [np.ones((1, 1, 3, 3), F32)] * 2, {"activation": "Clip"},
     "takes 2 activation_params"),
    ("DynamicQuantizeLSTM", [np.ones((2, 1, 1), F32), np.ones((1, 1, 4), np.int8),
                             np.ones((1, 1, 4), np.int8), None, None, None, None, None,
                             np.ones(1, F32), np.zeros(1, np.int8), np.ones(1, F32),
                             np.zeros(1, np.int8)],
     {"hidden_size": 1, "activations": ["Relu", "Tanh", "Tanh"]}, "activations"),
    ("MatMulIntegerToFloat", [np.ones((2, 3), np.uint8), np.ones((3, 2), np.int8),
                              np.ones(3, F32), np.ones(1, F32)], {}, "a_scale of shape \\[3\\]"),
    ("DynamicQuantizeMatMul", [np.ones((2, 3), F32), np.ones((3, 2), np.int8),
                               np.ones((3, 2), F32)], {}, "b_scale of shape \\[3, 2\\]"),
    ("DynamicQuantizeMatMul", [np.ones((2, 3), F32), np.ones(3, np.int8), np.ones(1, F32)], {},
     "B of rank 1"),
    ("DynamicQuantizeMatMul", [np.ones((2, 2, 3), F32), np.ones((2, 3, 4), np.int8),
                               np.ones(4, F32)], {}, r"b_scale of shape \[4\].*\[2, 1, 4\]"),
    ("MatMulIntegerToFloat", [np.ones((2, 3), np.int32), np.ones((3, 2), np.int8),
                              np.ones(1, F32), np.ones(1, F32)], {}, "A of element type int32"),
])
def test_contrib_forms_not_supported_are_refused_naming_the_node(op, ins, attrs, message):
    from npucc.errors import FrontendError

    model = single_node_model(MS + op, ins, attrs, [F32], initializers=set(range(1, len(ins))))
    with pytest.raises(FrontendError, match=rf"node '{op}_0' \(op {op}.*{message}"):
        load(model)
