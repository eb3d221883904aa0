"""Exact integer accumulation in float BLAS: reductions whose bound exceeds 2**24 are cut into
float32 GEMMs summed in float64, and must still equal an int64 correlation computed tap by tap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@st.composite
def conv_geometries(draw):
    rank = draw(st.sampled_from([1, 2]))
    kernel = [draw(st.integers(1, 4)) for _ in range(rank)]
    strides = [draw(st.integers(1, 3)) for _ in range(rank)]
    dilations = [draw(st.integers(1, 3)) for _ in range(rank)]
    pads = [draw(st.integers(0, 3)) for _ in range(2 * rank)]
    size = [draw(st.integers(1, 9)) for _ in range(rank)]
    for i in range(rank):  # at least one output position
        size[i] = max(size[i], (kernel[i] - 1) * dilations[i] + 1 - pads[i] - pads[i + rank])
    group = draw(st.sampled_from([1, 2]))
    c, m = group * draw(st.integers(1, 3)), group * draw(st.integers(1, 3))
    return rank, kernel, strides, dilations, pads, size, draw(st.integers(1, 2)), c, m, group, \
        draw(st.sampled_from(["u8", "i8"])), draw(st.integers(0, 2 ** 32 - 1))


@settings(max_examples=80)
@given(conv_geometries())
def test_conv_accumulation_through_stride_phases_is_the_int64_correlation(geometry):
    """Every Conv geometry the GEMM path takes (1-D and 2-D; strides, dilations, asymmetric
    pads, groups, batches; 1x1 strided or padded convs read straight from their phase image)
    accumulates sum((x - zx) * w) exactly: the int64 correlation computed tap by tap."""
    rank, kernel, strides, dilations, pads, size, n, c, m, group, dtype, seed = geometry
    rng = np.random.default_rng(seed)
    lo, hi = (0, 255) if dtype == "u8" else (-128, 127)
    zx = int(rng.integers(lo, hi + 1))
    out = [(size[i] + pads[i] + pads[i + rank] - (kernel[i] - 1) * dilations[i] - 1)
           // strides[i] + 1 for i in range(rank)]
    g = Graph("q", "affine")
    x = g.add_input("x", TensorType((n, c, *size), dtype, QuantParams.affine(0.02, zx)))
    wa = rng.integers(-127, 128, (m, c // group, *kernel)).astype(np.int8)
    w = g.add_constant(wa, "w", quant=QuantParams.affine(np.full(m, 1e-3), 0, axis=0, **W8))
    node = g.add_node("Conv", [x, w], {"pads": pads, "strides": strides, "dilations": dilations,
                                       "group": group}, output_types=[
        TensorType((n, m, *out), dtype, QuantParams.affine(0.5, 0))])
    gemm = constant_weight_gemm(node, zx, np.zeros(()), (1, -1) + (1,) * rank)
    xa = rng.integers(lo, hi + 1, (n, c, *size)).astype(np.uint8 if dtype == "u8" else np.int8)
    acc = gemm.accumulate(xa) + gemm.offset
    # int64 reference: pad with zx, then sum over taps of strided windows
    xs = np.pad(xa.astype(np.int64), [(0, 0), (0, 0)] + [(pads[i], pads[i + rank])
                                                         for i in range(rank)],
                constant_values=zx) - zx
    want = np.zeros((n, m, *out), np.int64)
    cg, mg = c // group, m // group
    for tap in np.ndindex(*kernel):
        win = xs[(slice(None), slice(None)) + tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s)
            for t, d, o, s in zip(tap, dilations, out, strides))]
        for gi in range(group):
            wt = wa[gi * mg:(gi + 1) * mg][(slice(None), slice(None)) + tap].astype(np.int64)
            want[:, gi * mg:(gi + 1) * mg] += np.einsum("nc...,mc->nm...",
                                                        win[:, gi * cg:(gi + 1) * cg], wt)
    np.testing.assert_array_equal(acc, want)
