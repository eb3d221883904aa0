"""Convolution, pooling, normalization, Gemm/MatMul, recurrent layers and softmax (resizing and
sampling: sampling.py)."""

from __future__ import annotations

import math

import numpy as np

from ..importer import invalid, ir_dtype, unsupported
from . import converter
from .tensor import normalize_axes

_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _spatial_attrs(cx, sr: int, kernel=None):
    """kernel_shape, strides, dilations of a conv/pool node with `sr` spatial axes."""
    k = cx.attr("kernel_shape")
    if k is None:
        if kernel is None:
            raise invalid("kernel_shape is required")
        k = list(kernel)
    elif kernel is not None and list(k) != list(kernel):
        raise invalid(f"kernel_shape {list(k)} does not match the weight's {list(kernel)}")
    strides = list(cx.attr("strides", [1] * sr))
    dilations = list(cx.attr("dilations", [1] * sr))
    for name, v in (("kernel_shape", k), ("strides", strides), ("dilations", dilations)):
        if len(v) != sr:
            raise invalid(f"{name} {list(v)} must have {sr} entries")
    return list(k), strides, dilations


def explicit_pads(cx, spatial, kernel, strides, dilations) -> list[int]:
    """The node's padding as explicit (begins..., ends...), resolving auto_pad."""
    auto_pad = cx.attr("auto_pad", "NOTSET")
    pads = cx.attr("pads")
    sr = len(spatial)
    if auto_pad not in _AUTO_PAD:
        raise unsupported(f"auto_pad={auto_pad!r} is not one of {_AUTO_PAD}")
    if auto_pad == "VALID":
        return [0] * (2 * sr)
    if auto_pad == "NOTSET":
        pads = list(pads) if pads is not None else [0] * (2 * sr)
        if len(pads) != 2 * sr:
            raise invalid(f"pads {pads} must have {2 * sr} entries")
        if any(p < 0 for p in pads):
            raise unsupported(f"negative pads {pads} are not supported")
        return pads
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else big)
        ends.append(big if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def _spatial_rank(cx, x, supported=(1, 2)) -> int:
    sr = len(cx.shape(x)) - 2
    if sr not in supported:
        raise unsupported(f"{sr}-D {cx.op_type} (input shape {list(cx.shape(x))}) is not "
                          f"supported; npucc supports {' and '.join(f'{s}-D' for s in supported)}")
    return sr


@converter("Conv")
def conv(cx):
    return conv_on(cx, cx.input(0), cx.input(1), cx.inputs[2] if cx.has(2) else None)


def conv_on(cx, x, w, b):
    """The core Conv of the node's convolution attributes on x, w and b (None: no bias)."""
    sr = _spatial_rank(cx, x)
    kernel, strides, dilations = _spatial_attrs(cx, sr, cx.shape(w)[2:])
    pads = explicit_pads(cx, cx.shape(x)[2:], kernel, strides, dilations)
    return cx.emit("Conv", [x, w, b], strides=strides, pads=pads, dilations=dilations,
                   group=cx.attr("group", 1))


@converter("ConvTranspose")
def conv_transpose(cx):
    x, w = cx.input(0), cx.input(1)
    b = cx.inputs[2] if cx.has(2) else None
    sr = _spatial_rank(cx, x)
    kernel, strides, dilations = _spatial_attrs(cx, sr, cx.shape(w)[2:])
    out_pad = list(cx.attr("output_padding", [0] * sr))
    output_shape = cx.attr("output_shape")
    auto_pad = cx.attr("auto_pad", "NOTSET")
    pads = cx.attr("pads")
    spatial = cx.shape(x)[2:]
    if auto_pad not in _AUTO_PAD:
        raise unsupported(f"auto_pad={auto_pad!r} is not one of {_AUTO_PAD}")
    if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = [size * s for size, s in zip(spatial, strides)]
        if any(s > (k - 1) * d + 1 + op for s, k, d, op in zip(strides, kernel, dilations,
                                                                out_pad)):
            # the spec then pads the output; onnxruntime instead returns a smaller output
            raise unsupported(f"auto_pad={auto_pad} with strides {strides} larger than the "
                              f"kernel extent (the ONNX spec and onnxruntime disagree)")
    if output_shape is not None:
        output_shape = list(output_shape)[-sr:]
        begins, ends = [], []
        for size, k, s, d, op, want in zip(spatial, kernel, strides, dilations, out_pad,
                                           output_shape):
            total = s * (size - 1) + op + (k - 1) * d + 1 - want
            small, big = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else big)
            ends.append(big if auto_pad == "SAME_UPPER" else small)
        if any(b < 0 for b in begins):
            raise unsupported(f"output_shape {output_shape} needs negative leading padding")
        # a negative trailing pad extends the output past the full transposed convolution:
        # those rows/columns hold only the bias, which is what output_padding produces
        out_pad = [op - min(e, 0) for op, e in zip(out_pad, ends)]
        pads = begins + [max(e, 0) for e in ends]
    elif auto_pad == "VALID" or pads is None:
        pads = [0] * (2 * sr)
    pads = list(pads)
    if any(p < 0 for p in pads):
        raise unsupported(f"negative pads {pads} are not supported")
    return cx.emit("ConvTranspose", [x, w, b], strides=strides, pads=pads, dilations=dilations,
                   group=cx.attr("group", 1), output_padding=out_pad)


@converter("MaxPool", "AveragePool")
def pool(cx):
    return pool_on(cx, cx.input(0), cx.op_type)


def pool_on(cx, x, kind: str):
    """MaxPool or AveragePool (`kind`) of x with the node's pooling attributes."""
    sr = _spatial_rank(cx, x)
    kernel, strides, dilations = _spatial_attrs(cx, sr)
    pads = explicit_pads(cx, cx.shape(x)[2:], kernel, strides, dilations)
    ceil_mode = bool(cx.attr("ceil_mode", 0))
    if kind == "MaxPool":
        y = cx.emit("MaxPool", [x], kernel_shape=kernel, strides=strides, pads=pads,
                    dilations=dilations, ceil_mode=ceil_mode)
        if cx.num_outputs < 2 or not cx.node.output[1]:
            cx.ignore("storage_order")  # only changes the Indices output
            return y
        order = cx.attr("storage_order", 0)
        if order not in (0, 1):
            raise invalid(f"storage_order must be 0 or 1, got {order}")
        return y, _max_indices(cx, x, cx.shape(y)[2:], kernel, strides, pads, dilations, order)
    if any(d != 1 for d in dilations):
        raise unsupported(f"dilated AveragePool (dilations {dilations}) is not supported")
    return cx.emit("AveragePool", [x], kernel_shape=kernel, strides=strides, pads=pads,
                   ceil_mode=ceil_mode, count_include_pad=bool(cx.attr("count_include_pad", 0)))


_MAX_INDEX_TAPS = 1024


def _max_indices(cx, x, out, kernel, strides, pads, dilations, order: int):
    """MaxPool's Indices output: the flat index over the whole input (N, C and the spatial axes,
    row major; storage_order 1: the spatial axes column major) of each window's max, the first
    in scan order as onnxruntime keeps it. ArgMax over the window's taps (each a strided Slice
    of the input padded with -inf), then the tap's offset (a Gather of a table) plus the window's
    start and the plane's base, in int64."""
    shape = cx.shape(x)
    n, c, spatial = shape[0], shape[1], list(shape[2:])
    sr = len(spatial)
    if math.prod(kernel) > _MAX_INDEX_TAPS:
        raise unsupported(f"the Indices output of a {list(kernel)} window "
                          f"({math.prod(kernel)} taps, one Slice each) is not supported; npucc "
                          f"takes windows of at most {_MAX_INDEX_TAPS} taps")
    cx.check_size([n, c, math.prod(kernel)] + list(out), cx.np_dtype(x).itemsize,
                  "the MaxPool window taps")
    ends = [max(0, (o - 1) * s + (k - 1) * d + 1 - size - p)
            for o, s, k, d, size, p in zip(out, strides, kernel, dilations, spatial, pads)]
    xp = cx.emit("Pad", [x], pads=[0, 0] + list(pads[:sr]) + [0, 0] + ends, value=-math.inf)
    # flat index of spatial position (p0, p1...) in its plane: sum of p_a * step_a
    steps = [math.prod(spatial[a + 1:]) for a in range(sr)] if order == 0 else \
        [math.prod(spatial[:a]) for a in range(sr)]
    taps, offsets = [], []
    for tap in np.ndindex(*kernel):
        first = [t * d for t, d in zip(tap, dilations)]
        sliced = cx.emit("Slice", [xp], starts=first,
                         ends=[f + (o - 1) * s + 1 for f, o, s in zip(first, out, strides)],
                         axes=list(range(2, 2 + sr)), steps=list(strides))
        taps.append(cx.emit("Unsqueeze", [sliced], axes=[2]))
        offsets.append(sum(f * st for f, st in zip(first, steps)))
    stacked = cx.emit("Concat", taps, axis=2) if len(taps) > 1 else taps[0]
    tap = cx.emit("ArgMax", [stacked], axis=2, keepdims=False)
    start = np.zeros(out, np.int64)
    for a in range(sr):
        at = (np.arange(out[a]) * strides[a] - pads[a]) * steps[a]
        start = start + at.reshape([-1] + [1] * (sr - 1 - a))
    base = (np.arange(n * c, dtype=np.int64) * math.prod(spatial)).reshape([n, c] + [1] * sr)
    pos = cx.emit("Gather", [np.asarray(offsets, np.int64), tap], axis=0)
    return cx.emit("Add", [pos, start + base])


@converter("GlobalAveragePool", "GlobalMaxPool")
def global_pool(cx):
    x = cx.input(0)
    _spatial_rank(cx, x)
    return cx.emit(cx.op_type, [x])


def _abs_pow(cx, x, p: int):
    """|x| ** p (x * x for p = 2)."""
    if p == 2:
        return cx.emit("Mul", [x, x])
    a = cx.emit("Abs", [x])
    return a if p == 1 else cx.emit("Pow", [a, np.asarray(p, cx.np_dtype(x))])


def _root(cx, s, p: int):
    if p == 2:
        return cx.emit("Sqrt", [s])
    return s if p == 1 else cx.emit("Pow", [s, np.asarray(1 / p, cx.np_dtype(s))])


@converter("LpPool", "GlobalLpPool")
def lp_pool(cx):
    """(sum of |x| ** p over each window) ** (1 / p); a window's sum is a depthwise convolution
    with ones (zero padding adds nothing)."""
    x = cx.input(0)
    p = cx.attr("p", 2)
    if not isinstance(p, int) or p < 1:
        raise unsupported(f"p={p!r} is not supported (integers >= 1)")
    powered = _abs_pow(cx, x, p)
    shape = cx.shape(x)
    if cx.op_type == "GlobalLpPool":
        _spatial_rank(cx, x, supported=range(1, 6))
        s = cx.emit("ReduceSum", [powered], axes=list(range(2, len(shape))), keepdims=True)
        return _root(cx, s, p)
    sr = _spatial_rank(cx, x)
    kernel, strides, dilations = _spatial_attrs(cx, sr)
    pads = explicit_pads(cx, shape[2:], kernel, strides, dilations)
    if cx.attr("ceil_mode", 0):
        raise unsupported("LpPool with ceil_mode=1 is not supported")
    for i, (size, k, d) in enumerate(zip(shape[2:], kernel, dilations)):
        if not 1 <= (k - 1) * d + 1 <= size + pads[i] + pads[i + sr]:
            raise invalid(f"kernel_shape {kernel} (dilations {dilations}) does not fit the "
                          f"padded input {list(shape)} (pads {pads})")
    ones = np.ones([shape[1], 1] + kernel, cx.np_dtype(x))
    s = cx.emit("Conv", [powered, ones, None], strides=strides, pads=pads, dilations=dilations,
                group=shape[1])
    return _root(cx, s, p)


@converter("BatchNormalization")
def batch_norm(cx):
    if cx.attr("spatial", 1) != 1:
        raise unsupported("BatchNormalization with spatial=0 is not supported")
    if cx.attr("training_mode", 0):
        raise unsupported("BatchNormalization in training mode is not supported")
    cx.ignore("momentum", "is_test", "consumed_inputs")
    args = [cx.input(i) for i in range(5)]
    return cx.emit("BatchNorm", args, epsilon=cx.attr("epsilon", 1e-5))


@converter("ImageScaler")
def image_scaler(cx):
    """The experimental (opset <= 9) ImageScaler of the older model zoo's Tiny YOLOv2 and
    emotion FER+: x * scale + bias[c] on NCHW images (onnxruntime still runs it)."""
    x = cx.input(0)
    shape = list(cx.shape(x))
    dtype = cx.np_dtype(x)
    bias = np.asarray(cx.attr("bias", [0.0] * (shape[1] if len(shape) > 1 else 1)), dtype)
    if len(shape) != 4 or bias.size != shape[1]:
        raise invalid(f"ImageScaler takes an NCHW image and one bias per channel; got "
                      f"{shape} and {bias.size} biases")
    y = cx.emit("Mul", [x, np.asarray(cx.attr("scale", 1.0), dtype)])
    return cx.emit("Add", [y, bias.reshape(1, -1, 1, 1)])


@converter("InstanceNormalization")
def instance_norm(cx):
    return cx.emit("InstanceNorm", [cx.input(0), cx.input(1), cx.input(2)],
                   epsilon=cx.attr("epsilon", 1e-5))


@converter("LayerNormalization")
def layer_norm(cx):
    cx.ignore("stash_type")  # float32 statistics, which is what the kernel computes anyway
    b = cx.inputs[2] if cx.has(2) else None
    return cx.emit("LayerNorm", [cx.input(0), cx.input(1), b], axis=cx.attr("axis", -1),
                   epsilon=cx.attr("epsilon", 1e-5))


@converter("GroupNormalization")
def group_norm(cx):
    """InstanceNorm over [N, groups, C / groups * spatial]. Opset 18 scales per group (the
    InstanceNorm's own scale and bias); opset 21 per channel, after the reshape back."""
    x = cx.input(0)
    shape = list(cx.shape(x))
    groups = cx.attr("num_groups")
    if cx.attr("stash_type", 1) != 1:
        raise unsupported("stash_type other than 1 (float32 statistics) is not supported")
    if len(shape) < 2 or groups < 1 or shape[1] % groups:
        raise invalid(f"num_groups {groups} does not divide the channels of {shape}")
    dtype = cx.np_dtype(x)
    per_group = cx.opset < 21
    want = groups if per_group else shape[1]
    for i, what in ((1, "scale"), (2, "bias")):
        if list(cx.shape(cx.input(i))) != [want]:
            raise invalid(f"{what} must have shape [{want}] (one per "
                          f"{'group before opset 21' if per_group else 'channel'}), got "
                          f"{list(cx.shape(cx.input(i)))}")
    scale, bias = ((cx.input(1), cx.input(2)) if per_group
                   else (np.ones(groups, dtype), np.zeros(groups, dtype)))
    grouped = cx.emit("Reshape", [x], shape=[shape[0], groups, math.prod(shape[1:]) // groups])
    y = cx.emit("InstanceNorm", [grouped, scale, bias], epsilon=cx.attr("epsilon", 1e-5))
    y = cx.emit("Reshape", [y], shape=shape)
    if per_group:
        return y
    per_channel = [shape[1]] + [1] * (len(shape) - 2)
    y = cx.emit("Mul", [y, cx.emit("Reshape", [cx.input(1)], shape=per_channel)])
    return cx.emit("Add", [y, cx.emit("Reshape", [cx.input(2)], shape=per_channel)])


@converter("RMSNormalization")
def rms_norm(cx):
    """x / sqrt(mean(x^2 over axes axis..) + epsilon) * scale."""
    cx.ignore("stash_type")  # float32 statistics, as LayerNormalization
    x = cx.input(0)
    rank = len(cx.shape(x))
    axis = normalize_axes([cx.attr("axis", -1)], rank)[0]
    ms = cx.emit("ReduceMean", [cx.emit("Mul", [x, x])], axes=list(range(axis, rank)),
                 keepdims=True)
    rms = cx.emit("Sqrt", [cx.emit("Add", [ms, np.asarray(cx.attr("epsilon", 1e-5),
                                                          cx.np_dtype(x))])])
    return cx.emit("Mul", [cx.emit("Div", [x, rms]), cx.input(1)])


@converter("LpNormalization")
def lp_norm(cx):
    """x / its L1 or L2 norm along axis (0 where the norm is 0, as onnxruntime)."""
    x = cx.input(0)
    p = cx.attr("p", 2)
    if p not in (1, 2):
        raise invalid(f"p must be 1 or 2, got {p}")
    axis = normalize_axes([cx.attr("axis", -1)], len(cx.shape(x)))[0]
    norm = cx.emit(f"ReduceL{p}", [x], axes=[axis], keepdims=True)
    one, zero = (np.asarray(v, cx.np_dtype(x)) for v in (1, 0))
    norm = cx.emit("Where", [cx.emit("Equal", [norm, zero]), one, norm])  # 0 / 0 is 0
    return cx.emit("Div", [x, norm])


@converter("MeanVarianceNormalization")
def mean_variance_norm(cx):
    """(x - mean) / (sqrt(variance) + 1e-9) over axes, as the ONNX function body."""
    x = cx.input(0)
    rank = len(cx.shape(x))
    axes = sorted(set(normalize_axes(cx.attr("axes", [0, 2, 3]), rank)))
    dev = cx.emit("Sub", [x, cx.emit("ReduceMean", [x], axes=axes, keepdims=True)])
    var = cx.emit("ReduceMean", [cx.emit("Mul", [dev, dev])], axes=axes, keepdims=True)
    std = cx.emit("Add", [cx.emit("Sqrt", [var]), np.asarray(1e-9, cx.np_dtype(x))])
    return cx.emit("Div", [dev, std])


@converter("Gemm")
def gemm(cx):
    c = cx.inputs[2] if cx.has(2) else None
    if cx.opset < 7 and cx.attr("broadcast", 0) == 0:
        raise unsupported("Gemm without broadcast (opset < 7)")
    return cx.emit("Gemm", [cx.input(0), cx.input(1), c], alpha=cx.attr("alpha", 1.0),
                   beta=cx.attr("beta", 1.0), transA=cx.attr("transA", 0),
                   transB=cx.attr("transB", 0))


_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                        "RNN": ["Tanh"]}
_RNN_ACTIVATIONS = ("Tanh", "Relu", "Sigmoid")


@converter("LSTM", "GRU", "RNN")
def recurrent(cx):
    """ONNX LSTM / GRU with the default activations, RNN with one of tanh, relu, sigmoid in
    both directions; layout 1 (batch first) through Transposes; sequence_lens only when every
    sequence has the full length."""
    op = cx.op_type
    direction = cx.attr("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    acts = [str(a).lower() for a in cx.attr("activations", _DEFAULT_ACTIVATIONS[op] * dirs)]
    extra = {}
    if op == "RNN" and len(acts) == dirs and len(set(acts)) == 1 and \
            acts[0] in [a.lower() for a in _RNN_ACTIVATIONS]:
        extra["activation"] = acts[0]
    elif acts != [a.lower() for a in _DEFAULT_ACTIVATIONS[op]] * dirs:
        supported = f"one of {_RNN_ACTIVATIONS} in both directions" if op == "RNN" else \
            f"the default {_DEFAULT_ACTIVATIONS[op]}"
        raise unsupported(f"activations {acts}: only {supported} are supported")
    for name in ("activation_alpha", "activation_beta", "clip"):
        if cx.attr(name) is not None:
            raise unsupported(f"attribute {name} is not supported")
    if op == "LSTM" and cx.attr("input_forget", 0):
        raise unsupported("input_forget=1 is not supported")
    layout = cx.attr("layout", 0)

    def seq_first(i: int):  # input i, batch-first (layout 1) axes swapped to layout 0
        h = cx.input(i) if cx.has(i) else None
        return cx.emit("Transpose", [h], perm=(1, 0, 2)) if layout and h is not None else h
    x = seq_first(0)
    seq = cx.shape(x)[0]
    lens = cx.optional_static(4, "sequence_lens")
    if lens is not None and np.any(np.asarray(lens) != seq):
        raise unsupported(f"sequence_lens {np.ravel(lens).tolist()} shorter than the "
                          f"{seq} steps are not supported")
    hidden = cx.attr("hidden_size", cx.shape(cx.input(2))[-1])
    if op == "LSTM":  # initial_h, initial_c, peepholes
        states = [seq_first(5), seq_first(6), cx.input(7) if cx.has(7) else None]
    else:
        states = [seq_first(5)]
    if op == "GRU":
        extra["linear_before_reset"] = bool(cx.attr("linear_before_reset", 0))
    b = cx.input(3) if cx.has(3) else None
    outs = cx.emit(op, [x, cx.input(1), cx.input(2), b, *states], hidden_size=int(hidden),
                   direction=direction, **extra)
    if layout:  # Y [batch, seq, dirs, hidden], states [batch, dirs, hidden]
        outs = (cx.emit("Transpose", [outs[0]], perm=(2, 0, 1, 3)),
                *(cx.emit("Transpose", [s], perm=(1, 0, 2)) for s in outs[1:]))
    return tuple(outs)


@converter("Einsum")
def einsum(cx):
    return cx.emit("Einsum", [h for h in cx.inputs if h is not None],
                   equation=str(cx.attr("equation")))


@converter("MatMul")
def matmul(cx):
    return cx.emit("MatMul", [cx.input(0), cx.input(1)])


def _hardmax(cx, x, axis):
    """1 at the first max along axis, 0 elsewhere."""
    shape = cx.shape(x)
    axis = normalize_axes([axis], len(shape))[0]
    n = shape[axis]
    first = cx.emit("ArgMax", [x], axis=axis, keepdims=True)
    at = cx.emit("Equal", [first, np.arange(n, dtype=np.int64).reshape([n] + [1] * (
        len(shape) - 1 - axis))])
    return cx.emit("Cast", [at], to=ir_dtype(cx.np_dtype(x), "the input of Hardmax"))


@converter("Softmax", "LogSoftmax", "Hardmax")
def softmax(cx):
    x = cx.input(0)
    shape = cx.shape(x)
    rank = len(shape)

    def along(v, axis):
        if cx.op_type == "Hardmax":
            return _hardmax(cx, v, axis)
        return cx.emit(cx.op_type, [v], axis=axis)
    if cx.opset >= 13:
        return along(x, cx.attr("axis", -1))
    # before opset 13: the input is seen as 2-D [prod(shape[:axis]), prod(shape[axis:])]
    axis = normalize_axes([cx.attr("axis", 1)], rank)[0]
    if axis == rank - 1:
        return along(x, -1)
    flat = cx.emit("Reshape", [x], shape=[math.prod(shape[:axis]), math.prod(shape[axis:])])
    return cx.emit("Reshape", [along(flat, -1)], shape=list(shape))


@converter("Dropout")
def dropout(cx):
    if cx.num_outputs > 1 and cx.node.output[1]:
        raise unsupported("the mask output of Dropout is not supported")
    if cx.opset >= 12 and cx.has(2):
        if bool(cx.static(2, "training_mode").reshape(())):
            raise unsupported("Dropout in training mode is not supported")
    cx.ignore("ratio", "seed", "is_test")
    return cx.input(0)


@converter("LRN")
def lrn(cx):
    return cx.emit("LRN", [cx.input(0)], size=cx.attr("size"), alpha=cx.attr("alpha", 1e-4),
                   beta=cx.attr("beta", 0.75), bias=cx.attr("bias", 1.0))


@converter("MaxUnpool")
def max_unpool(cx):
    """Zeros of the output shape (output_shape, else (in - 1) * stride - pads + kernel) with X
    written at the flat indices I (MaxPool's Indices output). With an output_shape the indices
    are read over that shape, as onnxruntime and the spec's index range say (the ONNX reference
    implementation reads them over the computed shape and pads the result)."""
    x, idx = cx.input(0), cx.input(1)
    shape = list(cx.shape(x))
    sr = len(shape) - 2
    if sr < 1:
        raise invalid(f"X must be (N, C, *spatial), got {shape}")
    kernel = cx.attr("kernel_shape")
    strides = list(cx.attr("strides", [1] * sr))
    pads = list(cx.attr("pads", [0] * (2 * sr)))
    if len(kernel) != sr or len(strides) != sr or len(pads) != 2 * sr:
        raise invalid(f"kernel_shape {list(kernel)}, strides {strides} and pads {pads} do not "
                      f"fit {sr} spatial axes")
    given = cx.optional_static(2, "output_shape")
    if given is not None:
        out = [int(d) for d in np.ravel(given)]
        if len(out) != len(shape) or out[:2] != shape[:2] or min(out) < 0:
            raise invalid(f"output_shape {out} must be ({shape[0]}, {shape[1]}, *spatial)")
    else:
        out = shape[:2] + [(shape[2 + i] - 1) * strides[i] - pads[i] - pads[i + sr] + kernel[i]
                           for i in range(sr)]
        if min(out) < 0:
            raise invalid(f"kernel_shape {list(kernel)}, strides {strides} and pads {pads} give "
                          f"a negative output shape {out}")
    cx.check_size(out, cx.np_dtype(x).itemsize, "the MaxUnpool output")
    return cx.emit("MaxUnpool", [x, idx], output_shape=out)


@converter("Det")
def det(cx):
    return cx.emit("Det", [cx.input(0)])


@converter("DeformConv")
def deform_conv(cx):
    """2-D DeformConv (any group and offset_group, optional bias and mask)."""
    x, w, offset = cx.input(0), cx.input(1), cx.input(2)
    if len(cx.shape(x)) != 4:
        raise unsupported(f"{len(cx.shape(x)) - 2}-D DeformConv (input shape "
                          f"{list(cx.shape(x))}) is not supported; npucc supports 2-D")
    kernel, strides, dilations = _spatial_attrs(cx, 2, cx.shape(w)[2:])
    pads = list(cx.attr("pads", [0] * 4))
    if len(pads) != 4 or min(pads) < 0:
        raise invalid(f"pads {pads} must be 4 entries >= 0")
    b = cx.input(3) if cx.has(3) else None
    mask = cx.input(4) if cx.has(4) else None
    return cx.emit("DeformConv", [x, w, offset, b, mask], strides=strides, pads=pads,
                   dilations=dilations, group=cx.attr("group", 1),
                   offset_group=cx.attr("offset_group", 1))
