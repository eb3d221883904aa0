"""fold-conv-affine: fold a constant per-channel Mul / Add / Sub / Div after a Conv,
ConvTranspose or Gemm into its weights and bias."""

from __future__ import annotations

import attrs
import numpy as np

from .base import register_pass
from .channel_affine import LINEAR_OPS, fold_output_affine, foldable_linear, per_channel
from .fuse_batchnorm import RULES as BATCHNORM_RULES
from .rewrite import Const, Op, RewritePass, Rule

# (op, linear op's operand index) -> (s, t) of the affine map the op applies to the linear output;
# Mul and Add are commutative, so their patterns also match c * lin and c + lin
AFFINE = {
    ("Mul", 0): lambda c: (c, 0 * c),  # lin * c
    ("Add", 0): lambda c: (1 + 0 * c, c),  # lin + c
    ("Sub", 0): lambda c: (1 + 0 * c, -c),  # lin - c
    ("Sub", 1): lambda c: (-1 + 0 * c, c),  # c - lin
    ("Div", 0): lambda c: (1 / c, 0 * c),  # lin / c   (c != 0)
}


def _fold(index: int):
    def fn(m, rw):
        # op(lin(x), c) = s * lin(x) + t  ->  lin'(x) with W' = s * W, b' = s * b + t
        lin = m["lin"]
        c = per_channel(m["c"].const, lin.output.shape)
        if c is None or m.root.output.type != lin.output.type:
            return None
        if m.root.op == "Div" and not np.all(c != 0):
            return None
        s, t = AFFINE[(m.root.op, index)](c)
        return fold_output_affine(rw, lin, s, t)
    return fn


_LIN = Op(LINEAR_OPS, name="lin", single_use=True, where=foldable_linear)
RULES = tuple(Rule(f"{('linear', 'const')[i]}-{op.lower()}",
                   Op(op, *((_LIN, Const("c")) if i == 0 else (Const("c"), _LIN))), _fold(i))
              for op, i in AFFINE)


@register_pass
@attrs.frozen
class FoldConvAffine(RewritePass):
    """Fold constant per-channel arithmetic after a linear op into its weights and bias.

    Guarantee: to a fixed point, a Mul, Add, Sub or Div (constant divisor, no zero) combining the
    output of a single-use Conv, ConvTranspose or Gemm (constant weights and bias, no fused
    activation) with a constant that varies along the channel axis (axis 1) only, and that keeps
    the output's shape, is folded into that op: W' = s * W, b' = s * b + t for the affine map
    y = s * lin(x) + t the arithmetic applies. Computed in float64, rounded once; outputs agree
    up to float rounding. Fused nodes carry the union of their sources' provenance. The rules of
    fuse-batchnorm run in the same fixed point, since each kind of fold can enable the other."""

    name = "fold-conv-affine"
    rules = RULES + tuple(BATCHNORM_RULES)
