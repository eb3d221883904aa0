"""split-activation: give a fused activation that an integer profile cannot fold into the linear
op's requantization (hard_swish, sigmoid: not clamps or slopes) its own node, so that the linear
op and the activation both quantize (a lookup table for the activation) instead of the whole
fused node staying float. `quantize_model` runs it before calibration, so the linear op's own
output gets a range."""

from __future__ import annotations

import attrs

from ..numerics.profiles import unsupported
from .base import register_pass
from .fuse_activation import PRODUCERS
from .rewrite import Op, RewritePass, Rule

UNFUSED = {"hard_swish": "HardSwish", "sigmoid": "Sigmoid"}  # fused kind -> its op


def _unfoldable(node) -> bool:
    """has a fused activation that a standalone op computes (hard_swish, sigmoid)"""
    return node.attrs["activation"] in UNFUSED


@register_pass
@attrs.frozen
class SplitActivation(RewritePass):
    """Guarantee: a Conv, ConvTranspose, Gemm or MatMul whose fused hard_swish or sigmoid the
    integer kernels of `profile` ("affine", "dfp" or "tflite") cannot fold becomes the op with
    no fused activation (output named `<output>_preact`), the activation's own node, and the
    fused max-pool as a MaxPool after it, each of which `profile` can run; outputs are
    bit-identical in float32 (the fused kernel applies the same elementwise function, then
    the pool). The new nodes carry the fused node's provenance."""

    name = "split-activation"
    profile: str = "affine"

    def _split(self, m, rw):
        lin = m.root
        if unsupported(self.profile, lin) is None:
            return None
        at = lin.attrs
        plain = {**at, "activation": "none", "activation_params": ()}
        if at.get("pool_kernel"):
            plain.update(pool_kernel=(), pool_strides=())
        y = rw.op(lin.op, *lin.inputs, **plain)
        out = rw.op(UNFUSED[at["activation"]], y)
        if at.get("pool_kernel"):
            sr = len(at["pool_kernel"])
            out = rw.op("MaxPool", out, kernel_shape=at["pool_kernel"],
                        strides=at["pool_strides"] or at["pool_kernel"], pads=(0,) * (2 * sr),
                        dilations=(1,) * sr)
        if any(unsupported(self.profile, n) for n in rw.created):
            return None
        rw.graph.rename(y, rw.graph.unique_name(f"{lin.output.name}_preact"))
        return out

    def get_rules(self):
        return (Rule("split-activation", Op(PRODUCERS, where=_unfoldable), self._split),)
