"""The table of TFLite op name -> converter (one module per op family)."""

from __future__ import annotations

from collections.abc import Callable

import tflite

from ...errors import FrontendError
from ...registry import Registry
from .control_flow import if_
from .conv import (
    _pool,
    batch_matmul,
    conv_2d,
    depthwise_conv_2d,
    fully_connected,
    transpose_conv,
    transpose_conv_bias,
)
from .detection import detection_postprocess
from .elementwise import (
    _arg,
    _binary,
    _chain,
    _clip,
    _logical_reduce,
    _reduce,
    _unary,
    add_n,
    cumsum,
    floor_div,
    l2_normalization,
    local_response_normalization,
    prelu,
    select,
    softmax,
    top_k,
)
from .quantized import densify, dequantize, quantize
from .recurrent import unidirectional_sequence_lstm
from .tensor_ops import (
    _pad,
    _resize,
    _space,
    batch_to_space_nd,
    broadcast_args,
    broadcast_to,
    cast,
    concatenation,
    expand_dims,
    fill,
    gather,
    gather_nd,
    one_hot,
    pack,
    range_op,
    reshape,
    reverse_v2,
    scatter_nd,
    shape_op,
    slice_op,
    space_to_batch_nd,
    split,
    split_v,
    squeeze,
    strided_slice_op,
    tile,
    transpose,
    unpack,
    zeros_like,
)

CONVERTERS: Registry[Callable] = Registry("TFLite op", {
    "CONV_2D": conv_2d,
    "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "TRANSPOSE_CONV": transpose_conv,
    "CUSTOM:Convolution2DTransposeBias": transpose_conv_bias,
    "CUSTOM:TFLite_Detection_PostProcess": detection_postprocess,
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
    # math, comparison and logic
    "EXP": _unary("Exp"), "LOG": _unary("Log"), "SQRT": _unary("Sqrt"), "SIN": _unary("Sin"),
    "COS": _unary("Cos"), "FLOOR": _unary("Floor"), "CEIL": _unary("Ceil"),
    "ROUND": _unary("Round"), "SIGN": _unary("Sign"), "RELU_0_TO_1": _clip(0.0, 1.0),
    "GELU": _unary("Gelu", lambda op: {"approximate": "tanh" if (
        o := op.options(tflite.GeluOptions)) is not None and o.Approximate() else "none"}),
    "RSQRT": _unary("Rsqrt"), "SQUARE": _chain("Square"),
    "SQUARED_DIFFERENCE": _binary("SquaredDifference"),
    "POW": _binary("Pow"), "FLOOR_DIV": floor_div, "FLOOR_MOD": _binary("Mod"), "ADD_N": add_n,
    "EQUAL": _binary("Equal"), "NOT_EQUAL": _chain("Equal", "Not"),
    "GREATER": _binary("Greater"), "GREATER_EQUAL": _binary("GreaterOrEqual"),
    "LESS": _binary("Less"), "LESS_EQUAL": _binary("LessOrEqual"),
    "LOGICAL_AND": _binary("And"), "LOGICAL_OR": _binary("Or"), "LOGICAL_NOT": _unary("Not"),
    "SELECT": select, "SELECT_V2": select, "CAST": cast, "IF": if_,
    # reductions, normalizations, ordering
    "REDUCE_MIN": _reduce("ReduceMin"), "REDUCE_ANY": _logical_reduce("ReduceMax"),
    "REDUCE_ALL": _logical_reduce("ReduceMin"), "ARG_MAX": _arg("ArgMax"),
    "ARG_MIN": _arg("ArgMin"), "LOG_SOFTMAX": _chain("LogSoftmax"),
    "L2_NORMALIZATION": l2_normalization,
    "LOCAL_RESPONSE_NORMALIZATION": local_response_normalization,
    "L2_POOL_2D": _pool("L2"), "TOPK_V2": top_k, "CUMSUM": cumsum,
    "BATCH_MATMUL": batch_matmul,
    # data movement and constants
    "SPLIT": split, "SPLIT_V": split_v, "UNPACK": unpack, "REVERSE_V2": reverse_v2,
    "BROADCAST_TO": broadcast_to, "BROADCAST_ARGS": broadcast_args, "ZEROS_LIKE": zeros_like,
    "FILL": fill, "RANGE": range_op,
    "GATHER_ND": gather_nd, "SCATTER_ND": scatter_nd, "ONE_HOT": one_hot,
    "SPACE_TO_BATCH_ND": space_to_batch_nd, "BATCH_TO_SPACE_ND": batch_to_space_nd,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": unidirectional_sequence_lstm,
}, error=FrontendError)
