"""Converters of convolutions, transposed convolutions, fully connected layers and pools (weights
transposed to the core layout, fused activations as attributes)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import tflite

from ...ir import Value
from ...ir.types import QuantParams
from ..tf_common import (
    ConversionError,
    Handle,
    nhwc_shape,
    quant_of,
    shape_of,
    tf_pads,
)

_PADDING = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
_ACT = tflite.ActivationFunctionType

if TYPE_CHECKING:
    from .importer import TFLiteImporter, _Op


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


class DilatedConv(NamedTuple):
    """SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND as TF writes a
    dilated convolution: one Conv with dilations = block on the first op's input."""
    s2b: _Op
    conv: _Op
    b2s: _Op
    dilations: tuple[int, int]
    pads: tuple[int, int, int, int]


def dilated_conv(imp: TFLiteImporter, op: _Op) -> DilatedConv | None:
    """The dilated-convolution triple `op` belongs to, or None (then each op converts alone).
    It must be exact: the inner conv is VALID with stride 1 and no dilation, each link is read
    only by the next op, the block is 2-D and equal on both sides, and the pads cover the crops
    (the Conv pads are pads - crops)."""
    def first(idx):  # an operator's first input or output tensor (-1: none)
        return idx[0] if len(idx) else -1

    try:
        if op.name == "SPACE_TO_BATCH_ND":
            s2b = op
            conv = imp.sole_reader(first(s2b.out_idx))
            b2s = imp.sole_reader(first(conv.out_idx)) if conv is not None else None
        elif op.name == "BATCH_TO_SPACE_ND":
            b2s = op
            conv = imp.producer(first(b2s.in_idx))
            s2b = imp.producer(first(conv.in_idx)) if conv is not None else None
        else:
            conv = op
            s2b = imp.producer(first(conv.in_idx))
            b2s = imp.sole_reader(first(conv.out_idx))
        if s2b is None or conv is None or b2s is None or s2b.name != "SPACE_TO_BATCH_ND" \
                or b2s.name != "BATCH_TO_SPACE_ND" \
                or conv.name not in ("CONV_2D", "DEPTHWISE_CONV_2D") \
                or imp.sole_reader(first(s2b.out_idx)) is not conv \
                or imp.sole_reader(first(conv.out_idx)) is not b2s:
            return None
        cls = tflite.Conv2DOptions if conv.name == "CONV_2D" else tflite.DepthwiseConv2DOptions
        o = conv.options(cls, required=True)
        block, pads, crops = s2b.ints(1, "block_shape"), s2b.ints(2, "paddings"), \
            b2s.ints(2, "crops")
        if (o.Padding(), o.StrideH(), o.StrideW(), o.DilationHFactor(), o.DilationWFactor()) \
                != (tflite.Padding.VALID, 1, 1, 1, 1) or len(block) != 2 or min(block) < 1 \
                or b2s.ints(1, "block_shape") != block or len(pads) != 4 or len(crops) != 4 \
                or s2b.tensor(0).quant != s2b.out_tensor().quant \
                or conv.out_tensor().quant != b2s.out_tensor().quant:
            return None
        conv_pads = [p - c for p, c in zip(pads, crops)]  # (h begin, h end, w begin, w end)
        if min(conv_pads) < 0 or min(pads) < 0:
            return None
    except ConversionError:
        return None
    h0, h1, w0, w1 = conv_pads
    return DilatedConv(s2b, conv, b2s, (block[0], block[1]), (h0, w0, h1, w1))


def _conv_like(imp, op, kind):
    fold = dilated_conv(imp, op)
    x = op.input(0) if fold is None else fold.s2b.input(0)
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
    if fold is not None:
        dil, pads = fold.dilations, fold.pads
    act = fused_attrs(o.FusedActivationFunction())
    attrs = {"strides": strides, "pads": pads, "dilations": dil, "group": group, **(act or {})}
    t = op.out_tensor() if fold is None else fold.b2s.out_tensor()
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


def _pool(core):
    """MAX_POOL_2D / AVERAGE_POOL_2D, and L2_POOL_2D (core "L2"): sqrt(mean of x^2 over the
    window's inputs)."""
    def convert(imp, op):
        o = op.options(tflite.Pool2DOptions, required=True)
        x = op.input(0)
        _, h, w, _ = nhwc_shape(x)
        k = (o.FilterHeight(), o.FilterWidth())
        s = (o.StrideH(), o.StrideW())
        attrs = {"kernel_shape": k, "strides": s,
                 "pads": tf_pads(_padding(o), (h, w), k, s, (1, 1))}
        t = op.out_tensor()
        if core == "L2":
            if quant_of(x) is not None:
                raise ConversionError("quantized L2_POOL_2D is not supported")
            sq = imp.b.emit("Mul", [x, x], label=op.label)
            y = imp.emit(op, "Sqrt", [imp.b.nchw_op("AveragePool", sq, [], attrs,
                                                    label=op.label)])
        else:
            y = imp.b.nchw_op(core, x, [], attrs, label=op.label, quant=t.quant, name=t.name)
        return imp.activation(op, y, o.FusedActivationFunction())
    return convert


def batch_matmul(imp, op):
    """BATCH_MATMUL: adj_x / adj_y transpose the last two axes of x / y; MatMul broadcasts the
    batch axes."""
    o = op.options(tflite.BatchMatMulOptions)
    xs = [op.input(0), op.input(1)]
    for k, adj in enumerate((o.AdjX(), o.AdjY()) if o is not None else (False, False)):
        rank = len(shape_of(xs[k]))
        if adj and rank >= 2:
            perm = (*range(rank - 2), rank - 1, rank - 2)
            xs[k] = _weights(imp, op, k, perm, {a: perm.index(a) for a in range(rank)})
    return imp.emit(op, "MatMul", xs)
