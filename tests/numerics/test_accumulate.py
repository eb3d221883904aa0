"""Exact integer accumulation in float BLAS: reductions whose bound exceeds 2**24 are cut into
float32 GEMMs summed in float64, and must still equal an int64 correlation computed tap by tap."""

from __future__ import annotations

import numpy as np
import pytest

from npucc.ir import Graph, QuantParams, TensorType
from npucc.numerics.accumulate import constant_weight_gemm

W8 = dict(narrow_range=True)


def _graph(op: str, c: int, m: int, h: int, k: int, rng):
    g = Graph("q", "affine")
    xq = QuantParams.affine(0.02, 3)
    if op == "Conv":
        x = g.add_input("x", TensorType((1, c, h, h), "u8", xq))
        w = g.add_constant(rng.integers(-127, 128, (m, c, k, k)).astype(np.int8), "w",
                           quant=QuantParams.affine(np.full(m, 1e-3), 0, axis=0, **W8))
        y = TensorType((1, m, h, h), "u8", QuantParams.affine(0.5, 0))
        node = g.add_node("Conv", [x, w], {"pads": [k // 2] * 4}, output_types=[y])
        return node, (1, -1, 1, 1)
    x = g.add_input("x", TensorType((3, c), "u8", xq))
    w = g.add_constant(rng.integers(-127, 128, (c, m)).astype(np.int8), "w",
                       quant=QuantParams.affine(np.full(m, 1e-3), 0, axis=1, **W8))
    node = g.add_node("Gemm", [x, w], {}, output_types=[
        TensorType((3, m), "u8", QuantParams.affine(0.5, 0))])
    return node, (1, -1)


def _reference(node, xa) -> np.ndarray:
    w = node.inputs[1].const.astype(np.int64)
    xs = xa.astype(np.int64) - 3
    if node.op == "Gemm":
        return xs @ w
    k, h = w.shape[2], xa.shape[2]
    xs = np.pad(xs, [(0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)])
    out = np.zeros((1, w.shape[0], h, h), np.int64)
    for i in range(k):
        for j in range(k):
            out += np.einsum("nchw,mc->nmhw", xs[:, :, i:i + h, j:j + h], w[:, :, i, j])
    return out


@pytest.mark.parametrize("op,c,m,h,k", [("Conv", 512, 16, 5, 3), ("Gemm", 2048, 64, 1, 1),
                                        ("Conv", 64, 8, 6, 3)])
def test_split_float32_gemms_sum_exactly(op, c, m, h, k):
    rng = np.random.default_rng(1)
    node, bshape = _graph(op, c, m, h, k, rng)
    gemm = constant_weight_gemm(node, 3, np.zeros(()), bshape)
    xa = rng.integers(0, 256, node.inputs[0].shape).astype(np.uint8)
    acc = gemm.accumulate(xa) + gemm.offset
    assert np.array_equal(acc, _reference(node, xa))
    if gemm.raw_bound.max() >= 2 ** 24:  # exact although no float32 sum of it all would be
        assert gemm.accumulate(xa).dtype == np.float64
