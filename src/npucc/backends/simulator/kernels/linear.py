"""Gemm, MatMul and BatchNorm: BLAS matmul straight into the output buffer, constants laid out once
(Gemm's B transposed to (K, N), beta * C precomputed, BatchNorm's 1/sqrt(var + eps) precomputed)."""

from __future__ import annotations

import numpy as np

from . import BuildContext, activation_in_place, fast_kernel, is_f32


def _activated(ctx: BuildContext, out: np.ndarray, compute):
    act = activation_in_place(ctx.attrs["activation"], ctx.attrs["activation_params"])
    if act is None:
        return compute

    def step():
        compute()
        act(out)

    return step


@fast_kernel("Gemm")
def gemm(ctx: BuildContext):
    a, b, c = (ctx.inputs + [None])[:3]
    (out,) = ctx.outputs
    if not is_f32(a, b, c):
        return None
    at = ctx.attrs
    a = a.T if at["transA"] else a
    b = b.T if at["transB"] else b
    if ctx.is_const(1):
        b = np.ascontiguousarray(b)
    alpha, beta = np.float32(at["alpha"]), np.float32(at["beta"])
    scaled = alpha != 1
    # the reference's c * beta, computed once when C is a constant
    c_beta = c * beta if c is not None and ctx.is_const(2) else None

    def compute():
        np.matmul(a, b, out=out)
        if scaled:
            np.multiply(out, alpha, out=out)
        if c is not None:
            np.add(out, c * beta if c_beta is None else c_beta, out=out)

    return _activated(ctx, out, compute)


@fast_kernel("MatMul")
def matmul(ctx: BuildContext):
    a, b = ctx.inputs
    (out,) = ctx.outputs
    if not is_f32(a, b) or a.ndim < 2 or b.ndim < 2:
        return None
    if ctx.is_const(1):
        b = np.ascontiguousarray(b)
    return _activated(ctx, out, lambda: np.matmul(a, b, out=out))


@fast_kernel("BatchNorm", inplace=lambda node: (0,))
def batch_norm(ctx: BuildContext):
    x, scale, bias, mean, var = ctx.inputs
    (out,) = ctx.outputs
    if not is_f32(x) or not all(ctx.is_const(k) for k in range(1, 5)):
        return None
    shape = (-1,) + (1,) * (x.ndim - 2)
    inv = (scale / np.sqrt(var + np.float32(ctx.attrs["epsilon"]))).reshape(shape)
    mean, bias = mean.reshape(shape), bias.reshape(shape)

    def step():
        np.subtract(x, mean, out=out)
        np.multiply(out, inv, out=out)
        np.add(out, bias, out=out)

    return step
