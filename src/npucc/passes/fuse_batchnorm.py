"""fuse-batchnorm: fold inference BatchNorm, and Caffe's BatchNorm + Scale pair, into the weights
and bias of the preceding Conv / ConvTranspose / Gemm."""

from __future__ import annotations

import attrs
import numpy as np

from .base import register_pass
from .channel_affine import LINEAR_OPS, fold_output_affine, foldable_linear, per_channel
from .rewrite import Any, Const, Op, RewritePass, Rule


def _bn_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """BatchNorm as s * x + t: s = scale / sqrt(var + eps), t = bias - mean * s."""
    scale, bias, mean, var = (v.const.astype(np.float64) for v in bn.inputs[1:])
    s = scale / np.sqrt(var + bn.attrs["epsilon"])
    return s, bias - mean * s


def _absorbable(bn) -> bool:
    """The BatchNorm's only reader is a per-channel Mul/Add/Sub it can absorb first (so a Caffe
    BatchNorm + Scale pair scales the weights once, not twice)."""
    if len(bn.output.uses) != 1:
        return False
    user = bn.output.uses[0].node
    if user.op not in ("Mul", "Add", "Sub"):
        return False
    other = [v for v in user.inputs if v is not bn.output]
    return len(other) == 1 and other[0].is_constant and (user.op != "Sub" or
                                                          user.inputs[0] is bn.output) \
        and per_channel(other[0].const, bn.output.shape) is not None


def _fold_into_linear(m, rw):
    # bn(lin(x)) = s * lin(x) + t -> lin'(x) with W' = s * W, b' = s * b + t
    if _absorbable(m.root) and not m.root.graph.is_output(m.root.output):
        return None
    s, t = _bn_affine(m.root)
    return fold_output_affine(rw, m["lin"], s, t)


def _absorb(kind: str):
    def fn(m, rw):
        # mul(bn(x), c) -> bn(x; scale*c, bias*c);  add(bn(x), c) -> bn(x; bias+c);  sub: bias-c
        bn = m["bn"]
        c = per_channel(m["c"].const, bn.output.shape)
        if c is None or m.root.output.type != bn.output.type:
            return None
        x, scale, bias, mean, var = bn.inputs
        sc, bi = scale.const.astype(np.float64), bias.const.astype(np.float64)
        if kind == "Mul":
            sc, bi = sc * c, bi * c
        else:
            bi = bi + c if kind == "Add" else bi - c
        dt = bn.output.dtype
        return rw.op("BatchNorm", x, rw.constant(sc, dtype=dt), rw.constant(bi, dtype=dt), mean,
                     var, epsilon=bn.attrs["epsilon"])
    return fn


def _is_float(v):
    """is a float tensor without quantization"""
    return v.dtype.is_float and v.type.quant is None


def _bn(name="bn", inner=None, single_use=True):
    x = inner if inner is not None else Any("x", where=_is_float)
    return Op("BatchNorm", x, Const(), Const(), Const(), Const(), name=name,
              single_use=single_use)


_LINEAR = Op(LINEAR_OPS, name="lin", single_use=True, where=foldable_linear)
RULES = [Rule("linear-batchnorm", _bn("bn", _LINEAR, single_use=False), _fold_into_linear)]
for _kind in ("Mul", "Add", "Sub"):
    # Caffe's Scale layer after a BatchNorm is a Mul (and an Add) by per-channel constants;
    # Mul and Add are commutative, so the patterns also match c * bn and c + bn
    RULES.append(Rule(f"batchnorm-{_kind.lower()}", Op(_kind, _bn(), Const("c")), _absorb(_kind)))


@register_pass
@attrs.frozen
class FuseBatchNorm(RewritePass):
    """Fold inference BatchNorm into the preceding linear op.

    Guarantee: to a fixed point, (1) a Mul, Add or Sub of a single-use BatchNorm's output by a
    constant that varies along the channel axis only (Caffe's Scale layer) becomes part of the
    BatchNorm's scale and bias; (2) a BatchNorm whose input is a single-use Conv, ConvTranspose
    or Gemm with constant weights and bias and no fused activation is folded into that op's
    weights and bias (W' = s * W, b' = s * b + t with s = scale / sqrt(var + eps),
    t = bias - mean * s, in float64, rounded once). Fused nodes carry the union of the
    provenance of their sources. Outputs agree up to float rounding."""

    name = "fuse-batchnorm"
    rules = tuple(RULES)
