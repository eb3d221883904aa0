"""The table of TFLite op name -> converter (one module per op family)."""

from __future__ import annotations

from collections.abc import Callable

import tflite

from ...errors import FrontendError
from ...registry import Registry
from .conv import (
    _pool,
    conv_2d,
    depthwise_conv_2d,
    fully_connected,
    transpose_conv,
    transpose_conv_bias,
)
from .elementwise import _binary, _clip, _reduce, _unary, prelu, softmax
from .quantized import densify, dequantize, quantize
from .tensor_ops import (
    _pad,
    _resize,
    _space,
    concatenation,
    expand_dims,
    gather,
    pack,
    reshape,
    shape_op,
    slice_op,
    squeeze,
    strided_slice_op,
    tile,
    transpose,
)

CONVERTERS: Registry[Callable] = Registry("TFLite op", {
    "CONV_2D": conv_2d,
    "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "TRANSPOSE_CONV": transpose_conv,
    "CUSTOM:Convolution2DTransposeBias": transpose_conv_bias,
    "FULLY_CONNECTED": fully_connected,
    "ADD": _binary("Add"), "SUB": _binary("Sub"), "MUL": _binary("Mul"), "DIV": _binary("Div"),
    "MAXIMUM": _binary("Max"), "MINIMUM": _binary("Min"),
    "AVERAGE_POOL_2D": _pool("AveragePool"), "MAX_POOL_2D": _pool("MaxPool"),
    "MEAN": _reduce("ReduceMean"), "SUM": _reduce("ReduceSum"), "REDUCE_MAX": _reduce("ReduceMax"),
    "REDUCE_PROD": _reduce("ReduceProd"), "SHAPE": shape_op, "PACK": pack,
    "PAD": _pad, "PADV2": _pad, "MIRROR_PAD": _pad,
    "CONCATENATION": concatenation,
    "RESHAPE": reshape, "SQUEEZE": squeeze, "EXPAND_DIMS": expand_dims, "TRANSPOSE": transpose,
    "STRIDED_SLICE": strided_slice_op, "SLICE": slice_op,
    "RESIZE_BILINEAR": _resize("bilinear"), "RESIZE_NEAREST_NEIGHBOR": _resize("nearest"),
    "SOFTMAX": softmax,
    "LOGISTIC": _unary("Sigmoid"), "TANH": _unary("Tanh"), "RELU": _unary("Relu"),
    "RELU6": _clip(0.0, 6.0), "RELU_N1_TO_1": _clip(-1.0, 1.0),
    "LEAKY_RELU": _unary("LeakyRelu", lambda op: {
        "alpha": op.options(tflite.LeakyReluOptions, required=True).Alpha()}),
    "PRELU": prelu, "HARD_SWISH": _unary("HardSwish"), "ELU": _unary("Elu"),
    "ABS": _unary("Abs"), "NEG": _unary("Neg"),
    "DEPTH_TO_SPACE": _space("DepthToSpace"), "SPACE_TO_DEPTH": _space("SpaceToDepth"),
    "TILE": tile, "GATHER": gather,
    "DEQUANTIZE": dequantize, "QUANTIZE": quantize, "DENSIFY": densify,
}, error=FrontendError)
