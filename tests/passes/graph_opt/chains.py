"""A hypothesis strategy for graphs full of what the graph-optimization passes look for.

`conv_chains(layout)` draws an input, optional preprocessing (channel reorder, - mean, / std),
then 1-3 blocks: [Pad] -> Conv or ConvTranspose -> a few of BatchNorm, Caffe Scale (Mul + Add by
per-channel constants), per-channel Mul/Add/Sub/Div, Relu/Relu6/LeakyRelu/PRelu/HardSwish/Sigmoid,
[Pad] -> MaxPool / AveragePool; optionally a GlobalAveragePool -> Flatten -> Gemm head with a
BatchNorm / Mul / activation after it. With layout="NHWC" the input is NHWC and every NCHW core
op is wrapped in Transposes, as a TensorFlow import does; elementwise ops then run in NHWC.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from npucc.ir import DType, Graph, TensorType

TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
POST_OPS = ("bn", "scale", "mul", "add", "sub", "div", "relu", "relu6", "leaky", "prelu",
            "prelu1", "hardswish", "sigmoid", "maxpool", "avgpool")


class _Chain:
    def __init__(self, draw, layout: str):
        self.draw, self.nhwc = draw, layout == "NHWC"
        self.rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
        self.g = Graph("chain")

    def int_(self, lo, hi):
        return self.draw(st.integers(lo, max(lo, hi)))

    def const(self, a):
        return self.g.add_constant(np.asarray(a, np.float32))

    def channels(self, v):
        return v.shape[3] if self.nhwc and v.type.rank == 4 else v.shape[1]

    def per_channel(self, v, lo=-1.0, hi=1.0, away=0.0):
        """A per-channel constant for v in its layout (shapes (C,), (C,1,1) or (1,C,1,1))."""
        c = self.channels(v)
        a = self.rng.uniform(lo, hi, c)
        if away:
            a = np.where(np.abs(a) < away, np.copysign(away, a), a)
        if v.type.rank == 2 or self.nhwc:
            return self.const(a if v.type.rank == 2 or self.draw(st.booleans())
                              else a.reshape(1, 1, 1, c))
        return self.const(a.reshape((c, 1, 1) if self.draw(st.booleans()) else (1, c, 1, 1)))

    def nchw(self, op, v, *inputs, **attrs):
        """Apply NCHW core op `op` to v (wrapped in Transposes when v is NHWC)."""
        wrap = self.nhwc and v.type.rank == 4
        x = self.g.op("Transpose", v, perm=TO_NCHW) if wrap else v
        y = self.g.op(op, x, *inputs, **attrs)
        return self.g.op("Transpose", y, perm=TO_NHWC) if wrap and y.type.rank == 4 else y

    def spatial(self, v):
        return v.shape[1:3] if self.nhwc else v.shape[2:]

    def pad(self, v, value=0.0, limit=1):
        p = [self.int_(0, limit) for _ in range(4)]
        pads = (0, p[0], p[1], 0, 0, p[2], p[3], 0) if self.nhwc else (0, 0, p[0], p[1], 0, 0,
                                                                         p[2], p[3])
        return self.g.op("Pad", v, pads=pads, value=value)

    def conv(self, v):
        c = self.channels(v)
        h, w = self.spatial(v)
        if self.draw(st.booleans()) and h > 1 and w > 1:
            v = self.pad(v)
            h, w = self.spatial(v)
        group = self.draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
        m = group * self.int_(1, max(1, 6 // group))
        k = (self.int_(1, min(3, h)), self.int_(1, min(3, w)))
        s = (self.int_(1, 2), self.int_(1, 2))
        pads = tuple(self.int_(0, k[i % 2] - 1) for i in range(4))
        if self.draw(st.integers(0, 4)) == 0:  # ConvTranspose, output size kept small
            wt = self.rng.uniform(-0.5, 0.5, (c, m // group, *k))
            bias = [self.const(self.rng.uniform(-0.5, 0.5, m))] if self.draw(st.booleans()) else []
            return self.nchw("ConvTranspose", v, self.const(wt), *bias, pads=pads, group=group)
        wt = self.rng.uniform(-1, 1, (m, c // group, *k)) / np.sqrt(k[0] * k[1] * c // group)
        bias = [self.const(self.rng.uniform(-0.5, 0.5, m))] if self.draw(st.booleans()) else []
        return self.nchw("Conv", v, self.const(wt), *bias, strides=s, pads=pads, group=group)

    def post(self, v, op):
        g = self.g
        if op == "bn":
            c = v.shape[1] if v.type.rank == 2 else self.channels(v)
            p = [self.rng.uniform(0.5, 1.5, c), self.rng.uniform(-.5, .5, c),
                 self.rng.uniform(-.5, .5, c), self.rng.uniform(0.5, 2, c)]
            return self.nchw("BatchNorm", v, *map(self.const, p), epsilon=1e-3)
        if op == "scale":  # Caffe Scale with bias: Mul then Add by per-channel constants
            return g.op("Add", g.op("Mul", v, self.per_channel(v, 0.5, 1.5)), self.per_channel(v))
        if op in ("mul", "add", "sub", "div"):
            c = self.per_channel(v, away=0.25)
            args = (c, v) if op in ("mul", "add", "sub") and self.draw(st.booleans()) else (v, c)
            return g.op(op.capitalize(), *args)
        if op == "prelu":
            return g.op("PRelu", v, self.per_channel(v, 0, 0.5))
        simple = {"relu": ("Relu", {}), "relu6": ("Clip", {"min": 0.0, "max": 6.0}),
                  "leaky": ("LeakyRelu", {"alpha": 0.1}), "hardswish": ("HardSwish", {}),
                  "sigmoid": ("Sigmoid", {}), "prelu1": ("PRelu", None)}
        if op in simple:
            name, attrs = simple[op]
            return g.op(name, v, **attrs) if attrs is not None else g.op(name, v, self.const(0.2))
        h, w = self.spatial(v)
        k = self.int_(1, min(3, h, w))
        s = self.draw(st.sampled_from([2, 2, 1]))
        if op == "maxpool":
            if self.draw(st.integers(0, 3)) == 0 and k > 1:  # explicit -inf padding (TF SAME)
                v = self.pad(v, -np.inf, limit=k - 1)
            return self.nchw("MaxPool", v, kernel_shape=(k, k), strides=(s, s))
        if self.draw(st.booleans()) and k > 1:
            v = self.pad(v, 0.0, limit=k - 1)
        return self.nchw("AveragePool", v, kernel_shape=(k, k), strides=(s, s),
                         count_include_pad=self.draw(st.booleans()))


@st.composite
def conv_chains(draw, layout: str = "NCHW", preprocess: bool | None = None,
                head: bool | None = None):
    """Graphs of conv blocks (see the module docstring); one f32 input named "x"."""
    b = _Chain(draw, layout)
    n, c = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 2, 3, 3, 4]))
    h, w = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    x = b.g.add_input("x", TensorType((n, h, w, c) if b.nhwc else (n, c, h, w), DType.f32))
    v = x
    if preprocess if preprocess is not None else draw(st.booleans()):
        if c > 1 and draw(st.booleans()):
            perm = draw(st.permutations(range(c)))
            v = b.nchw("Gather", v, b.g.add_constant(np.asarray(perm, np.int64)), axis=1)
        v = b.g.op("Sub", v, b.per_channel(v, 0, 2))
        v = b.g.op("Div", v, b.per_channel(v, 0.5, 2, away=0.5))
    outputs = []
    for _ in range(draw(st.integers(1, 3))):
        v = b.conv(v)
        for op in draw(st.lists(st.sampled_from(POST_OPS), max_size=3)):
            if min(b.spatial(v)) >= 1:
                v = b.post(v, op)
        if draw(st.integers(0, 5)) == 0:
            outputs.append(v)  # a side output: its producer is no longer single use
        elif draw(st.integers(0, 5)) == 0:
            v = b.g.op("Add", v, b.g.op("Relu", v))  # two readers: a residual-like join
    if head if head is not None else draw(st.booleans()):
        v = b.g.op("Flatten", b.nchw("GlobalAveragePool", v), axis=1)
        k, m = v.shape[1], draw(st.integers(1, 5))
        v = b.g.op("Gemm", v, b.const(b.rng.uniform(-1, 1, (k, m))),
                   *([b.const(b.rng.uniform(-1, 1, m))] if draw(st.booleans()) else []))
        for op in draw(st.lists(st.sampled_from(["bn", "mul", "add", "relu", "prelu", "sigmoid"]),
                                max_size=2)):
            v = b.post(v, op)
    b.g.set_outputs([v] + [o for o in outputs if o is not v])
    return b.g
