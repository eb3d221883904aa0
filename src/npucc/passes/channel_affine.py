"""Per-channel affine maps y = s * x + t and how they fold into the weights of a linear op.

Shared by the fusion passes (fuse-batchnorm, fold-conv-affine): a linear op whose output channels
(axis 1) are scaled by `s` and shifted by `t` is the same op with scaled weights and a new bias.
Biases are computed in float64 and rounded once; weights are multiplied in their own dtype (by s
rounded to it: two roundings, at most 1 ulp more than exact), which keeps folding fast on large
weights. A pure shift (s == 1) keeps the weights constant as it is.
"""

from __future__ import annotations

import numpy as np

from npucc.ir.graph import Node, Value

# ops whose output channel axis 1 is a linear function of their weights and bias
LINEAR_OPS = ("Conv", "ConvTranspose", "Gemm")


def per_channel(c: np.ndarray, shape: tuple[int, ...], axis: int = 1) -> np.ndarray | None:
    """The length-shape[axis] vector a constant `c` holds when broadcast against a tensor of
    `shape` varies along `axis` only (and the broadcast keeps `shape`); None otherwise."""
    if c.ndim > len(shape):
        return None
    e = c.reshape((1,) * (len(shape) - c.ndim) + c.shape)
    if any(d not in (1, shape[i]) or (d != 1 and i != axis) for i, d in enumerate(e.shape)):
        return None
    return np.broadcast_to(e.reshape(-1), (shape[axis],)).astype(np.float64)


def is_plain(node: Node) -> bool:
    """has no fused activation or pool"""
    return node.attrs.get("activation", "none") == "none" and not node.attrs.get("pool_kernel")


def foldable_linear(node: Node) -> bool:
    """is a Conv, ConvTranspose or 2-D Gemm with constant weights and bias, no fused activation,
    float output"""
    consts = all(v is None or v.is_constant for v in node.inputs[1:])
    return (node.op in LINEAR_OPS and consts and is_plain(node) and node.output.dtype.is_float
            and node.output.type.quant is None and node.inputs[0].type.quant is None)


def _scaled_weights(node: Node, s: np.ndarray) -> np.ndarray:
    w = node.inputs[1].const
    s = s.astype(w.dtype)
    if node.op == "Conv":  # (M, C/g, *K): scale rows
        return w * s.reshape((-1,) + (1,) * (w.ndim - 1))
    if node.op == "ConvTranspose":  # (C, M/g, *K), output channel m = group * M/g + j
        g = node.attrs["group"]
        k = w.shape[2:]
        wg = w.reshape(g, w.shape[0] // g, w.shape[1], *k)
        return (wg * s.reshape(g, 1, w.shape[1], *([1] * len(k)))).reshape(w.shape)
    return w * s[None, :] if not node.attrs["transB"] else w * s[:, None]  # Gemm B: (K, N)


def fold_output_affine(rw, node: Node, s: np.ndarray, t: np.ndarray) -> Value:
    """A copy of linear op `node` (see LINEAR_OPS) computing s * node(x) + t per output channel."""
    dtype = node.output.dtype
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    attrs_ = dict(node.attrs)
    beta = 1.0
    if node.op == "Gemm":  # y = alpha * A@B + beta * C  ->  C' = s * beta * C + t, beta' = 1
        beta, attrs_["beta"] = attrs_["beta"], 1.0
    bias = t if b is None else s * beta * b.const.astype(np.float64) + t
    bias = np.broadcast_to(bias, np.broadcast_shapes(bias.shape, (node.output.shape[1],)))
    w_new = w if np.all(s == 1) else rw.constant(_scaled_weights(node, s), dtype=w.dtype)
    return rw.op(node.op, x, w_new, rw.constant(bias, dtype=dtype), **attrs_)
