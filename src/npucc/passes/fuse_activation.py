"""fuse-activation: attach an activation to the Conv / ConvTranspose / Gemm / MatMul producing its
input, as the fused `activation` / `activation_params` attributes."""

from __future__ import annotations

import attrs
import numpy as np

from .base import register_pass
from .channel_affine import per_channel
from .rewrite import Const, Op, RewritePass, Rule

PRODUCERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _plain(node) -> bool:
    """has no fused activation or pool yet, and float output"""
    return (node.attrs["activation"] == "none" and not node.attrs.get("pool_kernel")
            and node.output.dtype.is_float and node.output.type.quant is None)


def _activation(act, producer) -> tuple[str, tuple[float, ...]] | None:
    """The fused (kind, params) computing `act` exactly, or None."""
    a = act.attrs
    if act.op == "Relu":
        return "relu", ()
    if act.op == "Clip":  # Relu6 is Clip(0, 6)
        return "clip", (a["min"], a["max"])
    if act.op == "LeakyRelu":
        return "leaky_relu", (a["alpha"],)
    if act.op in ("HardSwish", "Sigmoid"):
        return {"HardSwish": "hard_swish", "Sigmoid": "sigmoid"}[act.op], ()
    slope = act.inputs[1].const  # PRelu: one slope, or one per channel of axis 1
    shape = producer.output.shape
    if producer.op == "MatMul" and len(shape) != 2:
        return None
    c = per_channel(slope, shape)
    if c is None:
        return None
    c = c.astype(producer.output.dtype.numpy)
    return ("leaky_relu", (float(c[0]),)) if np.all(c == c[0]) else ("prelu", tuple(map(float, c)))


def _fuse(m, rw):
    # act(lin(x)) -> lin(x) {activation=act}
    lin, act = m["lin"], m.root
    fused = _activation(act, lin)
    if fused is None or act.output.type != lin.output.type:
        return None
    kind, params = fused
    return rw.op(lin.op, *lin.inputs, **{**lin.attrs, "activation": kind,
                                         "activation_params": params})


_LIN = Op(PRODUCERS, name="lin", single_use=True, where=_plain)
RULES = (
    Rule("activation", Op(("Relu", "Clip", "LeakyRelu", "HardSwish", "Sigmoid"), _LIN), _fuse),
    Rule("prelu", Op("PRelu", _LIN, Const()), _fuse),
)


@register_pass
@attrs.frozen
class FuseActivation(RewritePass):
    """Attach activations to the linear op that produces their input.

    Guarantee: to a fixed point, a Relu, Clip (incl. Relu6), LeakyRelu, HardSwish, Sigmoid, or a
    PRelu with a constant slope that is uniform (-> leaky_relu) or varies along axis 1 only (->
    per-channel prelu), whose input is the single-use float output of a Conv, ConvTranspose,
    Gemm or MatMul (rank 2 for a per-channel PRelu) without a fused activation, becomes that
    op's fused activation. The fused op applies the same elementwise function (bit-identical in
    f32; f16 activations are computed on the f32 accumulator, so they agree up to rounding).
    The fused node carries the union of both nodes' provenance."""

    name = "fuse-activation"
    rules = RULES
