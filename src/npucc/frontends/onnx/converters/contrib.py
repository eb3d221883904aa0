"""onnxruntime's contrib ops (domain com.microsoft) that its graph optimizer and dynamic quantizer
write into shipped models, lowered onto core ops (the QLinear* QOperator ops: quant.py).

The dynamically quantized ops (DynamicQuantizeLSTM, DynamicQuantizeMatMul, MatMulIntegerToFloat)
follow what onnxruntime computes, not only the spec's intent: each float activation matrix is
quantized per call to uint8 from its own range widened to hold 0 (DynamicQuantizeLinear's
formula), multiplied with the zero-point-shifted integer weights (float32 MatMuls of integers,
over slices of K short enough that every partial sum stays below 2**24, summed in int32 when
there are several: the exact int32 sum onnxruntime accumulates, rounded once to float32), and
scaled by activation scale * weight scale computed in float32."""

from __future__ import annotations

import numpy as np

from .... import limits
from ....errors import LimitError
from ....ir.types import DType
from ..importer import invalid, unsupported
from . import converter
from .quant import dynamic_quantization, exact_parts, range_deviation, summed_parts

MS = "com.microsoft."
F32 = np.float32


def dynamic_quantized(cx, x):
    """(q - zero point) as float32 and the scale of x quantized to uint8 per tensor as
    onnxruntime's dynamic quantization does it (DynamicQuantizeLinear's formula)."""
    q, zp, scale = dynamic_quantization(cx, x)
    return cx.emit("Sub", [q, zp]), scale


def _float_input(cx, i: int, what: str):
    x = cx.input(i)
    if cx.np_dtype(x) != np.float32:
        raise unsupported(f"{what} of element type {cx.np_dtype(x)} is not supported "
                          "(float32 only)")
    return x


# ---- DynamicQuantizeLSTM ----

_LSTM_ACTS = ["sigmoid", "tanh", "tanh"]


@converter(MS + "DynamicQuantizeLSTM")
def dynamic_quantize_lstm(cx):
    """ONNX LSTM (gates i, o, f, c) with int8 / uint8 weights W [dirs, input, 4 hidden] and
    R [dirs, hidden, 4 hidden] (transposed against LSTM's), their scales and zero points per
    direction or per direction and gate column. Unrolled step by step, because onnxruntime
    quantizes X once (all steps) and the hidden state anew at every step (all batch rows
    together: the batch-parallel split onnxruntime makes on several threads for a batch over 4,
    or of 2 to 4 with hidden_size <= 256, quantizes each thread's rows apart and is not
    followed). clip (of the gates' inputs, not of the cell state), input_forget and
    peepholes as onnxruntime; sequence_lens only when every
    sequence has the full length; the default activations only."""
    x = _float_input(cx, 0, "X")
    if len(cx.shape(x)) != 3:
        raise invalid(f"X must be [seq, batch, input], got {list(cx.shape(x))}")
    seq, batch, size = cx.shape(x)
    direction = cx.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise invalid(f"direction {direction!r} is not forward, reverse or bidirectional")
    dirs = 2 if direction == "bidirectional" else 1
    acts = [str(a).lower() for a in cx.attr("activations", _LSTM_ACTS * dirs)]
    if acts != _LSTM_ACTS * dirs:
        raise unsupported(f"activations {acts}: only the default {_LSTM_ACTS} are supported")
    for name in ("activation_alpha", "activation_beta"):
        if cx.attr(name) is not None:
            raise unsupported(f"attribute {name} is not supported (default activations only)")
    clip = cx.attr("clip")
    if clip is not None and not clip > 0:
        raise invalid(f"clip must be positive, got {clip}")
    input_forget = bool(cx.attr("input_forget", 0))
    hidden = cx.attr("hidden_size")
    if hidden is None or hidden < 1:
        raise invalid(f"hidden_size must be a positive integer, got {hidden}")
    h4 = 4 * hidden

    def weights(i: int, rows: int, what: str):
        w = cx.static(i, what)
        if w.dtype not in (np.int8, np.uint8) or w.shape != (dirs, rows, h4):
            raise invalid(f"{what} must be int8 or uint8 [{dirs}, {rows}, {h4}], got "
                          f"{w.dtype} {list(w.shape)}")
        scale = cx.static(_SCALE_INDEX[i], f"{what} scale")
        zp = cx.optional_static(_SCALE_INDEX[i] + 1, f"{what} zero point")
        out = []
        for d in range(dirs):
            s = _per_dir(scale, d, dirs, h4, f"{what} scale").astype(F32)
            z = np.zeros(1, w.dtype) if zp is None else _per_dir(zp, d, dirs, h4,
                                                                  f"{what} zero point")
            if z.dtype != w.dtype:
                raise invalid(f"{what} zero point is {z.dtype}, the weights {w.dtype}")
            out.append(((w[d].astype(F32) - z.astype(F32)), s))
        return out
    w_q = weights(1, size, "W")
    r_q = weights(2, hidden, "R")

    b = None
    if cx.has(3):
        b = cx.input(3)
        if cx.shape(b) != (dirs, 2 * h4):
            raise invalid(f"B must be [{dirs}, {2 * h4}], got {list(cx.shape(b))}")
    lens = cx.optional_static(4, "sequence_lens")
    if lens is not None and np.any(np.asarray(lens) != seq):
        raise unsupported(f"sequence_lens {np.ravel(lens).tolist()} shorter than the {seq} "
                          "steps are not supported")
    state_shape = (dirs, batch, hidden)
    for i, what in ((5, "initial_h"), (6, "initial_c")):
        if cx.has(i) and cx.shape(cx.input(i)) != state_shape:
            raise invalid(f"{what} must be {list(state_shape)}, got {list(cx.shape(cx.input(i)))}")
    if cx.has(7) and cx.shape(cx.input(7)) != (dirs, 3 * hidden):
        raise invalid(f"P must be [{dirs}, {3 * hidden}], got {list(cx.shape(cx.input(7)))}")
    try:
        limits.check_unrolled(seq * dirs * 48 + 32, f"DynamicQuantizeLSTM unrolled over {seq} "
                              f"steps")
    except LimitError as e:
        raise invalid(str(e)) from None

    # X W for every step at once (onnxruntime quantizes all of X together)
    xq, xs = dynamic_quantized(cx, cx.emit("Reshape", [x], shape=[seq * batch, size]))
    ys, hs, cs = [], [], []
    for d in range(dirs):
        wf, ws = w_q[d]
        xw = cx.emit("Mul", [integer_matmul(cx, xq, wf, 255, _bound(wf)),
                             cx.emit("Mul", [xs, ws])])
        xw = cx.emit("Reshape", [xw], shape=[seq, batch, h4])
        bias = None
        if b is not None:
            bd = cx.emit("Gather", [b, np.asarray(d, np.int64)], axis=0)
            bias = cx.emit("Add", [_cols(cx, bd, 0, h4), _cols(cx, bd, h4, 2 * h4)])
        peep = None
        if cx.has(7):
            pd = cx.emit("Gather", [cx.input(7), np.asarray(d, np.int64)], axis=0)
            peep = [_cols(cx, pd, k * hidden, (k + 1) * hidden) for k in range(3)]  # i, o, f
        h = cx.emit("Gather", [cx.input(5), np.asarray(d, np.int64)], axis=0) if cx.has(5) \
            else np.zeros((batch, hidden), F32)
        c = cx.emit("Gather", [cx.input(6), np.asarray(d, np.int64)], axis=0) if cx.has(6) \
            else np.zeros((batch, hidden), F32)
        reverse = direction == "reverse" or d == 1
        rf, rs = r_q[d]
        out = [None] * seq
        for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
            hq, hsc = dynamic_quantized(cx, h)
            g = cx.emit("Add", [cx.emit("Gather", [xw, np.asarray(t, np.int64)], axis=0),
                                cx.emit("Mul", [integer_matmul(cx, hq, rf, 255, _bound(rf)),
                                                cx.emit("Mul", [hsc, rs])])])
            gates = [_cols(cx, g, k * hidden, (k + 1) * hidden) for k in range(4)]  # i o f c
            biases = [None] * 4 if bias is None else \
                [_cols(cx, bias, k * hidden, (k + 1) * hidden) for k in range(4)]

            def pre(k, peep_index, cell):  # gate k's activation input, as onnxruntime sums it
                v = gates[k]
                if peep is not None and peep_index is not None:
                    v = cx.emit("Add", [v, cx.emit("Mul", [cell, peep[peep_index]])])
                if biases[k] is not None:
                    v = cx.emit("Add", [v, biases[k]])
                return v if clip is None else cx.emit("Clip", [v], min=-float(clip),
                                                      max=float(clip))
            i_g = cx.emit("Sigmoid", [pre(0, 0, c)])
            f_g = cx.emit("Sub", [F32(1), i_g]) if input_forget else \
                cx.emit("Sigmoid", [pre(2, 2, c)])
            c_g = cx.emit("Tanh", [pre(3, None, c)])
            c = cx.emit("Add", [cx.emit("Mul", [c, f_g]), cx.emit("Mul", [i_g, c_g])])
            o_g = cx.emit("Sigmoid", [pre(1, 1, c)])
            h = cx.emit("Mul", [o_g, cx.emit("Tanh", [c])])  # onnxruntime does not clip C here
            out[t] = cx.emit("Unsqueeze", [h], axes=[0])
        ys.append(cx.emit("Unsqueeze", [cx.emit("Concat", out, axis=0)], axes=[1]))
        hs.append(cx.emit("Unsqueeze", [h], axes=[0]))
        cs.append(cx.emit("Unsqueeze", [c], axes=[0]))

    def join(parts, axis):
        return parts[0] if len(parts) == 1 else cx.emit("Concat", parts, axis=axis)
    return join(ys, 1), join(hs, 0), join(cs, 0)


def _bound(w: np.ndarray) -> int:
    return int(np.abs(w).max()) if w.size else 0


_SCALE_INDEX = {1: 8, 2: 10}  # W -> W_scale, W_zero_point; R -> R_scale, R_zero_point


def _per_dir(a: np.ndarray, d: int, dirs: int, cols: int, what: str) -> np.ndarray:
    """Direction d's row of a scale or zero point given per direction [dirs] or per direction
    and column [dirs, cols]: 1 or `cols` values."""
    if a.shape == (dirs,):
        return a[d:d + 1]
    if a.shape == (dirs, cols):
        return a[d]
    raise invalid(f"{what} must be [{dirs}] or [{dirs}, {cols}], got {list(a.shape)}")


def _cols(cx, x, start: int, end: int):
    """Columns start:end of the last axis of x."""
    return cx.emit("Slice", [x], starts=[start], ends=[end], axes=[len(cx.shape(x)) - 1],
                   steps=[1])


# ---- DynamicQuantizeMatMul, MatMulIntegerToFloat ----

def _per_tensor_or_column(cx, i: int, what: str, b_shape: tuple | None):
    """Input i, a scale or zero point: a scalar or [1] (per tensor) or, for B (b_shape given),
    per column: [N] for a 2-D B, [..., 1, N] (B's shape, K as 1) for a batch of B matrices (as
    onnxruntime, which refuses [N] zero points for a batched B and applies [N] scales to the
    bias too)."""
    h = cx.input(i)
    shape = cx.shape(h)
    forms = ["a scalar", "[1]"]
    if b_shape is not None:
        col = (b_shape[-1],) if len(b_shape) == 2 else (*b_shape[:-2], 1, b_shape[-1])
        forms.append(f"{list(col)} (per column)")
    if shape not in ((), (1,)) and (b_shape is None or shape != col):
        raise unsupported(f"{what} of shape {list(shape)} is not supported ({', '.join(forms)})")
    return h


def _shifted_integers(cx, i: int, zp_i: int, what: str, b_shape: tuple | None):
    """Integer input i minus its zero point (input zp_i when given: per tensor, or per column of
    B when b_shape is given) as float32, and the largest magnitude of that difference
    (from the values when both are constants, else from the element type's range)."""
    x = cx.input(i)
    dt = np.dtype(cx.np_dtype(x))
    if dt not in (np.int8, np.uint8):
        raise unsupported(f"{what} of element type {dt} is not supported (int8 or uint8)")
    zp = None
    if cx.has(zp_i):
        zp = _per_tensor_or_column(cx, zp_i, f"{what}'s zero point", b_shape)
        if np.dtype(cx.np_dtype(zp)) != dt:
            raise invalid(f"{what}'s zero point is {np.dtype(cx.np_dtype(zp))}, {what} {dt}")
    if isinstance(x, np.ndarray) and (zp is None or isinstance(zp, np.ndarray)):
        z = np.zeros(1, np.int64) if zp is None else np.asarray(zp, np.int64)
        bound = int(np.abs(x.astype(np.int64) - z).max()) if x.size else 0
    else:
        bound = int(range_deviation(cx, i, zp_i))
    xf = cx.emit("Cast", [x], to=DType.f32)
    if zp is not None:
        xf = cx.emit("Sub", [xf, cx.emit("Cast", [zp], to=DType.f32)])
    return xf, bound


def integer_matmul(cx, a, b, a_bound: int, b_bound: int):
    """a @ b of float32 integers with |a| <= a_bound, |b| <= b_bound, as float32: the exact
    integer sum rounded once to float32 (what float(int32 accumulator) gives). One float32
    MatMul when every partial sum stays below 2**24; else MatMuls over slices of K that each
    stay below it, summed exactly in int32 and cast to float32 once (quant.exact_parts)."""
    k = cx.shape(b)[-2]
    per = max(a_bound * b_bound, 1)
    if per * k >= 2 ** 31:
        raise unsupported(f"integer sums up to {per * k} (K={k}) overflow the int32 "
                          "accumulator")
    parts = exact_parts(None, b_bound, a_bound, cx.shape(b)[-2:], 0, 1)
    if len(parts) == 1:
        return cx.emit("MatMul", [a, b])
    acc = summed_parts(cx, parts, lambda x, w: cx.emit("MatMul", [x, w]), a, b, -1, -2)
    return cx.emit("Cast", [acc], to=DType.f32)


def _matmul_to_float(cx, a, a_bound: int, a_scale, b_i: int, b_scale_i: int, b_zp_i: int,
                     bias_i: int):
    """(A - a zp) (B - b zp) as the exact integer sum rounded to float32, times
    a_scale * b_scale (a float32 product, per tensor or per column), plus bias [N]:
    onnxruntime's MatMulIntegerToFloat arithmetic (float(acc) * multiplier + bias)."""
    b = cx.input(b_i)
    b_shape = cx.shape(b)
    if len(b_shape) < 2:
        raise unsupported(f"B of rank {len(b_shape)} is not supported (rank 2 or more)")
    a_shape = cx.shape(a)
    if not a_shape or a_shape[-1] != b_shape[-2]:
        raise invalid(f"A {list(a_shape)} and B {list(b_shape)} do not multiply")
    n = b_shape[-1]
    b_scale = _per_tensor_or_column(cx, b_scale_i, "b_scale", b_shape)
    if cx.np_dtype(b_scale) != np.float32:
        raise unsupported(f"b_scale of element type {cx.np_dtype(b_scale)} is not supported "
                          "(float32 only)")
    bf, b_bound = _shifted_integers(cx, b_i, b_zp_i, "B", b_shape)
    y = integer_matmul(cx, a, bf, a_bound, b_bound)
    y = cx.emit("Mul", [y, cx.emit("Mul", [a_scale, b_scale])])
    if cx.has(bias_i):
        bias = _float_input(cx, bias_i, "bias")
        if cx.shape(bias) != (n,):
            raise invalid(f"bias must be [{n}] (B's columns), got {list(cx.shape(bias))}")
        y = cx.emit("Add", [y, bias])
    return y


@converter(MS + "DynamicQuantizeMatMul")
def dynamic_quantize_matmul(cx):
    """A (float32, any rank) quantized to u8 per tensor as DynamicQuantizeLinear, times B (int8
    or uint8, rank >= 2) less b_zero_point, scaled by A's scale * b_scale, plus bias; b_scale
    and b_zero_point per tensor or per column of B."""
    a = _float_input(cx, 0, "A")
    aq, a_scale = dynamic_quantized(cx, a)
    return _matmul_to_float(cx, aq, 255, a_scale, 1, 2, 3, 4)


@converter(MS + "MatMulIntegerToFloat")
def matmul_integer_to_float(cx):
    """(A - a_zero_point) (B - b_zero_point) * a_scale * b_scale + bias; A and B int8 or uint8,
    a_scale and a_zero_point per tensor (onnxruntime: per-channel A is not supported), b_scale
    and b_zero_point per tensor or per column of B."""
    a_scale = _per_tensor_or_column(cx, 2, "a_scale", None)
    if cx.np_dtype(a_scale) != np.float32:
        raise unsupported(f"a_scale of element type {cx.np_dtype(a_scale)} is not supported "
                          "(float32 only)")
    af, a_bound = _shifted_integers(cx, 0, 4, "A", None)
    return _matmul_to_float(cx, af, a_bound, a_scale, 1, 3, 5, 6)


# ---- fused conv / matmul, bias and activation ops ----

_FUSED_CONV_ACTS = {"Relu": 0, "Sigmoid": 0, "Tanh": 0, "LeakyRelu": 1, "Clip": 2,
                    "HardSigmoid": 2}


@converter(MS + "FusedConv")
def fused_conv(cx):
    """Conv (X, W, B) plus Z (added before the activation), then `activation` with
    activation_params: Relu, Sigmoid, Tanh, LeakyRelu (alpha), Clip (min, max), HardSigmoid
    (alpha, beta). Relu, Sigmoid, LeakyRelu and Clip without Z become the Conv's fused
    activation."""
    from .nn import conv_on
    act = cx.attr("activation", "")
    params = [float(p) for p in cx.attr("activation_params", [])]
    if act and act not in _FUSED_CONV_ACTS:
        raise unsupported(f"activation {act!r} is not one of {sorted(_FUSED_CONV_ACTS)}")
    if act and len(params) != _FUSED_CONV_ACTS[act]:
        raise invalid(f"activation {act} takes {_FUSED_CONV_ACTS[act]} activation_params, got "
                      f"{params}")
    y = conv_on(cx, cx.input(0), cx.input(1), cx.inputs[2] if cx.has(2) else None)
    if cx.has(3):
        y = cx.emit("Add", [y, cx.input(3)])
    if not act:
        return y
    attrs = {"LeakyRelu": lambda: {"alpha": params[0]},
             "Clip": lambda: {"min": params[0], "max": params[1]},
             "HardSigmoid": lambda: {"alpha": params[0], "beta": params[1]}}.get(act, dict)()
    return cx.emit(act, [y], **attrs)


@converter(MS + "FusedMatMul")
def fused_matmul(cx):
    """alpha A' B' with A' / B' the operands with their last two axes swapped under transA /
    transB (1-D operands as MatMul). transBatchA / transBatchB = 1 is refused."""
    for name in ("transBatchA", "transBatchB"):
        if cx.attr(name, 0):
            raise unsupported(f"{name}=1 is not supported")
    ops = []
    for i, name in ((0, "transA"), (1, "transB")):
        x = cx.input(i)
        rank = len(cx.shape(x))
        if cx.attr(name, 0) and rank >= 2:
            x = cx.emit("Transpose", [x], perm=list(range(rank - 2)) + [rank - 1, rank - 2])
        ops.append(x)
    y = cx.emit("MatMul", ops)
    alpha = float(cx.attr("alpha", 1.0))
    return y if alpha == 1.0 else cx.emit("Mul", [y, np.asarray(alpha, cx.np_dtype(y))])


@converter(MS + "BiasAdd")
def bias_add(cx):
    """X [N, S, C] + bias [C] + skip [N, S, C]."""
    x, bias, skip = cx.input(0), cx.input(1), cx.input(2)
    c = cx.shape(x)[-1] if cx.shape(x) else None
    if len(cx.shape(x)) != 3 or cx.shape(bias) != (c,) or cx.shape(skip) != cx.shape(x):
        raise invalid(f"X {list(cx.shape(x))}, bias {list(cx.shape(bias))}, skip "
                      f"{list(cx.shape(skip))} must be [N, S, C], [C], [N, S, C]")
    return cx.emit("Add", [cx.emit("Add", [x, bias]), skip])


def _with_bias(cx):
    """Input 0 plus input 1 (the bias over the last axis) when given."""
    x = cx.input(0)
    if not cx.has(1):
        return x
    b = cx.input(1)
    if len(cx.shape(b)) != 1 or not cx.shape(x) or cx.shape(b)[0] != cx.shape(x)[-1]:
        raise invalid(f"bias {list(cx.shape(b))} must be 1-D of the input's last dimension "
                      f"({list(cx.shape(x))})")
    return cx.emit("Add", [x, b])


@converter(MS + "Gelu", MS + "BiasGelu", MS + "FastGelu")
def gelu(cx):
    """Gelu: the erf form; BiasGelu: Gelu(A + B); FastGelu: the tanh form of X (+ bias)."""
    x = _with_bias(cx) if cx.op_type != "Gelu" else cx.input(0)
    if cx.op_type == "BiasGelu" and not cx.has(1):
        raise invalid("input 1 (B) is required")
    return cx.emit("Gelu", [x], approximate="tanh" if cx.op_type == "FastGelu" else "none")


@converter(MS + "QuickGelu")
def quick_gelu(cx):
    """x sigmoid(alpha x) (alpha 1.702 by default)."""
    x = cx.input(0)
    alpha = np.asarray(float(cx.attr("alpha", 1.702)), cx.np_dtype(x))
    return cx.emit("Mul", [x, cx.emit("Sigmoid", [cx.emit("Mul", [x, alpha])])])


# ---- layer normalizations ----

def _norm_outputs(cx, x, gamma, beta, axis: int, simplified: bool, eps: float):
    """(y, mean, inv_std_var) of a layer norm (simplified: RMS, no mean) over axes axis..;
    the statistics keep the normalized axes as 1."""
    rank = len(cx.shape(x))
    axes = list(range(axis, rank))
    dtype = cx.np_dtype(x)
    centred = x
    mean = None
    if not simplified:
        mean = cx.emit("ReduceMean", [x], axes=axes, keepdims=True)
        centred = cx.emit("Sub", [x, mean])
    var = cx.emit("ReduceMean", [cx.emit("Mul", [centred, centred])], axes=axes, keepdims=True)
    inv = cx.emit("Reciprocal", [cx.emit("Sqrt", [cx.emit("Add", [var, np.asarray(eps,
                                                                                    dtype)])])])
    y = cx.emit("Mul", [cx.emit("Mul", [centred, inv]), gamma])
    if beta is not None:
        y = cx.emit("Add", [y, beta])
    return y, mean, inv


@converter("SimplifiedLayerNormalization")
def simplified_layer_norm(cx):
    """onnxruntime's RMS norm (its default-domain contrib op): X / sqrt(mean(X^2 over axes
    axis..) + epsilon) * scale; output 1 inv_std_var."""
    x = cx.input(0)
    if cx.attr("stash_type", 1) != 1:
        raise unsupported("stash_type other than 1 (float32 statistics) is not supported")
    rank = len(cx.shape(x))
    axis = cx.attr("axis", -1)
    if not -rank <= axis < rank:
        raise invalid(f"axis {axis} is out of range for rank {rank}")
    y, _, inv = _norm_outputs(cx, x, cx.input(1), None, axis % rank, True,
                              float(cx.attr("epsilon", 1e-5)))
    return (y, inv) if cx.num_outputs > 1 else y


@converter(MS + "SkipLayerNormalization", MS + "SkipSimplifiedLayerNormalization")
def skip_layer_norm(cx):
    """LayerNorm (RMS norm for the simplified form) over the last axis of input + skip (+ bias),
    with gamma (and beta); outputs output, mean, inv_std_var (each [.., 1]) and
    input_skip_bias_sum. skip may be [B, S, H], [1, S, H] or [S, H]."""
    simplified = cx.op_type == "SkipSimplifiedLayerNormalization"
    x, skip, gamma = cx.input(0), cx.input(1), cx.input(2)
    shape = cx.shape(x)
    if len(shape) != 3:
        raise invalid(f"input must be 3-D [batch, seq, hidden], got {list(shape)}")
    h = shape[-1]
    if cx.shape(skip) not in (shape, (1, *shape[1:]), shape[1:]):
        raise invalid(f"skip {list(cx.shape(skip))} must be {list(shape)}, "
                      f"{[1, *shape[1:]]} or {list(shape[1:])}")
    beta_i, bias_i = (None, 3) if simplified else (3, 4)
    for i, what in ((2, "gamma"), (beta_i, "beta"), (bias_i, "bias")):
        if i is not None and cx.has(i) and cx.shape(cx.input(i)) != (h,):
            raise invalid(f"{what} must be [{h}], got {list(cx.shape(cx.input(i)))}")
    s = cx.emit("Add", [x, skip])
    if cx.has(bias_i):
        s = cx.emit("Add", [s, cx.input(bias_i)])
    beta = cx.input(beta_i) if beta_i is not None and cx.has(beta_i) else None
    y, mean, inv = _norm_outputs(cx, s, gamma, beta, 2, simplified,
                                 float(cx.attr("epsilon", 1e-12)))
    names = list(cx.node.output)
    if simplified and len(names) > 1 and names[1]:
        raise unsupported("output 1 (mean) of the simplified form is not defined")
    return (y, mean, inv, s)[:max(len(names), 1)]
