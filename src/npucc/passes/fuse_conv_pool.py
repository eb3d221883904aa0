"""fuse-conv-pool: mark Conv (+ fused activation) + MaxPool as one fused region, the Conv's
`pool_kernel` / `pool_strides`, when the pool meets the target's pool fusion rules (data in the
target file: which pools its conv unit can apply on the fly)."""

from __future__ import annotations

import attrs

from ..targets import get_target
from ..targets.fusion import pool_fusion_problem
from .base import register_pass
from .rewrite import Op, RewritePass, Rule


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
    accepts its kernel, stride and input size at `bits` bits. The rules are the `pool_fusion`
    list of `target` (a shipped target name or a target file; default rk1808, whose RKNPU1 rules
    fuse 2x2/2 and 3x3/2 pools). Outputs are bit-identical; the fused Conv carries both
    provenances."""

    name = "fuse-conv-pool"
    bits: int = attrs.field(default=8, validator=attrs.validators.in_((8, 16)))
    target: str = "rk1808"

    def _fuse(self, m, rw):
        # maxpool(conv(x) {act}) -> conv(x) {act, pool}
        pool, conv = m.root, m["conv"]
        k, s = pool.attrs["kernel_shape"][0], pool.attrs["strides"][0]
        h, w = conv.output.shape[2:]
        rules = get_target(self.target).pool_fusion
        if pool_fusion_problem(rules, k, s, h, w, self.bits) is not None:
            return None
        return rw.op("Conv", *conv.inputs, **{**conv.attrs, "pool_kernel": (k, k),
                                             "pool_strides": (s, s)})

    def get_rules(self):
        conv = Op("Conv", name="conv", single_use=True, where=_unpooled)
        return (Rule("conv-maxpool", Op("MaxPool", conv, where=_simple_pool), self._fuse),)
