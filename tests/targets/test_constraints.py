"""Each NPU constraint on hand-built nodes: hit and passed. The expected limits are written out
here from the sources the target files cite (issue 12, TK1/TK2 op support docs), not read back
from the target files."""

from __future__ import annotations

import numpy as np
import pytest

from npucc.ir.graph import Graph
from npucc.ir.types import DType, QuantParams, TensorType
from npucc.targets import CONSTRAINTS, get_target
from npucc.targets.legalize import check_node


def broken(node, target, precision="int8") -> dict[str, str]:
    """{rule: detail} of every rule of `target` the node breaks."""
    return {v.rule: v.detail for v in check_node(node, get_target(target), precision)}


def conv(kernel=(3, 3), strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), size=(40, 40),
         **attrs):
    g = Graph()
    x = g.add_input("x", TensorType((1, 2, *size), "f32"))
    w = g.add_constant(np.zeros((4, 2, *kernel), np.float32))
    y = g.op("Conv", x, w, strides=strides, pads=pads, dilations=dilations, **attrs)
    return y.producer


def single(op, shape=(1, 4, 8, 8), dtype="f32", **attrs):
    g = Graph()
    x = g.add_input("x", TensorType(shape, dtype))
    return g.op(op, x, **attrs).producer


# ---- convolutions ----

@pytest.mark.parametrize("kernel, strides, ok", [
    ((3, 3), (1, 1), True), ((1, 1), (1, 1), True), ((10, 10), (1, 1), True),
    ((11, 11), (1, 1), False),            # stride 1: at most 11*1 - 1 = 10
    ((11, 11), (2, 2), True), ((21, 21), (2, 2), True),  # stride 2: at most 21
    ((22, 3), (2, 2), False), ((3, 11), (1, 1), False),   # checked per axis
])
def test_rknpu1_kernel_at_most_11_stride_minus_1(kernel, strides, ok):
    node = conv(kernel, strides)
    got = broken(node, "rk1808")
    assert ("kernel_stride_limit" not in got) == ok
    if not ok:
        assert f"kernel {kernel[0]}x{kernel[1]}" in got["kernel_stride_limit"]


@pytest.mark.parametrize("kernel, strides, pads, rule, ok", [
    ((31, 31), (1, 1), (0, 0, 0, 0), "kernel_size_range", True),
    ((32, 1), (1, 1), (0, 0, 0, 0), "kernel_size_range", False),  # TK2: kernel [1, 31]
    ((3, 3), (7, 7), (0, 0, 0, 0), "stride_range", True),
    ((3, 3), (8, 1), (0, 0, 0, 0), "stride_range", False),        # TK2: stride [1, 7]
    ((3, 3), (1, 1), (15, 0, 15, 0), "pad_range", True),
    ((3, 3), (1, 1), (0, 16, 0, 0), "pad_range", False),          # TK2: pad [0, 15]
])
def test_rknpu2_conv_limits(kernel, strides, pads, rule, ok):
    got = broken(conv(kernel, strides, pads), "rk3588")
    assert (rule not in got) == ok, got


@pytest.mark.parametrize("dilations, ok", [((1, 1), True), ((2, 2), True), ((1, 3), True),
                                           ((3, 1), True), ((2, 3), False), ((4, 2), False)])
@pytest.mark.parametrize("target", ["rk1808", "rk3588"])
def test_mixed_dilation_rejected(dilations, ok, target):
    got = broken(conv(dilations=dilations), target)
    assert ("dilation_not_mixed" not in got) == ok
    if not ok:
        assert got["dilation_not_mixed"] == f"dilations {dilations[0]}x{dilations[1]}"


def test_fused_pool_must_match_a_fusion_rule():
    # a 2x2/2 pool fuses over an even input on RKNPU1; not over an odd one; never on RKNPU2
    even = conv(pads=(1, 1, 1, 1), size=(8, 8), pool_kernel=(2, 2), pool_strides=(2, 2))
    odd = conv(pads=(1, 1, 1, 1), size=(9, 9), pool_kernel=(2, 2), pool_strides=(2, 2))
    assert "fused_pool_fits" not in broken(even, "rk1808")
    assert "not even" in broken(odd, "rk1808")["fused_pool_fits"]
    assert "no rule fuses" in broken(even, "rk3588")["fused_pool_fits"]
    wide = conv(pads=(1, 1, 1, 1), size=(9, 65), pool_kernel=(3, 3), pool_strides=(2, 2))
    assert "below 64" in broken(wide, "rk1808", "int8")["fused_pool_fits"]  # width 65 >= 64
    narrow = conv(pads=(1, 1, 1, 1), size=(9, 31), pool_kernel=(3, 3), pool_strides=(2, 2))
    assert "fused_pool_fits" not in broken(narrow, "rk1808", "int16")  # 31 < 32 at 16 bits


# ---- pooling, padding, resize ----

@pytest.mark.parametrize("attrs, ok, what", [
    (dict(kernel_shape=(7, 7), strides=(8, 8), pads=(6, 6, 6, 6)), True, ""),
    (dict(kernel_shape=(8, 8)), False, "kernel 8x8"),          # TK2: kernel [1, 7]
    (dict(kernel_shape=(2, 2), strides=(9, 9)), False, "strides 9x9"),  # stride [1, 8]
])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_rknpu2_pool_window(attrs, ok, what, op):
    got = broken(single(op, (1, 4, 40, 40), **attrs), "rk3588")
    assert ("pool_window_range" not in got) == ok
    assert what in got.get("pool_window_range", "")


def test_pad_rules():
    nonzero = single("Pad", pads=(0, 0, 1, 1, 0, 0, 1, 1), value=1.5)
    assert "pad_value_zero_when_quantized" in broken(nonzero, "rk3588", "int8")
    assert "pad_value_zero_when_quantized" in broken(nonzero, "rk1808", "int16")
    assert "pad_value_zero_when_quantized" not in broken(nonzero, "rk3588", "fp16")
    zero = single("Pad", pads=(0, 0, 1, 1, 0, 0, 1, 1))
    assert not broken(zero, "rk3588", "int8")
    batch = single("Pad", pads=(1, 0, 0, 0, 0, 0, 0, 0))
    assert broken(batch, "rk1808")["pad_not_on_batch"] == "pads 1 before and 0 after the batch"
    reflect = single("Pad", pads=(0, 0, 1, 1, 0, 0, 1, 1), mode="reflect")
    assert broken(reflect, "rk3588")["pad_mode"] == "mode reflect"  # TK2: constant only
    assert "pad_mode" not in broken(reflect, "rk1808")


@pytest.mark.parametrize("size, ok", [((16, 16), True), ((8, 24), True), ((15, 15), False),
                                      ((4, 4), False), ((8, 12), False)])
def test_resize_scale_must_be_whole(size, ok):
    node = single("Resize", sizes=(1, 4, *size))  # from 8x8
    got = broken(node, "rk1808")
    assert ("resize_integral_scale" not in got) == ok


def test_resize_mode_rule_reads_the_target_file(tmp_path):
    path = tmp_path / "nearest_only.yaml"
    path.write_text("extends: rk3588\nname: nearest_only\n"
                    "constraints: {resize_mode: {modes: [nearest]}}\n")
    node = single("Resize", sizes=(1, 4, 16, 16), mode="linear")
    assert broken(node, str(path))["resize_mode"] == "mode linear"
    assert "resize_mode" not in broken(node, "rk3588")


# ---- op families ----

@pytest.mark.parametrize("op", ["Greater", "Less", "Equal", "And", "Or"])
def test_no_compare_or_logical_on_rknpu1(op):
    g = Graph()
    dtype = "bool" if op in ("And", "Or") else "f32"
    a = g.add_input("a", TensorType((1, 4), dtype))
    b = g.add_input("b", TensorType((1, 4), dtype))
    node = g.op(op, a, b).producer
    assert "no_compare_or_logical" in broken(node, "rk1808")
    assert "no_compare_or_logical" not in broken(node, "rk3588")


def test_softmax_not_on_1d_and_batch_one():
    assert "softmax_not_1d" in broken(single("Softmax", (10,), axis=0), "rk1808")
    assert "softmax_not_1d" not in broken(single("Softmax", (1, 10)), "rk1808")
    got = broken(single("Softmax", (2, 10)), "rk3588")
    assert got == {"batch_size_one": "batch 2"}  # TK2: softmax batchsize 1


def test_op_list():
    g = Graph()
    loc = g.add_input("loc", TensorType((1, 16), "f32"))
    conf = g.add_input("conf", TensorType((1, 12), "f32"))
    prior = g.add_input("prior", TensorType((1, 2, 16), "f32"))
    node = g.op("DetectionOutput", loc, conf, prior, num_classes=3).producer
    for target in ("rk1808", "rk3588", "rk3566", "rv1126"):
        assert broken(node, target)["op_in_target_list"] == \
            f"DetectionOutput is not in {target}'s NPU op list"
    assert "op_in_target_list" not in broken(node, "generic")
    assert not broken(conv(), "rk3588")


# ---- tensor types ----

def quantized_conv(x_dtype="i8", per_channel=False, dfp=False):
    g = Graph()
    if dfp:
        qx, qw, qy = (QuantParams.dfp(f, bits=16) for f in (8, 10, 6))
    else:
        zp = 128 if x_dtype == "u8" else 0
        qx, qy = QuantParams.affine(0.1, zp), QuantParams.affine(0.2, zp)
        qw = QuantParams.affine([0.01] * 4, 0, axis=0) if per_channel else \
            QuantParams.affine(0.01, 0)
    xdt = "i16" if dfp else x_dtype
    x = g.add_input("x", TensorType((1, 2, 8, 8), xdt, qx))
    w = g.add_constant(np.ones((4, 2, 3, 3)), dtype=DType.i16 if dfp else DType.i8, quant=qw)
    node = g.add_node("Conv", [x, w], {}, output_types=[TensorType((1, 4, 6, 6), xdt, qy)])
    return node


def test_tensor_types_per_target():
    assert "tensor_types_supported" not in broken(quantized_conv("i8", per_channel=True), "rk3588")
    got = broken(quantized_conv("u8"), "rk3588")["tensor_types_supported"]
    assert "%x is stored as u8" in got  # RKNPU2 has no asymmetric u8
    assert "per channel" in broken(quantized_conv("i8", per_channel=True),
                                   "rk1808")["tensor_types_supported"]  # RKNPU1: per tensor only
    assert "tensor_types_supported" not in broken(quantized_conv(dfp=True), "rk1808")
    # the precision a float node builds in must be one the target computes
    assert "computes in int16" in broken(conv(), "rk3566", "int16")["tensor_types_supported"]
    assert "tensor_types_supported" not in broken(conv(), "rk3588", "int16")
    # integer index tensors are not NPU data
    argmax = single("ArgMax", (1, 10), axis=1)
    assert "plain i64 tensor" in broken(argmax, "rk1808")["tensor_types_supported"]


def test_quantized_node_precision_comes_from_its_types():
    # a dfp16 conv computes in int16 whatever the build precision says
    node = quantized_conv(dfp=True)
    from npucc.targets.nodeinfo import node_precision

    assert node_precision(node, "int8") == "int16"
    assert node_precision(conv(), "fp16") == "fp16"


def test_every_constraint_names_real_ops_and_has_a_reason():
    from npucc.ir.registry import OPS

    for c in CONSTRAINTS.values():
        assert c.doc and c.doc.endswith("."), c.name
        assert c.ops is None or c.ops <= set(OPS), c.name
