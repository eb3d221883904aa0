"""Fusion passes on hand-built graphs, checked against torch (an implementation we did not write)
and for the structure they promise: BatchNorm (+ Caffe Scale) folded into Conv / ConvTranspose /
Gemm, constant affine folded, activations attached, Pad merged, conv + max-pool fused by rule."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from npucc.ir import Graph, TensorType, run_graph
from npucc.passes import PassManager, default_pipeline
from npucc.passes.fuse_conv_pool import FuseConvPool

RNG = np.random.default_rng(0)


def rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def ops(graph):
    return [n.op for n in graph.nodes]


def bn_params(c):
    return rand(c, lo=0.5, hi=1.5), rand(c), rand(c), rand(c, lo=0.5, hi=2.0)


def run(graph, *inputs):
    return run_graph(graph, list(inputs))


@pytest.mark.parametrize("group", [1, 2])
def test_conv_batchnorm_caffe_scale_relu_is_one_conv_matching_torch(group):
    g = Graph()
    x = g.add_input("x", TensorType((2, 4, 7, 6), "f32"))
    w, b = rand(6, 4 // group, 3, 3), rand(6)
    scale, bias, mean, var = bn_params(6)
    mul, add = rand(6, 1, 1, lo=0.5, hi=2.0), rand(6, 1, 1)
    y = g.op("Conv", x, g.add_constant(w), g.add_constant(b), pads=(1, 1, 1, 1), group=group,
             provenance=["conv1"])
    ones, zeros = np.ones(6, np.float32), np.zeros(6, np.float32)
    y = g.op("BatchNorm", y, g.add_constant(ones), g.add_constant(zeros), g.add_constant(mean),
             g.add_constant(var), epsilon=1e-5, provenance=["bn1"])  # Caffe: BN without affine
    y = g.op("Add", g.op("Mul", y, g.add_constant(mul), provenance=["scale1"]),
             g.add_constant(add), provenance=["scale1"])
    y = g.op("Relu", y, provenance=["relu1"])
    g.set_outputs([y])
    before = g.copy()
    PassManager(default_pipeline()).run(g)
    assert ops(g) == ["Conv"]
    (conv,) = g.nodes
    assert conv.attrs["activation"] == "relu"
    assert conv.provenance == {"conv1", "bn1", "scale1", "relu1"}
    xv = rand(2, 4, 7, 6)
    ref = F.conv2d(t(xv), t(w), t(b), padding=1, groups=group)
    ref = F.batch_norm(ref, t(mean), t(var), eps=1e-5)
    ref = F.relu(ref * t(mul) + t(add)).numpy()
    np.testing.assert_allclose(run(g, xv)[0], ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(run(g, xv)[0], run(before, xv)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("group", [1, 3])
def test_conv_transpose_batchnorm_matches_torch(group):
    g = Graph()
    x = g.add_input("x", TensorType((1, 6, 4, 5), "f32"))
    w = rand(6, 2, 3, 3)  # (C, M/group, kH, kW)
    scale, bias, mean, var = bn_params(2 * group)
    y = g.op("ConvTranspose", x, g.add_constant(w), strides=(2, 2), pads=(1, 1, 0, 0),
             group=group)
    y = g.op("BatchNorm", y, *map(g.add_constant, (scale, bias, mean, var)))
    g.set_outputs([y])
    PassManager("fuse-batchnorm").run(g)
    assert ops(g) == ["ConvTranspose"]
    xv = rand(1, 6, 4, 5)
    ref = F.conv_transpose2d(t(xv), t(w), stride=2, groups=group)[:, :, 1:, 1:]
    ref = F.batch_norm(ref, t(mean), t(var), t(scale), t(bias), eps=1e-5).numpy()
    np.testing.assert_allclose(run(g, xv)[0], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_batchnorm_and_mul_fold_matches_torch(trans_b):
    g = Graph()
    x = g.add_input("x", TensorType((3, 5), "f32"))
    w, c = (rand(4, 5) if trans_b else rand(5, 4)), rand(4)
    scale, bias, mean, var = bn_params(4)
    m = rand(4, lo=0.5, hi=2)
    y = g.op("Gemm", x, g.add_constant(w), g.add_constant(c), alpha=0.5, beta=2.0,
             transB=trans_b)
    y = g.op("BatchNorm", y, *map(g.add_constant, (scale, bias, mean, var)))
    y = g.op("Mul", g.add_constant(m), y)
    g.set_outputs([y])
    PassManager("fold-conv-affine").run(g)
    assert ops(g) == ["Gemm"]
    xv = rand(3, 5)
    wt = t(w).T if trans_b else t(w)
    ref = 0.5 * t(xv) @ wt + 2.0 * t(c)
    ref = (F.batch_norm(ref, t(mean), t(var), t(scale), t(bias), eps=1e-5) * t(m)).numpy()
    np.testing.assert_allclose(run(g, xv)[0], ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op, const, expect", [
    ("Sub", "after", "fold"), ("Sub", "before", "fold"), ("Div", "after", "fold"),
    ("Div", "before", "keep"),  # c / conv is not affine in conv
])
def test_constant_arithmetic_after_conv(op, const, expect):
    g = Graph()
    x = g.add_input("x", TensorType((1, 2, 5, 5), "f32"))
    c = g.add_constant(rand(1, 3, 1, 1, lo=0.5, hi=2))
    y = g.op("Conv", x, g.add_constant(rand(3, 2, 3, 3)))
    y = g.op(op, y, c) if const == "after" else g.op(op, c, y)
    g.set_outputs([y])
    before = g.copy()
    PassManager("fold-conv-affine").run(g)
    assert ops(g) == (["Conv"] if expect == "fold" else ["Conv", op])
    xv = rand(1, 2, 5, 5)
    np.testing.assert_allclose(run(g, xv)[0], run(before, xv)[0], rtol=1e-4, atol=1e-5)


def test_non_per_channel_constant_is_not_folded():
    g = Graph()
    x = g.add_input("x", TensorType((1, 2, 5, 5), "f32"))
    y = g.op("Conv", x, g.add_constant(rand(3, 2, 3, 3)))
    g.set_outputs([g.op("Mul", y, g.add_constant(rand(3, 3, 1)))])  # varies along H
    PassManager("fold-conv-affine").run(g)
    assert ops(g) == ["Conv", "Mul"]


@pytest.mark.parametrize("act, attrs, torch_fn", [
    ("Relu", {}, F.relu),
    ("Clip", {"min": 0.0, "max": 6.0}, F.relu6),
    ("LeakyRelu", {"alpha": 0.1}, lambda y: F.leaky_relu(y, 0.1)),
    ("HardSwish", {}, F.hardswish),
    ("Sigmoid", {}, torch.sigmoid),
])
def test_activation_fused_into_conv_matches_torch(act, attrs, torch_fn):
    g = Graph()
    x = g.add_input("x", TensorType((1, 3, 6, 6), "f32"))
    w = rand(4, 3, 3, 3)
    y = g.op(act, g.op("Conv", x, g.add_constant(w), pads=(1, 1, 1, 1)), **attrs)
    g.set_outputs([y])
    PassManager("fuse-activation").run(g)
    assert ops(g) == ["Conv"]
    xv = rand(1, 3, 6, 6, lo=-4, hi=4)
    ref = torch_fn(F.conv2d(t(xv), t(w), padding=1)).numpy()
    np.testing.assert_allclose(run(g, xv)[0], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("slope_shape, kind", [((4, 1, 1), "prelu"), ((1,), "leaky_relu")])
def test_prelu_fused_per_channel_matches_torch(slope_shape, kind):
    g = Graph()
    x = g.add_input("x", TensorType((2, 3, 5, 5), "f32"))
    w = rand(4, 3, 3, 3)
    slope = rand(*slope_shape, lo=0, hi=0.5)
    y = g.op("PRelu", g.op("Conv", x, g.add_constant(w)), g.add_constant(slope))
    g.set_outputs([y])
    PassManager("fuse-activation").run(g)
    (conv,) = g.nodes
    assert conv.attrs["activation"] == kind
    xv = rand(2, 3, 5, 5, lo=-3, hi=3)
    ref = F.prelu(F.conv2d(t(xv), t(w)), t(slope.reshape(-1))).numpy()
    np.testing.assert_allclose(run(g, xv)[0], ref, rtol=1e-5, atol=1e-6)


def test_activation_not_fused_into_multi_use_conv():
    g = Graph()
    x = g.add_input("x", TensorType((1, 3, 6, 6), "f32"))
    y = g.op("Conv", x, g.add_constant(rand(4, 3, 3, 3)))
    g.set_outputs([g.op("Relu", y), y])
    PassManager("fuse-activation").run(g)
    assert ops(g) == ["Conv", "Relu"]


# Rockchip NPU guidance, written out independently of the pass's rule table:
# 2x2/s2 fuses over an even input; 3x3/s2 over an odd input other than 1 with width < 64 (8-bit)
# or < 32 (16-bit); nothing else fuses.
@pytest.mark.parametrize("k, s, h, w, bits, fuses", [
    (2, 2, 8, 8, 8, True), (2, 2, 7, 8, 8, False), (2, 2, 8, 7, 8, False),
    (3, 2, 9, 9, 8, True), (3, 2, 8, 9, 8, False), (3, 2, 9, 63, 8, True), (3, 2, 9, 65, 8, False),
    (3, 2, 9, 31, 16, True), (3, 2, 9, 33, 16, False),
    (2, 1, 8, 8, 8, False), (3, 1, 9, 9, 8, False), (4, 2, 8, 8, 8, False),
])
def test_conv_relu_maxpool_fused_by_rockchip_rules(k, s, h, w, bits, fuses):
    g = Graph()
    x = g.add_input("x", TensorType((1, 2, h, w), "f32"))
    wt = rand(3, 2, 3, 3)
    y = g.op("Conv", x, g.add_constant(wt), pads=(1, 1, 1, 1), activation="relu",
             provenance=["conv"])
    g.set_outputs([g.op("MaxPool", y, kernel_shape=(k, k), strides=(s, s), provenance=["pool"])])
    PassManager([FuseConvPool(bits=bits)]).run(g)
    assert ops(g) == (["Conv"] if fuses else ["Conv", "MaxPool"])
    if fuses:
        (conv,) = g.nodes
        assert conv.provenance == {"conv", "pool"}
    xv = rand(1, 2, h, w)
    ref = F.max_pool2d(F.relu(F.conv2d(t(xv), t(wt), padding=1)), k, s).numpy()
    np.testing.assert_allclose(run(g, xv)[0], ref, rtol=1e-5, atol=1e-6)


def test_size_one_input_is_excluded_for_3x3():
    from npucc.targets import get_target

    rule = next(r for r in get_target("rk1808").pool_fusion if r.kernel == 3)
    assert "excluded" in rule.why_not(1, 1, 8) and rule.why_not(3, 3, 8) is None


def test_pads_merge_into_conv_and_pools():
    g = Graph()
    x = g.add_input("x", TensorType((1, 2, 6, 6), "f32"))
    y = g.op("Pad", x, pads=(0, 0, 1, 2, 0, 0, 1, 0))
    y = g.op("Conv", y, g.add_constant(rand(3, 2, 3, 3)), pads=(1, 0, 0, 1), activation="relu")
    m = g.op("MaxPool", g.op("Pad", y, pads=(0, 0, 1, 1, 0, 0, 1, 1), value=0.0),
             kernel_shape=(3, 3), strides=(2, 2))  # 0-padding of a relu output: exact
    a = g.op("AveragePool", g.op("Pad", y, pads=(0, 0, 1, 1, 0, 0, 0, 0)), kernel_shape=(2, 2))
    n = g.op("MaxPool", g.op("Pad", x, pads=(0, 0, 1, 1, 0, 0, 1, 1), value=0.0),
             kernel_shape=(3, 3))  # x may be negative: the 0-padding must stay
    g.set_outputs([m, a, n])
    before = g.copy()
    PassManager("fuse-pad").run(g)
    assert ops(g) == ["Conv", "MaxPool", "AveragePool", "Pad", "MaxPool"]
    conv = next(iter(g.nodes))
    assert conv.attrs["pads"] == (2, 2, 1, 1)
    xv = rand(1, 2, 6, 6)
    for got, want in zip(run(g, xv), run(before, xv)):
        np.testing.assert_array_equal(got, want)
