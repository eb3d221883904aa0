"""onnxruntime's contrib ops (domain com.microsoft) that its graph optimizer and dynamic quantizer
write into shipped models, lowered onto core ops (the QLinear* QOperator ops: quant.py).

The dynamically quantized ops (DynamicQuantizeLSTM, DynamicQuantizeMatMul, MatMulIntegerToFloat)
follow what onnxruntime computes, not only the spec's intent: each float activation matrix is
quantized per call to uint8 from its own range widened to hold 0 (DynamicQuantizeLinear's
formula), multiplied with the zero-point-shifted integer weights (a float32 MatMul of integers:
exact while the accumulated sums stay below 2**24, as MatMulInteger), and scaled by
activation scale * weight scale computed in float32."""

from __future__ import annotations

import numpy as np

from .... import limits
from ....errors import LimitError
from ..importer import invalid, unsupported
from . import converter

MS = "com.microsoft."
F32 = np.float32


def dynamic_quantized(cx, x):
    """(q - zero point) as float32 and the scale of x quantized to uint8 per tensor as
    onnxruntime's dynamic quantization does it (DynamicQuantizeLinear's formula)."""
    axes = list(range(len(cx.shape(x))))
    lo = cx.emit("Min", [cx.emit("ReduceMin", [x], axes=axes, keepdims=False), F32(0)])
    hi = cx.emit("Max", [cx.emit("ReduceMax", [x], axes=axes, keepdims=False), F32(0)])
    scale = cx.emit("Where", [cx.emit("Equal", [hi, lo]), F32(1),
                              cx.emit("Div", [cx.emit("Sub", [hi, lo]), F32(255)])])
    zp = cx.emit("Clip", [cx.emit("Round", [cx.emit("Div", [cx.emit("Neg", [lo]), scale])])],
                 min=0.0, max=255.0)
    q = cx.emit("Clip", [cx.emit("Add", [cx.emit("Round", [cx.emit("Div", [x, scale])]), zp])],
                min=0.0, max=255.0)
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
        xw = cx.emit("Mul", [cx.emit("MatMul", [xq, wf]), cx.emit("Mul", [xs, ws])])
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
                                cx.emit("Mul", [cx.emit("MatMul", [hq, rf]),
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
