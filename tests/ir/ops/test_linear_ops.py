"""Gemm, MatMul and BatchNorm against onnxruntime."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ir.ops.onnx_oracle import check_against_onnx
from tests.ir.ops.strategies import activations, random_array, seeds

DTYPES = st.sampled_from([np.float32] * 3 + [np.float16])
F16_TOL = (2e-2, 2e-2)


def _tol(dtype):
    return F16_TOL if dtype == np.float16 else None


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.booleans(), st.booleans(),
       st.sampled_from([None, "scalar", "n", "1n", "m1", "mn"]),
       st.floats(-2, 2), st.floats(-2, 2), activations(), DTYPES, seeds)
def test_gemm_matches_onnxruntime(m, k, n, trans_a, trans_b, c_kind, alpha, beta, act, dtype,
                                  seed):
    rng = np.random.default_rng(seed)
    a = random_array(rng, (k, m) if trans_a else (m, k), dtype)
    b = random_array(rng, (n, k) if trans_b else (k, n), dtype)
    c_shape = {None: None, "scalar": (), "n": (n,), "1n": (1, n), "m1": (m, 1),
               "mn": (m, n)}[c_kind]
    c = None if c_shape is None else random_array(rng, c_shape, dtype)
    onnx_attrs = dict(alpha=alpha, beta=beta, transA=int(trans_a), transB=int(trans_b))
    attrs = dict(onnx_attrs, activation=act[0], activation_params=act[1])
    check_against_onnx("Gemm", [a, b, c], attrs, onnx_attrs=onnx_attrs, const={1, 2},
                       activation=act, tolerance=_tol(dtype))


@st.composite
def matmul_shapes(draw):
    m, k, n = (draw(st.integers(1, 5)) for _ in range(3))
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    # each operand takes a suffix of the batch dims, some of them broadcast as 1
    a_batch = [d if draw(st.booleans()) else 1 for d in batch[len(batch) - draw(
        st.integers(0, len(batch))):]]
    b_batch = [d if draw(st.booleans()) else 1 for d in batch[len(batch) - draw(
        st.integers(0, len(batch))):]]
    a = [k] if draw(st.integers(0, 4)) == 0 else a_batch + [m, k]
    b = [k] if draw(st.integers(0, 4)) == 0 else b_batch + [k, n]
    return a, b


@settings(deadline=None, max_examples=40)
@given(matmul_shapes(), activations(), st.sampled_from([np.float32] * 3 + [np.float16, np.int32]),
       seeds)
def test_matmul_matches_onnxruntime(shapes, act, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = (random_array(rng, s, dtype) for s in shapes)
    if dtype == np.int32:
        act = ("none", ())
    attrs = dict(activation=act[0], activation_params=act[1])
    check_against_onnx("MatMul", [a, b], attrs, onnx_attrs={}, activation=act,
                       tolerance=_tol(dtype))


@settings(deadline=None, max_examples=30)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.floats(1e-6, 1e-2), DTYPES,
       seeds)
def test_batch_norm_matches_onnxruntime(shape, epsilon, dtype, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = random_array(rng, shape, dtype)
    scale, bias, mean = (random_array(rng, [c], dtype) for _ in range(3))
    var = (rng.random(c) + 0.1).astype(dtype)
    check_against_onnx("BatchNorm", [x, scale, bias, mean, var], {"epsilon": epsilon},
                       onnx_op="BatchNormalization", const={1, 2, 3, 4}, opset=15,
                       tolerance=_tol(dtype))


@pytest.mark.parametrize("equation, shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk", [(2, 3, 4), (2, 4, 5)]), ("ji", [(3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (3, 4, 2)]), ("ii->i", [(3, 3)]), ("i,i->", [(5,), (5,)]),
    ("b...c->c...b", [(2, 3, 4, 5)])])
def test_einsum_shapes_are_numpys(equation, shapes):
    from npucc.ir.ops.linear import einsum_shape

    want = np.einsum(equation, *[np.zeros(s, np.float32) for s in shapes]).shape
    assert einsum_shape(equation, shapes) == want


@pytest.mark.parametrize("equation, shapes, message", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "subscript 'j' is 3 and 4"),
    ("ij,jk", [(2, 3)], "has 2 operands, the node 1"),
    ("ij->ik", [(2, 3)], "must be distinct input subscripts"),
    ("ijk", [(2, 3)], "does not fit an operand of shape [2, 3]")])
def test_einsum_equations_that_do_not_fit_are_errors(equation, shapes, message):
    from npucc.errors import IRError
    from npucc.ir.ops.linear import einsum_shape

    with pytest.raises(IRError, match=re.escape(message)):
        einsum_shape(equation, shapes)
