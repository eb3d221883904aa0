"""fuse-conv-pool: mark Conv (+ fused activation) + MaxPool as one fused region, the Conv's
`pool_kernel` / `pool_strides`, when the pool meets a rule set given as data (an NPU's
constraints on which pools its conv unit can apply on the fly)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .base import register_pass
from .rewrite import Op, RewritePass, Rule


@attrs.frozen
class PoolFusionRule:
    """A max-pool the conv unit can fuse: a square `kernel` window with `stride`, no padding,
    over an input whose height and width have `parity` ("even", "odd" or None for any), are not
    in `excluded_sizes`, and whose width is below `max_width[bits]` (when given for the bit
    width the model runs in)."""

    kernel: int
    stride: int
    parity: str | None = None
    excluded_sizes: tuple[int, ...] = ()
    max_width: Mapping[int, int] = attrs.field(factory=dict, converter=dict)

    def why_not(self, h: int, w: int, bits: int) -> str | None:
        """None if a pool over an h x w input fits this rule, else the reason."""
        for size in (h, w):
            if self.parity and size % 2 != (self.parity == "odd"):
                return f"input size {size} is not {self.parity}"
            if size in self.excluded_sizes:
                return f"input size {size} is excluded"
        limit = self.max_width.get(bits)
        if limit is not None and w >= limit:
            return f"input width {w} is not below {limit} for {bits}-bit"
        return None


# Rockchip NPU guidance: 2x2 / 3x3 max-pools with stride 2 and no padding fuse into the conv; 2x2
# needs an even input size; 3x3 an odd size other than 1, and a width below 64 (8-bit) / 32
# (16-bit).
ROCKCHIP_POOL_RULES = (
    PoolFusionRule(2, 2, parity="even"),
    PoolFusionRule(3, 2, parity="odd", excluded_sizes=(1,), max_width={8: 64, 16: 32}),
)


def _simple_pool(pool) -> bool:
    """is a square 2-D max-pool without padding or dilation, in floor mode"""
    a = pool.attrs
    return (pool.output.type.rank == 4 and not any(a["pads"]) and not a["ceil_mode"]
            and all(d == 1 for d in a["dilations"]) and len(set(a["kernel_shape"])) == 1
            and len(set(a["strides"])) == 1)


def _unpooled(conv) -> bool:
    """has no fused pool yet and a float output"""
    return not conv.attrs["pool_kernel"] and conv.output.dtype.is_float \
        and conv.output.type.quant is None


@register_pass
@attrs.frozen
class FuseConvPool(RewritePass):
    """Fuse a MaxPool into the Conv that produces its input, when an NPU rule allows it.

    Guarantee: to a fixed point, a square 2-D MaxPool (no padding or dilation, floor mode) whose
    input is the single-use float output of a Conv without a fused pool becomes the Conv's fused
    pool (pool_kernel, pool_strides: applied after the fused activation), when one of `rules`
    accepts its kernel, stride and input size at `bits` bits. The default rules are Rockchip's
    (ROCKCHIP_POOL_RULES). Outputs are bit-identical; the fused Conv carries both provenances."""

    name = "fuse-conv-pool"
    bits: int = attrs.field(default=8, validator=attrs.validators.in_((8, 16)))
    rules: tuple[PoolFusionRule, ...] = attrs.field(default=ROCKCHIP_POOL_RULES, converter=tuple)

    def _fuse(self, m, rw):
        # maxpool(conv(x) {act}) -> conv(x) {act, pool}
        pool, conv = m.root, m["conv"]
        k, s = pool.attrs["kernel_shape"][0], pool.attrs["strides"][0]
        h, w = conv.output.shape[2:]
        if not any(r.kernel == k and r.stride == s and r.why_not(h, w, self.bits) is None
                   for r in self.rules):
            return None
        return rw.op("Conv", *conv.inputs, **{**conv.attrs, "pool_kernel": (k, k),
                                             "pool_strides": (s, s)})

    def get_rules(self):
        conv = Op("Conv", name="conv", single_use=True, where=_unpooled)
        return (Rule("conv-maxpool", Op("MaxPool", conv, where=_simple_pool), self._fuse),)
