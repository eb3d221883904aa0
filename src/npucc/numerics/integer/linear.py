"""Conv / ConvTranspose / Gemm / MatMul in the affine and dfp profiles: exact accumulation of
(x - zx) * (w - zw) plus an int32 bias at scale s_x * s_w (int64 at fl_x + fl_w for 16-bit dfp),
the fused activation, the fused max-pool, and one half-to-even requantization per channel."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ...ir.graph import Node
from ...ir.ops.pool import output_sizes
from ..accumulate import constant_weight_gemm, exact_accumulator
from ..depthwise import depthwise_kernel
from ..movement import window_max
from ..params import affine_params, channel_shape, per_tensor, value_range
from ..profiles import Kernel, QuantizedExecutionError, kernel
from .requantize import PROFILES, requantizer, round_to_int

FUSABLE = ("none", "relu", "clip", "leaky_relu", "prelu")  # clamps and sign-split slopes


def limits(node: Node) -> str | None:
    """Fused activations: clamps (relu, clip) and piecewise-linear slopes (leaky_relu, prelu)
    fold into the requantization; sigmoid / hard_swish need their own node. Gemm: alpha = beta =
    1, transA = 0."""
    act = node.attrs.get("activation", "none")
    if act not in FUSABLE:
        return f"fused activation {act} has no integer form (fusable: {', '.join(FUSABLE)})"
    if node.op == "Gemm" and (node.attrs["alpha"] != 1.0 or node.attrs["beta"] != 1.0
                              or node.attrs["transA"]):
        return "a quantized Gemm takes alpha=beta=1 and transA=0"
    if node.attrs.get("pool_kernel") and act in ("leaky_relu", "prelu") and \
            min(node.attrs["activation_params"]) < 0:
        return "a fused max-pool after a decreasing activation (negative slope) does not commute"
    return None


def _activation(node: Node, sy: float, zy: int, lo: int, hi: int, real, bshape):
    """(lo, hi, negative_real) of the fused activation in the output's integers."""
    kind, params = node.attrs.get("activation", "none"), node.attrs.get("activation_params", ())
    if kind == "relu":
        return max(lo, zy), hi, None
    if kind == "clip":
        a, b = params
        if np.isfinite(a):
            lo = max(lo, round_to_int(a, sy, zy))
        if np.isfinite(b):
            hi = min(hi, round_to_int(b, sy, zy))
        return lo, hi, None
    if kind in ("leaky_relu", "prelu"):
        slopes = np.asarray(params, np.float64)
        slopes = slopes.reshape(bshape) if slopes.size > 1 else slopes.reshape(())
        return lo, hi, real * slopes
    return lo, hi, None


def _bias_checked(node: Node, b, sx: float, sw: np.ndarray) -> None:
    if b is None:
        return
    if not b.dtype.is_int:
        raise QuantizedExecutionError(f"{node.describe()}: bias %{b.name} is {b.dtype.value}; "
                                      "a quantized layer takes an integer bias")
    if b.type.quant is not None:
        bs, bz, _ = affine_params(b, "bias", node, allow_dfp=True)
        if np.any(bz) or not np.allclose(bs, sx * sw, rtol=1e-6, atol=0):
            raise QuantizedExecutionError(
                f"{node.describe()}: bias %{b.name} ({b.type}) must have zero point 0 and scale "
                "input scale x weight scale")


def _conv_spatial(node: Node):
    """The conv's spatial output size before its fused pool."""
    x, w, at = node.inputs[0], node.inputs[1], node.attrs
    return tuple(output_sizes(x.shape[2:], w.shape[2:], at["strides"], at["pads"],
                              at["dilations"]))


@attrs.frozen
class LinearParams:
    """What the requantization of a linear node needs, read once from its types: the input's
    and output's zero points, the real factor s_x * s_w / s_y (scalar or shaped `bshape`), the
    output clamp [lo, hi] with the fused activation in it, the negative-side factor of a
    sign-split activation (or None), and the weights' zero point(s) `wz` shaped to broadcast
    against the weights."""

    zx: int
    zy: int
    real: Any
    lo: int
    hi: int
    negative: Any
    wz: Any
    bshape: tuple[int, ...]


def linear_params(node: Node) -> LinearParams:
    problem = limits(node)
    if problem:
        raise QuantizedExecutionError(f"{node.describe()}: {problem}")
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    y = node.outputs[0]
    sx, zx = per_tensor(x, "input", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    sw, zw, w_axis = affine_params(w, "weights", node, allow_dfp=True)
    _bias_checked(node, b, sx, sw)
    ch_axis = y.type.rank - 1 if node.op in ("Gemm", "MatMul") else 1
    bshape = channel_shape(y.type.rank, ch_axis)
    real = (np.float64(sx) * sw / np.float64(sy)).reshape(bshape if sw.size > 1 else ())
    lo, hi, negative = _activation(node, sy, zy, *value_range(y), real, bshape)
    wz = zw.astype(np.float64)
    if w_axis is not None and len(zw) > 1:
        wz = wz.reshape(channel_shape(w.type.rank, w_axis))
    else:
        wz = wz.reshape(()) if np.all(zw == zw.flat[0]) else wz
        wz = wz.reshape(()) if wz.size == 1 else wz
    return LinearParams(zx, zy, real, lo, hi, negative, wz, bshape)


@kernel(PROFILES, "Conv", "ConvTranspose", "Gemm", "MatMul", limits=limits)
def linear(node: Node) -> Kernel:
    x, w = node.inputs[0], node.inputs[1]
    y = node.outputs[0]
    p = linear_params(node)
    zx, zy, real, lo, hi, negative, wz, bshape = attrs.astuple(p, recurse=False)
    if negative is None:
        compiled = depthwise_kernel(node, zx, wz, real, zy, lo, hi)
        if compiled is not None:
            return compiled
    pool = node.attrs.get("pool_kernel")
    gemm = constant_weight_gemm(node, zx, wz, bshape, _conv_spatial(node) if pool else None)
    pooled = _pool(node) if pool and gemm is not None else (lambda acc: acc)
    if gemm is not None:
        blocks = getattr(gemm.accumulate, "blocks", None)
        if blocks is not None and not pool:
            return _blockwise(gemm, blocks, real, negative, zy, lo, hi, y)
        requant = requantizer(real, offset=gemm.offset, bound=gemm.raw_bound, zy=zy, lo=lo,
                              hi=hi, dtype=y.dtype.numpy, negative_real=negative)
        return lambda args: [requant(pooled(gemm.accumulate(args[0])))]

    opdef = node.opdef
    attrs_ = {**node.attrs, "activation": "none", "activation_params": ()}
    acc_dtype = exact_accumulator(node, x, w, zx, wz)
    requant = requantizer(real, zy=zy, lo=lo, hi=hi, dtype=y.dtype.numpy,
                          negative_real=negative)

    def run(args):
        xa, wa = args[0], args[1]
        ba = args[2] if len(args) > 2 else None
        # the registry kernel on exact integers (its fused pool commutes with the monotone
        # requantization and with adding a per-channel bias)
        acc = opdef.kernel(xa.astype(acc_dtype) - acc_dtype.type(zx),
                           wa.astype(acc_dtype) - wz, **attrs_)
        acc = np.rint(acc).astype(np.int64)
        if ba is not None:
            acc = acc + ba.astype(np.int64).reshape(bshape)
        return [requant(acc)]
    return run


def _blockwise(gemm, blocks, real, negative, zy, lo, hi, y) -> Kernel:
    """Requantize each block of channels of the accumulation (depthwise convs) while it is still
    in cache."""
    out = np.empty(y.shape, y.dtype.numpy)

    def part(a, cs):
        return a[:, cs] if np.ndim(a) else a

    requants = {cs.start: requantizer(
        part(real, cs), offset=part(gemm.offset, cs), bound=part(gemm.raw_bound, cs), zy=zy,
        lo=lo, hi=hi, dtype=y.dtype.numpy,
        negative_real=None if negative is None else part(negative, cs)) for _, cs in blocks}

    def finish(where, block):
        cs = where[1]
        dst = out[:, cs]
        requants[cs.start](block.reshape(dst.shape), dst)  # 1-D convs: blocks have a height 1

    def run(args):
        gemm.accumulate(args[0], finish)
        return [out.copy()]
    return run


def _pool(node: Node):
    """The fused max-pool on accumulators: max commutes with the per-channel increasing
    requantization, the offset and the activation, so pooling first is exact and cheaper."""
    at = node.attrs
    kernel_shape = at["pool_kernel"]
    y = node.outputs[0]
    conv_shape = (*y.shape[:2], *_conv_spatial(node))
    return window_max(conv_shape, y.shape[2:], kernel_shape, at["pool_strides"] or kernel_shape,
                      fill=-np.inf, dtype=np.float64)
