"""Linear algebra ops: Gemm and MatMul, each with a fused activation, and Einsum."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.quant_rule import linear
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import TensorType

from .dtype_rules import accumulator, same_dtype
from .elementwise import FUSED_ACTIVATION_ATTRS, apply_activation, check_activation


# ---- Gemm ----
def _gemm_type(types, attrs_):
    a, b, c = (types + [None])[:3]
    check_activation(attrs_)
    same_dtype([a, b, c], ("A", "B", "C"))
    if not a.dtype.is_float:
        raise IRError(f"takes float tensors, got {a.dtype.value}")
    if a.rank != 2 or b.rank != 2:
        raise IRError(f"A and B must be 2-D, got {list(a.shape)} and {list(b.shape)}")
    m, k = a.shape[::-1] if attrs_["transA"] else a.shape
    k2, n = b.shape[::-1] if attrs_["transB"] else b.shape
    if k != k2:
        raise IRError(f"inner dimensions differ: op(A) is ({m}, {k}) and op(B) is ({k2}, {n}) "
                      f"(transA={int(attrs_['transA'])}, transB={int(attrs_['transB'])})")
    if c is not None:
        try:
            ok = np.broadcast_shapes(c.shape, (m, n)) == (m, n)
        except ValueError:
            ok = False
        if not ok:
            raise IRError(f"C of shape {list(c.shape)} does not broadcast to the output "
                          f"({m}, {n})")
    return TensorType((m, n), a.dtype)


@define_op("Gemm", inputs=("A", "B", "C?"),
           attrs={"alpha": Attr("float", 1.0), "beta": Attr("float", 1.0),
                  "transA": Attr("bool", False), "transB": Attr("bool", False),
                  **FUSED_ACTIVATION_ATTRS},
           infer=_gemm_type, quant=linear(lambda attrs_: 0 if attrs_["transB"] else 1))
def gemm(a, b, c=None, **attrs_):
    """ONNX Gemm: alpha * op(A) @ op(B) + beta * C (op transposes when transA/transB; C
    broadcasts to (M, N)); then the fused activation."""
    dtype, acc = a.dtype, accumulator(a.dtype)
    a = a.astype(acc).T if attrs_["transA"] else a.astype(acc)
    b = b.astype(acc).T if attrs_["transB"] else b.astype(acc)
    y = (a @ b) * acc.type(attrs_["alpha"])
    if c is not None:
        y = y + c.astype(acc) * acc.type(attrs_["beta"])
    y = apply_activation(y, attrs_["activation"], attrs_["activation_params"])
    return y.astype(dtype)


# ---- MatMul ----
def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """numpy matmul's output shape (1-D operands promoted and the added axis removed)."""
    if not a or not b:
        raise IRError(f"operands must have rank >= 1, got {list(a)} and {list(b)}")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise IRError(f"inner dimensions differ: A is {list(a)} (K={a2[-1]}) and B is {list(b)} "
                      f"(K={b2[-2]})")
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise IRError(f"batch dimensions of {list(a)} and {list(b)} do not broadcast") from None
    return batch + ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())


def _matmul_type(types, attrs_):
    a, b = types
    check_activation(attrs_)
    same_dtype([a, b], ("A", "B"))
    if not (a.dtype.is_float or a.dtype.is_int):
        raise IRError(f"takes numeric tensors, got {a.dtype.value}")
    if a.dtype.is_int and attrs_["activation"] != "none":
        raise IRError(f"a fused activation ({attrs_['activation']}) needs float operands, "
                      f"got {a.dtype.value}")
    return TensorType(matmul_shape(a.shape, b.shape), a.dtype)


@define_op("MatMul", inputs=("A", "B"), attrs=dict(FUSED_ACTIVATION_ATTRS), infer=_matmul_type,
           quant=linear(lambda attrs_: -1, bias=False))
def matmul(a, b, **attrs_):
    """numpy matmul (batched, broadcast batch dims, 1-D operands promoted); then the fused
    activation. Integer operands wrap around in their own type."""
    acc = accumulator(a.dtype)
    y = np.matmul(a.astype(acc), b.astype(acc))
    y = apply_activation(y, attrs_["activation"], attrs_["activation_params"])
    return y.astype(a.dtype)


# ---- Einsum ----
def einsum_shape(equation: str, shapes) -> tuple[int, ...]:
    """The output shape of an einsum `equation` (explicit `->` or implicit, with `...`) on
    operands of `shapes`; IRError naming what does not fit."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise IRError(f"equation {equation!r} has {len(terms)} operands, the node {len(shapes)}")
    dims: dict[str, int] = {}
    counts: dict[str, int] = {}
    ellipses = []
    for term, shape in zip(terms, shapes):
        pre, dots, post = term.partition("...")
        n_ell = len(shape) - len(pre) - len(post) if dots else 0
        if n_ell < 0 or (not dots and len(term) != len(shape)):
            raise IRError(f"equation term {term!r} does not fit an operand of shape {list(shape)}")
        ellipses.append(tuple(shape[len(pre):len(pre) + n_ell]))
        for c, d in zip(pre + post, tuple(shape[:len(pre)]) + tuple(shape[len(pre) + n_ell:])):
            if not c.isalpha():
                raise IRError(f"equation {equation!r}: {c!r} is not a subscript letter")
            if dims.setdefault(c, d) != d:
                raise IRError(f"equation {equation!r}: subscript {c!r} is {dims[c]} and {d}")
            counts[c] = counts.get(c, 0) + 1
    try:
        ell = np.broadcast_shapes(*ellipses)
    except ValueError:
        raise IRError(f"equation {equation!r}: the '...' parts do not broadcast") from None
    if not arrow:  # implicit output: the broadcast '...', then the letters seen once, sorted
        return tuple(ell) + tuple(dims[c] for c in sorted(c for c, n in counts.items() if n == 1))
    pre, dots, post = rhs.partition("...")
    if any(c not in dims for c in pre + post) or len(set(pre + post)) != len(pre + post):
        raise IRError(f"equation {equation!r}: the output subscripts {rhs!r} must be distinct "
                      "input subscripts")
    return (tuple(dims[c] for c in pre) + (tuple(ell) if dots else ())
            + tuple(dims[c] for c in post))


def _einsum_type(types, attrs_):
    same_dtype(types, tuple(f"Inputs[{i}]" for i in range(len(types))))
    if not types[0].dtype.is_float:
        raise IRError(f"takes float tensors, got {types[0].dtype.value}")
    return TensorType(einsum_shape(attrs_["equation"], [t.shape for t in types]), types[0].dtype)


@define_op("Einsum", inputs=("inputs*",), attrs={"equation": Attr("str")}, infer=_einsum_type)
def einsum(*xs, equation):
    """ONNX Einsum: the sum of products over the subscripts `equation` names (numpy's einsum,
    contracted pairwise through BLAS, in the inputs' type)."""
    return np.einsum(equation, *xs, optimize=True).astype(xs[0].dtype, copy=False)


# ---- Det ----
def _det_type(types, attrs_):
    x = types[0]
    if not x.dtype.is_float:
        raise IRError(f"takes a float tensor, got {x.dtype.value}")
    if x.rank < 2 or x.shape[-1] != x.shape[-2]:
        raise IRError(f"takes square matrices [..., M, M], got {list(x.shape)}")
    return TensorType(x.shape[:-2], x.dtype)


@define_op("Det", inputs=("X",), infer=_det_type)
def det(x):
    """ONNX Det: the determinant of each square matrix in the last two axes (LU with partial
    pivoting, in float64)."""
    return np.asarray(np.linalg.det(x.astype(np.float64))).astype(x.dtype)
