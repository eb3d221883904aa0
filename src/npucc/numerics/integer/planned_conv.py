"""A quantized Conv as the simulator plan runs it: the integers `linear.linear` computes, written
into the plan's own output array, either array possibly stored channels-last (NHWC bytes seen
as an (N, C, H, W) view, see backends/simulator/kernels). The form follows the conv's shape:

- depthwise (group == C == M, more than one tap): the compiled loop of numerics/depthwise.py,
  a channel at a time on NCHW images, or row by row with the channels as the vectorized inner
  loop on channels-last ones (2-4x faster on MobileNetV2's layers, so the plan stores the images
  around a depthwise conv channels-last where its neighbours can take them);
- direct (1x1, stride 1, unpadded, ungrouped): one GEMM oriented by the layouts (a channels-last
  output is (pixels x C) @ W^T, which BLAS also runs faster when C is small), then the
  requantization along the channel axis;
- any other conv with constant weights: `constant_weight_gemm` on NCHW arrays.

Every form accumulates exact integers and requantizes with `requantizer` / `static_factors`, so
all give `linear`'s integers (the plan tests compare them bit for bit).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import attrs
import numpy as np

from ...ir.graph import Node
from ..accumulate import constant_weight_gemm
from ..depthwise import integer_loop
from ..layout import is_channels_last, view_as
from ..profiles import profile_of
from .linear import LinearParams, limits, linear_params
from .requantize import PROFILES, requantizer


@attrs.frozen
class PlannedConv:
    """A quantized Conv the plan can run in place; `kind` is 'depthwise', 'direct' or 'gemm'.
    `channels_last` tells whether its input and output may be stored channels-last (depthwise
    and direct; a depthwise conv computes faster so)."""

    node: Node
    params: LinearParams
    kind: str

    @property
    def channels_last(self) -> bool:
        return self.kind in ("depthwise", "direct")

    def bind(self, x: np.ndarray, out: np.ndarray) -> Callable[[], None] | None:
        """A step computing `out` from `x` (the plan's arrays, (N, C, H, W) views, either
        layout), or None where this form cannot take these arrays (the plan then runs
        `linear`)."""
        return (self._depthwise if self.kind == "depthwise" else self._gemm)(x, out)

    def _depthwise(self, x, out):
        p = self.params
        args = (self.node, p.zx, p.wz, p.real, p.zy, p.lo, p.hi)
        x_last, out_last = is_channels_last(x), is_channels_last(out)
        if not (x_last or out_last):
            loop = integer_loop(*args)
            if loop is None or not (x.flags.c_contiguous and out.flags.c_contiguous):
                return None
            return partial(loop, x, out)
        loop = integer_loop(*args, channels_last=True)
        if loop is None:
            return None
        # an NCHW neighbour: transposed through a channels-last copy of its own
        src = x.transpose(0, 2, 3, 1) if x_last else np.empty(
            (x.shape[0], *x.shape[2:], x.shape[1]), x.dtype)
        dst = out.transpose(0, 2, 3, 1) if out_last else np.empty(
            (out.shape[0], *out.shape[2:], out.shape[1]), out.dtype)
        if not (src.flags.c_contiguous and dst.flags.c_contiguous):
            return None
        src_nchw, dst_nchw = src.transpose(0, 3, 1, 2), dst.transpose(0, 3, 1, 2)

        def step():
            if not x_last:
                np.copyto(src_nchw, x)
            loop(src, dst)
            if not out_last:
                np.copyto(out, dst_nchw)
        return step

    def _gemm(self, x, out):
        """`constant_weight_gemm` requantized into `out`; a direct conv's GEMM oriented by the
        layouts (its accumulator channels last for a channels-last output)."""
        p = self.params
        layouts = (is_channels_last(x), is_channels_last(out))
        if (self.kind != "direct" and any(layouts)) or not (
                layouts[1] or out.flags.c_contiguous):
            return None
        gemm = constant_weight_gemm(self.node, p.zx, p.wz, p.bshape, channels_last=layouts)
        if gemm is None or getattr(gemm.accumulate, "blocks", None) is not None:
            return None
        real, offset, bound, dst = p.real, gemm.offset, gemm.raw_bound, out
        if layouts[1]:  # per channel along the accumulator's last axis
            m = out.shape[1]
            real, offset, bound = (np.broadcast_to(np.reshape(a, -1), (m,))
                                   for a in (real, offset, bound))
            dst = view_as(out.transpose(0, 2, 3, 1), (out.shape[0], -1, m))
        requant = requantizer(real, offset=offset, bound=bound, zy=p.zy, lo=p.lo, hi=p.hi,
                              dtype=out.dtype)

        def step():
            requant(gemm.accumulate(x), dst)
        return step


def planned_conv(node: Node) -> PlannedConv | None:
    """The plan's form of a quantized (affine / dfp) 2-D Conv with constant weights and bias,
    no fused pool and no sign-split activation; None for the others (the plan runs `linear`),
    and for a depthwise conv whose compiled loop does not apply (no numba, a small image, bounds
    past exactness)."""
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if (node.op != "Conv" or x.type.rank != 4 or node.attrs.get("pool_kernel")
            or not w.is_constant or (b is not None and not b.is_constant)
            or profile_of(node) not in PROFILES or limits(node)):
        return None
    p = linear_params(node)
    if p.negative is not None:
        return None
    at = node.attrs
    c, m = x.shape[1], w.shape[0]
    if at["group"] == c == m and int(np.prod(w.shape[2:])) > 1:
        probe = integer_loop(node, p.zx, p.wz, p.real, p.zy, p.lo, p.hi, channels_last=True)
        return None if probe is None else PlannedConv(node, p, "depthwise")
    direct = (tuple(w.shape[2:]) == (1, 1) and tuple(at["strides"]) == (1, 1)
              and not any(at["pads"]) and at["group"] == 1)
    return PlannedConv(node, p, "direct" if direct else "gemm")
