"""The `fp16` profile: float16 storage, float32 arithmetic, one rounding per op.

What it emulates: an NPU's float16 mode (RKNN's float_dtype='float16'): weights and activations
are stored as IEEE binary16; convolutions and matrix products multiply float16 operands and
accumulate in float32 (the registry kernels accumulate float16 in float32 and round once); every
other op computes in float32 on the float16 values, and each op's output is rounded to nearest
even float16 (overflow to inf, as the hardware saturates differently per chip). Elementwise
functions (exp, sigmoid...) are float32 evaluations rounded to float16, not a hardware LUT.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Node
from ..ir.ops.elementwise import apply_activation
from ..ir.ops.pool import output_sizes
from ..ir.types import DType
from . import depthwise, jit
from .accumulate import conv_accumulator, matmul_accumulator
from .movement import window_max
from .params import channel_shape
from .profiles import ANY_OP, Kernel, float_kernel, kernel


@kernel("fp16", ANY_OP)
def fp16_kernel(node: Node) -> Kernel:
    """Every op: float16 inputs widened to float32, the registry kernel, outputs typed float16
    rounded to float16."""
    opdef, attrs_ = node.opdef, node.attrs
    widen = [v is not None and v.dtype is DType.f16 for v in node.inputs]
    narrow = [v.dtype is DType.f16 for v in node.outputs]

    def run(args):
        wide = [jit.to_float32(a) if w else a for a, w in zip(args, widen)]
        outs = opdef.evaluate(wide, attrs_)
        return [jit.to_float16(o) if n else o for o, n in zip(outs, narrow)]
    return run


@kernel("fp16", "BitCast")
def fp16_bitcast(node: Node) -> Kernel:
    """BitCast reads its input's bits: the registry kernel on the float16 values as they are
    (widened first, it would read float32 bits: twice as many values)."""
    return float_kernel(node)


@kernel("fp16", "MaxPool")
def fp16_max_pool(node: Node) -> Kernel:
    """MaxPool (one output, 1 or 2 spatial dims): the float32 tap-by-tap maximum over a padded
    copy (movement.window_max; padding is float32's lowest, as in the registry kernel) of the
    widened input; the maximum of float16 values is one of them, so the rounding back is
    exact. The registry kernel's windowed reduction took 24 ms on ResNet-18's stem pool."""
    x, y, at = node.inputs[0], node.outputs[0], node.attrs
    if len(node.outputs) != 1 or x.type.rank not in (3, 4) or x.dtype is not DType.f16 or \
            y.dtype is not DType.f16:
        return fp16_kernel(node)
    run = window_max(x.shape, y.shape[2:], at["kernel_shape"], at["strides"], at["pads"],
                     at["dilations"], fill=np.finfo(np.float32).min, dtype=np.float32)
    return lambda args: [jit.to_float16(run(jit.to_float32(args[0])))]


def _conv_spatial(node: Node) -> tuple[int, ...]:
    x, w, at = node.inputs[0], node.inputs[1], node.attrs
    return tuple(output_sizes(x.shape[2:], w.shape[2:], at["strides"], at["pads"],
                              at["dilations"]))


@kernel("fp16", "Conv", "Gemm", "MatMul")
def fp16_linear(node: Node) -> Kernel:
    """Conv / Gemm / 2-D MatMul with constant float16 weights: float32 products summed by one
    im2col GEMM (the accumulation of `numerics.accumulate`, in a fixed order), bias, fused
    activation and pool in float32, one rounding to float16."""
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    y = node.outputs[0]
    at = node.attrs
    plain = w.is_constant and (b is None or b.is_constant) and x.dtype is DType.f16 and \
        (node.op != "Gemm" or (at["alpha"], at["beta"], at["transA"]) == (1.0, 1.0, False)) and \
        (node.op != "MatMul" or w.type.rank == 2)
    w32 = np.asarray(w.const, np.float32) if w.is_constant else None
    if plain and node.op == "Conv" and depthwise.applies(node, y.shape):
        loop = depthwise.float_depthwise(node, w32, None if b is None else b.const,
                                         at["activation"], at["activation_params"])
        if loop is not None:
            return _compiled_depthwise(loop, y.shape)
    acc = None
    if plain and node.op == "Conv":
        acc = conv_accumulator(node, w32, 0, 0, np.dtype(np.float32), _conv_spatial(node))
    elif plain:
        acc = matmul_accumulator(node, w32.T if at.get("transB") else w32, 0,
                                 np.dtype(np.float32))
    if acc is None:
        return fp16_kernel(node)
    ch = 1 if node.op == "Conv" else -1
    bias = None if b is None else np.asarray(b.const, np.float32).reshape(
        channel_shape(y.type.rank, ch % y.type.rank) if b.type.rank == 1 else b.shape)
    pool = at.get("pool_kernel")
    pooled = window_max((*y.shape[:2], *_conv_spatial(node)), y.shape[2:], pool,
                        at["pool_strides"] or pool, fill=-np.inf, dtype=np.float32) \
        if pool else None

    def run(args):
        z = acc(args[0])  # a buffer of the accumulator's, overwritten by the next run
        if bias is not None:
            z = np.add(z, bias, out=z)
        z = apply_activation(z, at["activation"], at["activation_params"]).astype(
            np.float32, copy=False)
        if pooled is not None:
            z = pooled(z)
        return [jit.to_float16(z)]
    return run


def _compiled_depthwise(loop: depthwise.DepthwiseLoop, shape) -> Kernel:
    """A depthwise Conv as numerics' compiled loop (depthwise.float_depthwise): the float16
    input widened, products of float16 values (exact in float32) summed over the taps in kernel
    order in float32, + bias, clamped, rounded to float16: the general path's bits, without its
    passes over the image per tap."""
    def run(args):
        out = loop(jit.to_float32(args[0]))
        return [jit.to_float16(out).reshape(shape)]
    return run
