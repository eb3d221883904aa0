"""UNIDIRECTIONAL_SEQUENCE_LSTM (what Keras LSTM layers convert to) as the core LSTM (ONNX)."""

from __future__ import annotations

import numpy as np
import tflite

from ..tf_common import ConversionError, quant_of, shape_of

_ACT = tflite.ActivationFunctionType
# TFLite input slots: input-to-gate weights 1-4, recurrent weights 5-8 and biases 12-15 are in
# gate order i, f, c, o; peepholes 9-11 are i, f, o. ONNX orders gates i, o, f, c (peepholes
# i, o, f).
_ONNX_ORDER = (0, 3, 1, 2)
_PEEPHOLES = (9, 11, 10)
_UNSUPPORTED = {16: "a projection", 17: "a projection bias", 20: "layer normalization",
                21: "layer normalization", 22: "layer normalization", 23: "layer normalization"}


def _float_constant(op, i: int, what: str, shape) -> np.ndarray:
    w = op.static(i, what)
    if w.dtype != np.float32 or op.tensor(i).quant is not None:
        raise ConversionError(f"{what} is {op.tensor(i).type_name}; only float32 LSTM weights "
                              "are supported (no hybrid or integer LSTM)")
    if tuple(w.shape) != tuple(shape):
        raise ConversionError(f"{what} has shape {list(w.shape)}, expected {list(shape)}", False)
    return w


def _state(op, i: int, what: str, shape) -> np.ndarray:
    """An initial state: the variable tensor's zeros, or its constant value."""
    t = op.tensor(i)
    if t.data is None and t.variable:
        return np.zeros(shape, np.float32)
    return _float_constant(op, i, what, shape)


def unidirectional_sequence_lstm(imp, op):
    """Default activations (sigmoid gates, tanh cell and output), optional peepholes, no
    projection, layer normalization or CIFG; weights and initial states constant; cell_clip
    (Keras conversions set 10) is the core LSTM's."""
    o = op.options(tflite.UnidirectionalSequenceLSTMOptions, required=True)
    if o.FusedActivationFunction() != _ACT.TANH:
        raise ConversionError(f"LSTM activation {o.FusedActivationFunction()} is not supported "
                              "(only tanh)")
    for i, what in _UNSUPPORTED.items():
        if op.has(i):
            raise ConversionError(f"LSTM with {what} is not supported")
    if not op.has(1):
        raise ConversionError("CIFG LSTM (no input gate) is not supported")
    x = op.input(0)
    if quant_of(x) is not None or len(shape_of(x)) != 3:
        raise ConversionError(f"LSTM takes a float [batch, time, input] tensor, got "
                              f"{list(shape_of(x))}{' quantized' if quant_of(x) else ''}")
    time_major = bool(o.TimeMajor())
    seq, batch, size = (shape_of(x)[i] for i in ((0, 1, 2) if time_major else (1, 0, 2)))
    hidden = op.tensor(5).shape[0] if op.tensor(5).shape else 0
    if hidden < 1:
        raise ConversionError("LSTM recurrent weights have no hidden units", False)
    # the weights' payloads bound `hidden` before any state is made from it
    w = [_float_constant(op, 1 + g, f"input weights {g}", (hidden, size)) for g in _ONNX_ORDER]
    r = [_float_constant(op, 5 + g, f"recurrent weights {g}", (hidden, hidden))
         for g in _ONNX_ORDER]
    b = [_float_constant(op, 12 + g, f"bias {g}", (hidden,)) for g in _ONNX_ORDER]
    c0 = _state(op, 19, "cell state", (batch, hidden))
    cell_clip = float(o.CellClip())
    if not (np.isfinite(cell_clip) and cell_clip >= 0):
        raise ConversionError(f"LSTM cell_clip={cell_clip} must be a finite number >= 0", False)
    inputs = [np.concatenate(w)[None], np.concatenate(r)[None],
              np.concatenate(b + [np.zeros(4 * hidden, np.float32)])[None],
              _state(op, 18, "output state", (batch, hidden))[None], c0[None]]
    if any(op.has(i) for i in _PEEPHOLES):
        inputs.append(np.concatenate([_float_constant(op, i, "peephole weights", (hidden,))
                                      for i in _PEEPHOLES])[None])
    if not time_major:
        x = imp.b.emit("Transpose", [x], {"perm": (1, 0, 2)}, label=op.label)
    y = imp.b.emit("LSTM", [x, *inputs], {"hidden_size": hidden, "cell_clip": cell_clip},
                   label=op.label)
    if time_major:
        return imp.emit(op, "Reshape", [y], {"shape": (seq, batch, hidden)})
    y = imp.b.emit("Reshape", [y], {"shape": (seq, batch, hidden)}, label=op.label)
    return imp.emit(op, "Transpose", [y], {"perm": (1, 0, 2)})
