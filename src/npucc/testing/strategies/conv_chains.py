"""`conv_chains()`: 4-D chains of convolutions shaped to reach the simulator plan's special paths.

`graphs()` draws a broad op mix; these graphs are narrower on purpose: conv after conv, so the
plan stores values channels-last between them; depthwise stages on small images (the depthwise
kernel's channels-last path); fused activations including per-channel PRelu; max-pools fused into
a conv or left for `fuse-conv-pool`; separate activations left for `fuse-activation`. With
`quantized=True` every tensor is int8 or uint8 (TFLite-style: per-channel symmetric int8 or
per-tensor uint8 weights, int32 biases) and some stages are wide enough that the exact integer
accumulator needs float64 instead of float32 BLAS.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from npucc.ir import DType, Graph, QuantParams, TensorType, Value

from .appliers import divisors
from .builder import GraphBuilder
from .conv import activation_attrs

KINDS = ("depthwise", "pointwise", "dense", "grouped")


def _geometry(b: GraphBuilder, kind: str, h: int, w: int) -> dict:
    """Kernel, strides, dilations and pads of one stage, fitting an h x w input."""
    if kind == "pointwise":
        k, s = 1, b.pick([1, 1, 1, 2])
        return dict(kernel=(1, 1), strides=(s, s), dilations=(1, 1), pads=(0, 0, 0, 0))
    k = b.int_(2 if kind == "depthwise" else 1, 3)
    s = b.pick([1, 1, 2])
    d = 2 if (k - 1) * 2 + 1 <= min(h, w) and b.chance(4) else 1
    p = b.int_(0, k - 1)
    pads = (p, p, p, p) if b.chance(2) else tuple(b.int_(0, k - 1) for _ in range(4))
    return dict(kernel=(k, k), strides=(s, s), dilations=(d, d), pads=pads)


def _out_size(size: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


def _stage_shape(b: GraphBuilder, x: Value, wide: bool, kind: str | None = None):
    """(kind, group, output channels, geometry, output h, w) of a stage on `x` (of `kind`, or
    drawn); None if no window fits."""
    _, c, h, w = x.shape
    if wide:  # a 3x3 dense conv over C >= 128 channels: K = 9 * C, and M small
        geo = dict(kernel=(3, 3), strides=(1, 1), dilations=(1, 1), pads=(1, 1, 1, 1))
        return "dense", 1, b.int_(1, 8), geo, h, w
    keep_size = kind == "depthwise, stride 1"
    kind = "depthwise" if keep_size else kind or b.pick(KINDS)
    group = {"depthwise": c, "grouped": b.pick(divisors(c))}.get(kind, 1)
    m = c if kind == "depthwise" else group * b.int_(1, max(1, 12 // group))
    geo = _geometry(b, kind, h, w)
    if keep_size:
        geo.update(strides=(1, 1), dilations=(1, 1))
    (k, _), (s, _), (d, _), (pt, pl, pb, pr) = (geo["kernel"], geo["strides"], geo["dilations"],
                                                geo["pads"])
    oh, ow = _out_size(h, k, s, d, pt, pb), _out_size(w, k, s, d, pl, pr)
    if min(oh, ow) < 1:
        return None
    return kind, group, m, geo, oh, ow


def _activation(b: GraphBuilder, m: int) -> dict:
    """A fused activation, a per-channel PRelu more often than in graphs()."""
    if b.chance(3):
        slopes = b.rng.uniform(-0.5, 0.5, b.pick([m, 1])).astype(np.float32)
        return {"activation": "prelu", "activation_params": tuple(map(float, slopes))}
    return activation_attrs(b)


def _float_stage(b: GraphBuilder, x: Value, kind: str | None) -> Value:
    shape = _stage_shape(b, x, wide=False, kind=kind)
    if shape is None:
        return x
    kind, group, m, geo, oh, ow = shape
    c = x.shape[1]
    k = geo["kernel"][0]
    wt = b.weights((m, c // group, k, k), (c // group) * k * k, x.dtype)
    bias = [b.random_const((m,), x.dtype, -0.5, 0.5)] if b.chance(2) else []
    act = {} if b.chance(4) else _activation(b, m)
    pool = {}
    if min(oh, ow) >= 2 and b.chance(6):
        pk = b.int_(2, min(3, oh, ow))
        pool = {"pool_kernel": (pk, pk), "pool_strides": b.pick([(pk, pk), (2, 2), ()])}
    y = b.emit("Conv", [x, wt, *bias], strides=geo["strides"], pads=geo["pads"],
               dilations=geo["dilations"], group=group, **act, **pool)
    after = b.int_(0, 9)
    if after == 1 and min(oh, ow) >= 2 and not pool:  # a MaxPool for fuse-conv-pool
        pk = b.pick([2, 3]) if min(oh, ow) >= 3 else 2
        y = b.emit("MaxPool", [y], kernel_shape=(pk, pk), strides=(2, 2))
    elif after == 2 and not act:  # an activation node for fuse-activation
        y = b.emit("Relu", [y])
    elif after == 3 and not act:  # a per-channel PRelu node
        y = b.emit("PRelu", [y, b.random_const((m, 1, 1), x.dtype, -0.5, 0.5)])
    return y


# ---- quantized stages ----

def _qtype(shape, dtype: DType, scale: float, zp: int) -> TensorType:
    return TensorType(shape, dtype, QuantParams.affine(scale, zp))


def _quantized_stage(b: GraphBuilder, x: Value, wide: bool) -> Value:
    shape = _stage_shape(b, x, wide)
    if shape is None:
        return x
    kind, group, m, geo, oh, ow = shape
    n, c = x.shape[:2]
    k = geo["kernel"][0]
    cg = c // group
    sx = float(x.type.quant.scale[0])
    rng = b.rng
    # weights w' = w - zero point: small, or near +-127 in a wide stage (so that the bound on its
    # partial sums, 128 * sum|w'| over K >= 1152 taps, passes 2**24: the float64 accumulator)
    wd = rng.integers(120, 128, (m, cg, k, k)) * rng.choice([-1, 1], (m, cg, k, k)) if wide \
        else rng.integers(-40, 41, (m, cg, k, k))
    if x.dtype is DType.i8:  # TFLite int8: per-channel symmetric weights
        sw = np.float32(2.0) ** -rng.integers(6, 9, m).astype(np.float32)
        w = wd.astype(np.int8)
        wq = QuantParams.affine([float(v) for v in sw], [0] * m, axis=0)
    else:  # uint8: per-tensor asymmetric weights
        sw = np.full(m, np.float32(2.0) ** -7)
        zw = 128
        w = (zw + wd).astype(np.uint8)
        wq = QuantParams.affine(float(sw[0]), zw)
    wt = b.graph.add_constant(w, b.graph.unique_name("w"), quant=wq)
    bias_scale = [float(np.float32(sx) * np.float32(s)) for s in sw]
    bias = b.graph.add_constant(rng.integers(-2000, 2001, m).astype(np.int32),
                                b.graph.unique_name("b"),
                                quant=QuantParams.affine(bias_scale, [0] * m, axis=0))
    # an output scale that spreads the accumulator over the 8-bit range
    sy = float(sx * float(np.mean(sw)) * np.sqrt(cg * k * k) * 24.0)
    lo, hi = x.dtype.int_range
    zy = b.int_(lo + 100, hi - 100) if x.dtype is DType.u8 else b.int_(-10, 10)
    kind_act = b.pick(["none", "relu", "clip"])
    act = {"activation": kind_act, "activation_params": (0.0, 6.0) if kind_act == "clip" else ()}
    out_type = _qtype((n, m, oh, ow), x.dtype, sy, zy)
    node = b.graph.add_node("Conv", [x, wt, bias], dict(
        strides=geo["strides"], pads=geo["pads"], dilations=geo["dilations"], group=group, **act),
        output_types=[out_type])
    b.pool.append(node.output)
    return node.output


@st.composite
def conv_chains(draw, *, quantized: bool = False, min_convs: int = 1, max_convs: int = 4
                ) -> Graph:
    """Strategy drawing a chain of `min_convs`..`max_convs` convolution stages on one NCHW input
    (N <= 2, spatial sizes up to 12, sometimes 29 to 36 so a depthwise stage leaves the
    channels-last path); sometimes an intermediate value is a second graph output. Quantized:
    int8 or uint8 throughout; the first stage is wide (C >= 128) in about half of the
    graphs."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    b = GraphBuilder(draw, rng, 4 * max_convs, (DType.f32,), False, name="chain")
    n = draw(st.sampled_from([1, 1, 2]))
    big = draw(st.integers(0, 3)) == 3
    h, w = (draw(st.integers(29, 36)), draw(st.integers(29, 36))) if big else \
        (draw(st.integers(2, 12)), draw(st.integers(2, 12)))
    wide = quantized and draw(st.booleans())
    c = draw(st.integers(128, 160)) if wide else draw(st.integers(1, 12))
    if wide:
        h, w = min(h, 3), min(w, 3)
    if quantized:
        dtype = draw(st.sampled_from([DType.i8, DType.u8]))
        zx = draw(st.integers(-10, 10)) if dtype is DType.i8 else draw(st.integers(100, 150))
        x = b.graph.add_input("x", _qtype((n, c, h, w), dtype, 2.0 ** -draw(st.integers(3, 6)),
                                          zx))
    else:
        x = b.input((n, c, h, w), DType.f32)
    y, stages = x, draw(st.integers(min_convs, max_convs))
    # MobileNet-like (depthwise and pointwise stages taking turns) in two graphs of three, else
    # any mix; a large image starts with a depthwise stage
    kinds = ["depthwise", "pointwise"] * stages if draw(st.integers(0, 2)) else [None] * stages
    if big:
        kinds[0] = "depthwise, stride 1"
    for i in range(stages):
        y = _quantized_stage(b, y, wide and i == 0) if quantized else \
            _float_stage(b, y, kinds[i])
    outputs = [y] if y is not x else [b.emit("Relu", [x])] if not quantized else [x]
    inner = [v for v in b.pool if v is not y and v.producer is not None]
    if inner and draw(st.integers(0, 3)) == 3:
        outputs.append(draw(st.sampled_from(inner)))
    b.graph.set_outputs(outputs)
    return b.graph
