"""QuantizeLinear / DequantizeLinear: scale and zero point become attributes of the core ops.

The integer ops of onnxruntime's older quantized formats import onto them: QLinearConv and
QLinearMatMul as DequantizeLinear -> the float op -> QuantizeLinear (the form of a QDQ model);
ConvInteger and MatMulInteger as the float op on the zero-point-shifted integers, cast to int32
(exact: cut by input channel into float32 parts whose sums stay below 2**24, added in int32);
DynamicQuantizeLinear as its formula. The QOperator ops onnxruntime defines in its com.microsoft
domain (QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu, QLinearGlobalAveragePool,
QLinearAveragePool, QLinearConcat, QGemm) the same way as QLinearConv."""

from __future__ import annotations

import numpy as np

from ....ir.types import DType
from ..importer import invalid, ir_dtype, onnx_dtype, unsupported
from . import converter
from .nn import conv_on, pool_on


def _params(cx, x, scale_index: int, zp_index: int, axis: int | None):
    """The core op attributes of the (scale, zero point) inputs of x; a per-axis scale applies
    to `axis` (None: per tensor only)."""
    what = cx.node.input[scale_index]
    scale = cx.static(scale_index, f"the scale {what}").astype(np.float64)
    zp = cx.optional_static(zp_index, f"the zero point of {what}")
    rank = len(cx.shape(x))
    per_axis = scale.ndim == 1 and scale.size > 1
    if scale.ndim > 1 or (per_axis and axis is None):
        raise invalid(f"scale {what} must be a scalar{' or 1-D' if axis is not None else ''}, "
                      f"got shape {list(scale.shape)}")
    return zp, {"scale": scale.ravel().tolist(),
                "zero_point": [0] * scale.size if zp is None else
                zp.astype(np.int64).ravel().tolist(),
                "axis": (axis % rank) if per_axis else None}


@converter("QuantizeLinear")
def quantize(cx):
    if cx.attr("block_size", 0):
        raise unsupported("blocked quantization (block_size) is not supported")
    x = cx.input(0)
    zp, attrs = _params(cx, x, 1, 2, cx.attr("axis", 1))
    cx.ignore("saturate")  # float8 only
    out = cx.attr("output_dtype", 0)
    if out:
        dtype = onnx_dtype(out)
    else:
        dtype = np.dtype(np.uint8) if zp is None else zp.dtype
    return cx.emit("QuantizeLinear", [x], dtype=ir_dtype(dtype, "the quantized type"), **attrs)


@converter("DequantizeLinear")
def dequantize(cx):
    if cx.attr("block_size", 0):
        raise unsupported("blocked quantization (block_size) is not supported")
    x = cx.input(0)
    _, attrs = _params(cx, x, 1, 2, cx.attr("axis", 1))
    return cx.emit("DequantizeLinear", [x], **attrs)


def _dequantize(cx, i: int, axis: int | None = None):
    """Input i (quantized by inputs i+1, i+2) as float."""
    x = cx.input(i)
    _, attrs = _params(cx, x, i + 1, i + 2, axis)
    return cx.emit("DequantizeLinear", [x], **attrs)


def _quantize(cx, y, scale_index: int):
    zp, attrs = _params(cx, y, scale_index, scale_index + 1, None)
    dtype = np.dtype(np.uint8) if zp is None else zp.dtype
    return cx.emit("QuantizeLinear", [y], dtype=ir_dtype(dtype, "the quantized type"), **attrs)


@converter("QLinearConv")
def qlinear_conv(cx):
    """x (0-2), w (3-5, per output channel or tensor), y's params (6, 7), int32 bias (8, in
    scale x_scale * w_scale)."""
    x, w = _dequantize(cx, 0), _dequantize(cx, 3, axis=0)
    b = None
    if cx.has(8):
        x_scale = cx.static(1, "x_scale").astype(np.float64).ravel()
        w_scale = cx.static(4, "w_scale").astype(np.float64).ravel()
        scale = (x_scale * w_scale).tolist()
        b = cx.emit("DequantizeLinear", [cx.input(8)], scale=scale, zero_point=[0] * len(scale),
                    axis=0 if len(scale) > 1 else None)
    return _quantize(cx, conv_on(cx, x, w, b), 6)


@converter("QLinearMatMul")
def qlinear_matmul(cx):
    """a (0-2, per tensor), b (3-5, per tensor or per column), y's params (6, 7)."""
    a, b = _dequantize(cx, 0), _dequantize(cx, 3, axis=-1)
    return _quantize(cx, cx.emit("MatMul", [a, b]), 6)


def _shifted(cx, i: int, zp_index: int, axis: int):
    """Integer input i minus its zero point (input zp_index, if given; one per index of `axis`
    when it has several), as float32 (exact: small integers)."""
    x = cx.emit("Cast", [cx.input(i)], to=DType.f32)
    if not cx.has(zp_index):
        return x
    zp = cx.emit("Cast", [cx.input(zp_index)], to=DType.f32)
    n = int(np.prod(cx.shape(zp)))
    if n > 1:
        shape = [1] * len(cx.shape(x))
        shape[axis] = n
        zp = cx.emit("Reshape", [zp], shape=shape)
    return cx.emit("Sub", [x, zp])


def range_deviation(cx, i: int, zp_index: int) -> float:
    """The largest |x - zero point| input i's integer type allows (against its zero point(s)
    when they are constants, else any value of the type)."""
    info = np.iinfo(cx.np_dtype(cx.input(i)))
    zp = cx.input(zp_index) if cx.has(zp_index) else np.zeros(1)
    if not isinstance(zp, np.ndarray):
        return float(info.max) - float(info.min)
    z = np.asarray(zp, np.float64).reshape(-1)
    return float(max(np.max(np.abs(info.min - z)), np.max(np.abs(info.max - z))))


def _weight_deviation(cx, i: int, zp_index: int, channel_axis: int) -> np.ndarray | None:
    """|w - zw| per element of constant weights (input i) with constant zero point(s), one
    per index of `channel_axis` when several; None otherwise."""
    w = cx.input(i)
    zp = cx.input(zp_index) if cx.has(zp_index) else np.zeros(1)
    if not (isinstance(w, np.ndarray) and isinstance(zp, np.ndarray)):
        return None
    z = np.asarray(zp, np.float64).reshape(-1)
    shape = [1] * w.ndim
    if z.size > 1:
        shape[channel_axis] = z.size
    return np.abs(w.astype(np.float64) - z.reshape(shape))


MAX_PARTS = 1024  # float32 parts of one integer op (a hostile shape could ask for millions)


def exact_parts(w_dev: np.ndarray | None, w_max: float, x_dev: float, w_shape,
                reduce_axis: int, out_axis: int) -> list[tuple[int, int]]:
    """Ranges of the reduction channels (`reduce_axis` of the weights) cutting an integer dot
    product into float32 parts whose partial sums all stay below 2**24, so that each part is
    exact in float32 in any summation order (the parts are then added in int32). Bounded per
    output channel by x_dev * sum |w - zw| (w_dev, constant weights), else by
    x_dev * w_max per product."""
    limit, k = 2.0 ** 24, int(w_shape[reduce_axis])
    if w_dev is None:  # each reduction channel adds at most `per` to every sum
        per = x_dev * w_max * (int(np.prod(w_shape)) // max(1, k * int(w_shape[out_axis])))
        step = int((limit - 1) // per) if per else k
        if step < 1:
            raise unsupported("the sums of one input channel alone can pass 2**24: no exact "
                              "float32 form of this integer op")
        bounds = list(range(0, k, step)) + [k]
    else:  # cumulative bounds per output channel; cut where one of them reaches 2**24
        rest = tuple(a for a in range(w_dev.ndim) if a not in (reduce_axis, out_axis))
        cost = x_dev * np.moveaxis(w_dev.sum(axis=rest), 0 if reduce_axis < out_axis else 1, 0)
        cum = np.cumsum(cost.reshape(k, -1), axis=0)  # integers below 2**53: exact
        bounds = [0]
        while bounds[-1] < k and len(bounds) <= MAX_PARTS:
            start = bounds[-1]
            base = cum[start - 1] if start else 0.0
            over = np.flatnonzero((cum[start:] - base >= limit).any(axis=1))
            end = start + int(over[0]) if over.size else k
            if end == start:
                raise unsupported("the sums of one input channel alone can pass 2**24: no "
                                  "exact float32 form of this integer op")
            bounds.append(end)
    if len(bounds) - 1 > MAX_PARTS:
        raise unsupported(f"an exact float32 form of this integer op needs over {MAX_PARTS} "
                          f"parts ({k} input channels)")
    return list(zip(bounds, bounds[1:]))


def summed_parts(cx, parts, op, x, w, x_axis: int, w_axis: int):
    """op(x, w) in int32: one float32 op per part of the reduction channels, each cast to
    int32 (exact), added."""
    total = None
    for a, b in parts:
        xa, wa = x, w
        if len(parts) > 1:
            xa = cx.emit("Slice", [x], starts=[a], ends=[b], axes=[x_axis])
            wa = cx.emit("Slice", [w], starts=[a], ends=[b], axes=[w_axis])
        y = cx.emit("Cast", [op(xa, wa)], to=DType.i32)
        total = y if total is None else cx.emit("Add", [total, y])
    return total


@converter("ConvInteger")
def conv_integer(cx):
    shape = cx.shape(cx.input(1))
    parts = exact_parts(_weight_deviation(cx, 1, 3, 0), range_deviation(cx, 1, 3),
                         range_deviation(cx, 0, 2), shape, 1, 0)
    if len(parts) > 1 and cx.attr("group", 1) != 1:
        raise unsupported("a grouped ConvInteger whose sums can pass 2**24 (exact only cut by "
                          "input channel into float32 parts, which groups do not allow)")
    return summed_parts(cx, parts, lambda x, w: conv_on(cx, x, w, None),
                         _shifted(cx, 0, 2, 1), _shifted(cx, 1, 3, 0), 1, 1)


@converter("MatMulInteger")
def matmul_integer(cx):
    shape = cx.shape(cx.input(1))
    if len(shape) < 2:
        raise unsupported("MatMulInteger with a 1-D second input")
    w_dev = _weight_deviation(cx, 1, 3, len(shape) - 1)
    if w_dev is not None and w_dev.ndim > 2:  # a batch of matrices: the worst of each entry
        w_dev = w_dev.max(axis=tuple(range(w_dev.ndim - 2)))
    parts = exact_parts(w_dev, range_deviation(cx, 1, 3), range_deviation(cx, 0, 2),
                         shape[-2:], 0, 1)
    return summed_parts(cx, parts, lambda x, w: cx.emit("MatMul", [x, w]),
                         _shifted(cx, 0, 2, -2), _shifted(cx, 1, 3, -1), -1, -2)


def dynamic_quantization(cx, x):
    """x quantized to u8 from its own range, as DynamicQuantizeLinear (and onnxruntime's dynamic
    quantization of activations) does: the range widened to hold 0, scale = (max - min) / 255
    (1 for an all-zero x, as onnxruntime), zero point = saturate(round(-min / scale)),
    q = saturate(round(x / scale) + zero point). Returns (q, zero point, scale) as float32."""
    axes = list(range(len(cx.shape(x))))
    f32 = np.float32
    lo = cx.emit("Min", [cx.emit("ReduceMin", [x], axes=axes, keepdims=False), f32(0)])
    hi = cx.emit("Max", [cx.emit("ReduceMax", [x], axes=axes, keepdims=False), f32(0)])
    scale = cx.emit("Where", [cx.emit("Equal", [hi, lo]), f32(1),
                              cx.emit("Div", [cx.emit("Sub", [hi, lo]), f32(255)])])
    zp = cx.emit("Clip", [cx.emit("Round", [cx.emit("Div", [cx.emit("Neg", [lo]), scale])])],
                 min=0.0, max=255.0)
    q = cx.emit("Clip", [cx.emit("Add", [cx.emit("Round", [cx.emit("Div", [x, scale])]), zp])],
                min=0.0, max=255.0)
    return q, zp, scale


@converter("DynamicQuantizeLinear")
def dynamic_quantize(cx):
    """`dynamic_quantization`, as uint8 y, float32 scale, uint8 zero point."""
    q, zp, scale = dynamic_quantization(cx, cx.input(0))
    return (cx.emit("Cast", [q], to=DType.u8), scale, cx.emit("Cast", [zp], to=DType.u8))


MS = "com.microsoft."  # onnxruntime's contrib-op domain


@converter(MS + "QLinearAdd", MS + "QLinearMul")
def qlinear_binary(cx):
    """A (0-2), B (3-5), C's params (6, 7); numpy broadcasting."""
    core = "Add" if cx.op_type == "QLinearAdd" else "Mul"
    return _quantize(cx, cx.emit(core, [_dequantize(cx, 0), _dequantize(cx, 3)]), 6)


@converter(MS + "QLinearSigmoid", MS + "QLinearLeakyRelu", MS + "QLinearGlobalAveragePool",
           MS + "QLinearAveragePool")
def qlinear_unary(cx):
    """X (0-2), Y's params (3, 4). The pools take NCHW (channels_last is refused)."""
    x = _dequantize(cx, 0)
    if cx.op_type == "QLinearSigmoid":
        y = cx.emit("Sigmoid", [x])
    elif cx.op_type == "QLinearLeakyRelu":
        y = cx.emit("LeakyRelu", [x], alpha=float(cx.attr("alpha", 0.01)))
    else:
        if cx.attr("channels_last", 0):
            raise unsupported(f"{cx.op_type} with channels_last=1 is not supported")
        y = pool_on(cx, x, "AveragePool") if cx.op_type == "QLinearAveragePool" else \
            cx.emit("GlobalAveragePool", [x])
    return _quantize(cx, y, 3)


@converter(MS + "QLinearConcat")
def qlinear_concat(cx):
    """Y's params (0, 1), then (X, scale, zero point) per input; attribute axis."""
    n = len(cx.node.input) - 2
    if n < 3 or n % 3:
        raise invalid(f"takes Y's scale and zero point, then triples (X, scale, zero point); "
                      f"got {len(cx.node.input)} inputs")
    xs = [_dequantize(cx, i) for i in range(2, len(cx.node.input), 3)]
    rank = len(cx.shape(xs[0]))
    axis = int(cx.attr("axis"))
    if not -rank <= axis < rank:
        raise invalid(f"axis {axis} is out of range for rank {rank}")
    return _quantize(cx, cx.emit("Concat", xs, axis=axis % rank), 0)


@converter(MS + "QGemm")
def qgemm(cx):
    """A (0-2), B (3-5, per tensor or per output column), C (6: int32 bias in scale
    a_scale * b_scale), Y's params (7, 8; absent: a float result); alpha, transA, transB."""
    trans_b = int(cx.attr("transB", 0))
    a, b = _dequantize(cx, 0), _dequantize(cx, 3, axis=0 if trans_b else 1)
    c = None
    if cx.has(6):
        scale = (cx.static(1, "a_scale").astype(np.float64).ravel()
                 * cx.static(4, "b_scale").astype(np.float64).ravel()).tolist()
        c = cx.emit("DequantizeLinear", [cx.input(6)], scale=scale,
                    zero_point=[0] * len(scale), axis=None if len(scale) == 1 else
                    len(cx.shape(cx.input(6))) - 1)
    y = cx.emit("Gemm", [a, b] + ([c] if c is not None else []),
                alpha=float(cx.attr("alpha", 1.0)), transA=bool(cx.attr("transA", 0)),
                transB=bool(trans_b))
    return _quantize(cx, y, 7) if cx.has(7) else y
