"""Ops evaluated at import time only: constants and shape computations. Their results are numpy
arrays that later nodes fold into attributes; none of them reaches the graph as a node."""

from __future__ import annotations

import numpy as np

from ...builder import static_arange, static_full
from ..importer import invalid, onnx_dtype, unsupported
from . import converter

_CONSTANT_FIELDS = {"value": None, "value_float": np.float32, "value_floats": np.float32,
                    "value_int": np.int64, "value_ints": np.int64}


@converter("Constant")
def constant(cx):
    given = [k for k in cx.node.attribute]
    if len(given) != 1:
        raise invalid(f"needs exactly one value attribute, got {[a.name for a in given]}")
    name = given[0].name
    if name not in _CONSTANT_FIELDS:
        raise unsupported(f"attribute {name} is not supported "
                          f"({', '.join(_CONSTANT_FIELDS)})")
    v = cx.attr(name)
    dtype = _CONSTANT_FIELDS[name]
    return np.asarray(v) if dtype is None else np.asarray(v, dtype=dtype)


@converter("ConstantOfShape")
def constant_of_shape(cx):
    shape = cx.static(0, "shape").astype(np.int64).ravel().tolist()
    fill = cx.attr("value")
    fill = np.zeros((1,), np.float32) if fill is None else np.asarray(fill)
    if fill.size != 1:
        raise invalid("value must hold one element")
    return static_full(shape, fill.ravel()[0], fill.dtype, "the result of ConstantOfShape")


@converter("Shape")
def shape(cx):
    dims = np.asarray(cx.shape(cx.input(0)), dtype=np.int64)
    start, end = cx.attr("start", 0), cx.attr("end")
    return dims[start:end].copy()


@converter("Size")
def size(cx):
    return np.asarray(int(np.prod(cx.shape(cx.input(0)))), dtype=np.int64)


@converter("Range")
def range_(cx):
    """Opset 27's stash_type: float16 bounds are stepped in float32 (1, the default) and the
    result rounded to float16; it has no effect on other types."""
    start, limit, delta = (cx.static(i, n).reshape(()) for i, n in
                           enumerate(("start", "limit", "delta")))
    stash = cx.attr("stash_type", 1) if cx.opset >= 27 else None
    if start.dtype == np.float16:
        if stash not in (None, 1):
            raise unsupported(f"stash_type {stash} for float16 bounds is not supported (1: "
                              "float32 steps)")
        wide = [np.float32(v) for v in (start, limit, delta)]
        return static_arange(*wide, "the result of Range", np.float32).astype(np.float16)
    return static_arange(start, limit, delta, "the result of Range", start.dtype)


@converter("NonZero")
def nonzero(cx):
    return np.asarray(np.nonzero(cx.static(0, "the input of NonZero")), dtype=np.int64)


@converter("EyeLike")
def eye_like(cx):
    x = cx.input(0)
    if len(cx.shape(x)) != 2:
        raise invalid("input must be 2-D")
    dtype = cx.attr("dtype")
    dtype = cx.np_dtype(x) if dtype is None else onnx_dtype(dtype)
    return np.eye(*cx.shape(x), k=cx.attr("k", 0), dtype=dtype)


# cosine-sum windows: a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N)
_WINDOWS = {"HannWindow": (0.5, 0.5, 0.0), "HammingWindow": (25 / 46, 21 / 46, 0.0),
            "BlackmanWindow": (0.42, 0.5, 0.08)}


@converter(*_WINDOWS)
def window(cx):
    """N is the size (periodic) or the size - 1 (symmetric); computed in float64."""
    size = cx.optional_scalar(0, "size")
    if size is None or size != int(size) or size < 1:
        raise invalid(f"size must be a positive integer, got {size}")
    dtype = onnx_dtype(cx.attr("output_datatype", 1))
    cx.check_size([int(size)], dtype.itemsize, f"the {cx.op_type}")
    a0, a1, a2 = _WINDOWS[cx.op_type]
    n = int(size) if cx.attr("periodic", 1) else int(size) - 1
    with np.errstate(invalid="ignore"):  # a symmetric window of 1: 0 / 0, NaN as onnxruntime
        t = 2 * np.pi * np.arange(int(size)) / np.float64(n)
    return (a0 - a1 * np.cos(t) + a2 * np.cos(2 * t)).astype(dtype)

