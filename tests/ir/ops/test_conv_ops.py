"""Conv and ConvTranspose against onnxruntime (1-D and 2-D, groups, dilation, pads, fused
activations, float32 and float16)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ir.ops.onnx_oracle import check_against_onnx
from tests.ir.ops.strategies import activations, random_array, seeds

F16_TOL = (2e-2, 2e-2)


@st.composite
def conv_cases(draw, transpose: bool):
    sr = draw(st.sampled_from([1, 2]))
    group = draw(st.integers(1, 3))
    cg, mg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 4)) for _ in range(sr)]
    strides = [draw(st.integers(1, 3)) for _ in range(sr)]
    dilations = [draw(st.integers(1, 2)) for _ in range(sr)]
    pads = [draw(st.integers(0, 2)) for _ in range(2 * sr)]
    spatial = []
    for i in range(sr):
        eff = (kernel[i] - 1) * dilations[i] + 1
        if transpose:
            # output s*(in-1) + eff - pads must stay >= 1
            lo = max(1, -(-(pads[i] + pads[i + sr] - eff + 1) // strides[i]) + 1)
        else:
            lo = max(1, eff - pads[i] - pads[i + sr])
        spatial.append(draw(st.integers(lo, lo + 5)))
    return dict(sr=sr, group=group, cg=cg, mg=mg, kernel=kernel, strides=strides,
                dilations=dilations, pads=pads, spatial=spatial,
                n=draw(st.integers(1, 2)), bias=draw(st.booleans()),
                act=draw(activations()),
                dtype=draw(st.sampled_from([np.float32] * 3 + [np.float16])),
                seed=draw(seeds))


def _run(op, case, w_shape, extra_attrs):
    rng = np.random.default_rng(case["seed"])
    dtype = case["dtype"]
    c = case["cg"] * case["group"]
    m = case["mg"] * case["group"]
    x = random_array(rng, [case["n"], c] + case["spatial"], dtype)
    w = random_array(rng, w_shape, dtype)
    b = random_array(rng, [m], dtype) if case["bias"] else None
    onnx_attrs = dict(strides=case["strides"], pads=case["pads"], dilations=case["dilations"],
                      group=case["group"], **extra_attrs)
    kind, params = case["act"]
    attrs = dict(onnx_attrs, activation=kind, activation_params=params)
    check_against_onnx(op, [x, w, b], attrs, onnx_attrs=onnx_attrs, const={1, 2},
                       activation=case["act"],
                       tolerance=F16_TOL if dtype == np.float16 else None)


@settings(deadline=None, max_examples=40)
@given(conv_cases(transpose=False))
def test_conv_matches_onnxruntime(case):
    w_shape = [case["mg"] * case["group"], case["cg"]] + case["kernel"]
    _run("Conv", case, w_shape, {})


@settings(deadline=None, max_examples=40)
@given(conv_cases(transpose=True), st.data())
def test_conv_transpose_matches_onnxruntime(case, data):
    sr = case["sr"]
    output_padding = [data.draw(st.integers(0, s - 1)) for s in case["strides"]]
    w_shape = [case["cg"] * case["group"], case["mg"]] + case["kernel"]
    assert len(output_padding) == sr
    _run("ConvTranspose", case, w_shape, {"output_padding": output_padding})


@settings(deadline=None, max_examples=25)
@given(conv_cases(transpose=True))
def test_conv_transpose_kernel_equal_to_stride_matches_onnxruntime(case):
    """the tiled path (kernel == stride, no dilation, no output_padding), pads cropping it"""
    sr = case["sr"]
    case = dict(case, strides=list(case["kernel"]), dilations=[1] * sr)
    case["spatial"] = [max(n, (case["pads"][i] + case["pads"][i + sr]) // k + 1)
                       for i, (n, k) in enumerate(zip(case["spatial"], case["kernel"]))]
    w_shape = [case["cg"] * case["group"], case["mg"]] + case["kernel"]
    _run("ConvTranspose", case, w_shape, {"output_padding": [0] * sr})
