"""Attribute validation and type-inference errors of the core ops: each invalid node is refused
when it is built, with a message naming the op and what is wrong."""

from __future__ import annotations

import pytest

from npucc.errors import IRError
from npucc.ir import Graph, TensorType
from npucc.ir.ops.elementwise import ACTIVATIONS
from npucc.ir.registry import OPS


def build(op, input_types, **attrs):
    g = Graph()
    values = [None if t is None else g.add_input(f"x{i}", TensorType(*t))
              for i, t in enumerate(input_types)]
    return g.op(op, *values, **attrs)


X4 = ((1, 4, 8, 8), "f32")
W = ((6, 4, 3, 3), "f32")
DETPP = {"max_detections": 2, "num_classes": 3, "nms_iou_threshold": 0.5, "y_scale": 10.0,
         "x_scale": 10.0, "h_scale": 5.0, "w_scale": 5.0}

ERRORS = [
    # schema: unknown, missing, wrong kind, bad value
    ("Conv", [X4, W], {"stride": (2, 2)},
     r"Conv: unknown attribute\(s\) stride \(known: .*strides"),
    ("MaxPool", [X4], {}, r"MaxPool: missing required attribute 'kernel_shape'"),
    ("Concat", [X4, X4], {}, r"Concat: missing required attribute 'axis'"),
    ("Conv", [X4, W], {"group": 1.5}, r"Conv: attribute 'group' must be int, got 1.5"),
    ("Conv", [X4, W], {"strides": (0, 1)}, r"'strides'=\(0, 1\): every entry must be > 0"),
    ("Conv", [X4, W], {"pads": (0, -1, 0, 0)}, r"'pads'=\(0, -1, 0, 0\): every entry must be >= 0"),
    ("Conv", [X4, W], {"group": 0}, r"'group'=0: must be >= 1"),
    ("Conv", [X4, W], {"activation": "gelu"}, r"'activation'='gelu' is not one of"),
    ("Pad", [X4], {"pads": (0,) * 8, "mode": "wrap"}, r"'mode'='wrap' is not one of"),
    ("Resize", [X4], {"sizes": (1, 4, 0, 8)}, r"'sizes'=\(1, 4, 0, 8\): every entry must be > 0"),
    ("Slice", [X4], {"starts": (0,), "ends": (1,), "steps": (0,)}, r"steps must be non-zero"),
    ("ReduceSum", [X4], {"axes": ()}, r"give None \(all axes\), not an empty list"),
    # inference: shapes and combinations
    ("Conv", [X4, ((6, 3, 3, 3), "f32")], {},
     r"X has 4 channels but W expects 3 \(W.shape\[1\]=3 per group x group=1\)"),
    ("Conv", [X4, ((6, 2, 3, 3), "f32")], {"group": 3},
     r"X has 4 channels, not divisible by group 3"),
    ("Conv", [X4, ((5, 2, 3, 3), "f32")], {"group": 2},
     r"W has 5 output channels, not divisible by group 2"),
    ("Conv", [X4, W, ((5,), "f32")], {}, r"B has shape \[5\], expected \[6\]"),
    ("Conv", [X4, ((6, 4, 9, 3), "f32")], {},
     r"kernel 9 \(dilated extent 9\) does not fit the padded input size 8 \+ 0 \+ 0"),
    ("Conv", [X4, W], {"dilations": (5, 1)},
     r"kernel 3 \(dilated extent 11\) does not fit"),
    ("Conv", [X4, W], {"strides": (1,)}, r"strides \(1,\) has 1 entries, the input has 2 spatial"),
    ("Conv", [((1, 4, 8), "f32"), ((6, 4, 3), "f32")], {},
     r"strides \(1, 1\) has 2 entries, the input has 1 spatial dims"),
    ("Conv", [((1, 4, 2, 8, 8), "f32"), ((6, 4, 1, 3, 3), "f32")], {},
     r"X must be N,C \+ 1 or 2 spatial dims \(rank 3 or 4\), got shape \[1, 4, 2, 8, 8\]"),
    ("Conv", [X4, ((6, 4, 3, 3), "f16")], {}, r"W is f16 but X is f32"),
    ("Conv", [X4, W], {"activation": "leaky_relu"},
     r"fused activation leaky_relu takes 1 parameters"),
    ("ConvTranspose", [X4, ((3, 2, 3, 3), "f32")], {},
     r"X has 4 channels but W has 3 input channels"),
    ("ConvTranspose", [X4, ((4, 2, 3, 3), "f32")], {"output_padding": (1, 0)},
     r"output_padding 1 on spatial axis 0 must be smaller than the stride 1 or the dilation 1"),
    ("MaxPool", [X4], {"kernel_shape": (2, 2), "pads": (2, 0, 0, 0)},
     r"pads \(2, 0\) on spatial axis 0 must be smaller than the kernel size 2"),
    ("AveragePool", [X4], {"kernel_shape": (3,)}, r"kernel_shape \(3,\) has 1 entries"),
    ("Gemm", [((2, 3), "f32"), ((4, 5), "f32")], {},
     r"inner dimensions differ: op\(A\) is \(2, 3\) and op\(B\) is \(4, 5\)"),
    ("Gemm", [((2, 3), "f32"), ((3, 5), "f32"), ((3, 5), "f32")], {},
     r"C of shape \[3, 5\] does not broadcast to the output \(2, 5\)"),
    ("MatMul", [((2, 3), "f32"), ((4, 5), "f32")], {},
     r"A is \[2, 3\] \(K=3\) and B is \[4, 5\] \(K=4\)"),
    ("MatMul", [((2, 3), "i32"), ((3, 5), "i32")], {"activation": "relu"},
     r"a fused activation \(relu\) needs float operands"),
    ("BatchNorm", [X4] + [((3,), "f32")] * 4, {},
     r"scale has shape \[3\], expected \[4\] \(one per channel of X\)"),
    ("Concat", [X4, ((1, 4, 8, 7), "f32")], {"axis": 1},
     r"input 1 shape \[1, 4, 8, 7\] differs from input 0 shape \[1, 4, 8, 8\] outside the concat "
     r"axis 1"),
    ("Concat", [X4], {"axis": 4}, r"axis 4 is out of range for rank 4"),
    ("Split", [X4], {"axis": 1, "split": (1, 2)}, r"split sizes \(1, 2\) sum to 3, but axis 1"),
    ("Reshape", [X4], {"shape": (4, 65)},
     r"cannot reshape \[1, 4, 8, 8\] \(256 elements\) to \[4, 65\] \(260 elements\)"),
    ("Transpose", [X4], {"perm": (0, 1, 1, 2)}, r"perm \(0, 1, 1, 2\) is not a permutation"),
    ("Squeeze", [X4], {"axes": (1,)}, r"cannot squeeze axes \[1\] of \[1, 4, 8, 8\]"),
    ("Unsqueeze", [X4], {"axes": (0, -7)}, r"axes -7 is out of range for rank 6"),
    ("Slice", [X4], {"starts": (0, 0), "ends": (1,)}, r"starts has 2 entries but ends has 1"),
    ("Pad", [X4], {"pads": (0, 0)}, r"pads has 2 entries; a rank-4 input takes 8"),
    ("Pad", [X4], {"pads": (0, 0, 8, 0, 0, 0, 0, 0), "mode": "reflect"},
     r"reflect padding \(8, 0\) on axis 2 needs pads < the axis size 8"),
    ("Resize", [X4], {"sizes": (2, 4, 16, 16)},
     r"sizes \(2, 4, 16, 16\) may change only the two last axes"),
    ("Resize", [X4], {"sizes": (16, 16)}, r"sizes \(16, 16\) must give the full output shape"),
    ("Resize", [((1, 4, 8, 8), "u8")], {"sizes": (1, 4, 16, 16), "mode": "linear"},
     r"linear mode takes a float tensor, got u8"),
    ("ReduceMean", [((2, 3), "i32")], {}, r"takes a float tensor, got i32"),
    ("ReduceMax", [X4], {"axes": (1, -3)}, r"axes \(1, -3\) repeat an axis"),
    ("Softmax", [X4], {"axis": -5}, r"axis -5 is out of range for rank 4"),
    ("Flatten", [X4], {"axis": 5}, r"axis 5 is out of range \[-4, 4\]"),
    ("QuantizeLinear", [((2, 3), "i32")], {"scale": (1.0,)}, r"takes a float tensor, got i32"),
    ("DequantizeLinear", [((2, 3), "f32")], {"scale": (1.0,)}, r"takes u8, i8, i16, i32, got f32"),
    ("DetectionPostProcess", [((1, 5, 4), "f32"), ((1, 5, 5), "f32"), ((5, 4), "f32")],
     DETPP, r"class_predictions must be \[1, 5, 3 or 4\] for num_classes 3"),
    ("DetectionPostProcess", [((1, 5, 4), "f32"), ((1, 5, 4), "f32"), ((4, 4), "f32")],
     DETPP, r"anchors must be \[5, 4\], got \[4, 4\]"),
    ("DetectionPostProcess", [((1, 5, 4), "f16"), ((1, 5, 4), "f32"), ((5, 4), "f32")],
     DETPP, r"input 0 must be f32, got f16"),
    ("DetectionPostProcess", [((1, 5, 4), "f32"), ((1, 5, 4), "f32"), ((5, 4), "f32")],
     {**DETPP, "nms_iou_threshold": 1.5}, r"'nms_iou_threshold'=1.5: must be in \(0, 1\]"),
]


@pytest.mark.parametrize("op, inputs, attrs, message", ERRORS,
                         ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)])
def test_invalid_node_is_refused_with_a_clear_message(op, inputs, attrs, message):
    with pytest.raises(IRError, match=message) as info:
        build(op, inputs, **attrs)
    assert op in str(info.value)  # every message names the op


def test_arity_is_checked():
    with pytest.raises(IRError, match=r"Conv takes 2 to 3 inputs \(X, W, B\?\), got 1"):
        build("Conv", [X4])


def test_one_dimensional_spatial_ops_take_explicit_per_axis_attributes():
    y = build("Conv", [((1, 4, 10), "f32"), ((2, 4, 3), "f32")], strides=(2,), pads=(1, 1),
              dilations=(1,))
    assert y.type == TensorType((1, 2, 5), "f32")
    y = build("MaxPool", [((1, 4, 10), "f32")], kernel_shape=(3,), strides=(1,), pads=(0, 0),
              dilations=(1,))
    assert y.shape == (1, 4, 8)


def test_every_op_with_a_fused_activation_accepts_every_activation():
    for kind, (_, names) in ACTIVATIONS.items():
        params = (0.0, 6.0)[:len(names)] if kind == "clip" else (0.1,) * len(names)
        y = build("Gemm", [((2, 3), "f32"), ((3, 4), "f32")], activation=kind,
                  activation_params=params)
        assert y.shape == (2, 4)


def test_every_op_documents_its_semantics():
    missing = [name for name, op in OPS.items() if not op.doc]
    assert not missing, f"ops without a kernel docstring: {missing}"
