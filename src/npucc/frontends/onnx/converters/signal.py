"""Signal processing: DFT, STFT (frames gathered, windowed, then the core DFT) and
MelWeightMatrix (computed at import). Complex values are a trailing axis of 2 (real, imaginary)
as in ONNX."""

from __future__ import annotations

import numpy as np

from ..importer import invalid, onnx_dtype, unsupported
from . import converter


def _int_scalar(cx, i: int, what: str):
    v = cx.optional_scalar(i, what)
    if v is None:
        return None
    if v != int(v):
        raise invalid(f"{what} must be an integer, got {v}")
    return int(v)


def _float_check(cx, x):
    if cx.np_dtype(x).kind != "f":
        raise unsupported(f"input of element type {cx.np_dtype(x)} is not supported (float "
                          "only)")


@converter("DFT")
def dft(cx):
    """Opset 17 (axis attribute, default 1) and 20 (axis input, default -2); dft_length,
    inverse and onesided (RFFT forward, IRFFT inverse) as the spec defines them."""
    x = cx.input(0)
    _float_check(cx, x)
    shape = cx.shape(x)
    rank = len(shape)
    if rank < 2 or shape[-1] not in (1, 2):
        raise invalid(f"input {list(shape)} must end in an axis of 1 (real) or 2 (complex)")
    if cx.opset >= 20:
        axis = _int_scalar(cx, 2, "axis")
        axis = -2 if axis is None else axis
    else:
        axis = cx.attr("axis", 1)
    if not (-rank <= axis <= -2 or 0 <= axis <= rank - 2):
        raise invalid(f"axis {axis} must be in [-{rank}, -2] or [0, {rank - 2}] (the last axis "
                      "holds the complex parts)")
    axis %= rank
    inverse, onesided = bool(cx.attr("inverse", 0)), bool(cx.attr("onesided", 0))
    n = _int_scalar(cx, 1, "dft_length")
    if n is None:
        n = 2 * (shape[axis] - 1) if inverse and onesided else shape[axis]
    if n < 1:
        raise invalid(f"dft_length {n} must be >= 1")
    if inverse and onesided and n // 2 + 1 != shape[axis]:
        raise unsupported(f"an inverse one-sided DFT (IRFFT) of dft_length {n} needs "
                          f"{n // 2 + 1} input bins, the input has {shape[axis]}: the ONNX "
                          "reference and onnxruntime disagree on cutting or padding them")
    return _dft(cx, x, axis, n, inverse, onesided)


def _dft(cx, x, axis, n, inverse, onesided):
    from ....ir.ops.signal import dft_output_shape

    out = dft_output_shape(cx.shape(x), axis, n, inverse, onesided)
    cx.check_size(out, cx.np_dtype(x).itemsize, f"the {cx.op_type} output")
    return cx.emit("DFT", [x], axis=axis, length=n, inverse=inverse, onesided=onesided)


@converter("STFT")
def stft(cx):
    """Frames of frame_length every frame_step samples (a Gather of the signal), times the
    window, then a DFT of each frame (onesided: the frame_length // 2 + 1 first bins)."""
    x = cx.input(0)
    _float_check(cx, x)
    shape = cx.shape(x)
    if len(shape) != 3 or shape[-1] not in (1, 2):
        raise invalid(f"signal {list(shape)} must be [batch, length, 1 or 2]")
    step = _int_scalar(cx, 1, "frame_step")
    if step is None or step < 1:
        raise invalid(f"frame_step must be >= 1, got {step}")
    window = cx.input(2) if cx.has(2) else None
    length = _int_scalar(cx, 3, "frame_length")
    if window is not None:
        if len(cx.shape(window)) != 1:
            raise invalid(f"window must be 1-D, got {list(cx.shape(window))}")
        if length is not None and length != cx.shape(window)[0]:
            raise invalid(f"frame_length {length} differs from the window's "
                          f"{cx.shape(window)[0]}")
        length = cx.shape(window)[0]
    if length is None:
        length = shape[1]
    if not 1 <= length <= shape[1]:
        raise invalid(f"frame_length {length} must be in [1, {shape[1]}] (the signal length)")
    frames = (shape[1] - length) // step + 1
    cx.check_size([frames, length], 8, "the STFT frame indices")
    cx.check_size([shape[0], frames, length, 2], cx.np_dtype(x).itemsize, "the STFT frames")
    index = np.arange(frames, dtype=np.int64)[:, None] * step + np.arange(length,
                                                                             dtype=np.int64)
    framed = cx.emit("Gather", [x, index], axis=1)  # [batch, frames, length, 1 or 2]
    if window is not None:
        framed = cx.emit("Mul", [framed, cx.emit("Reshape", [window], shape=[length, 1])])
    onesided = bool(cx.attr("onesided", 1))
    if onesided and shape[-1] == 2:
        raise invalid("onesided=1 takes a real signal (a complex one has no one-sided "
                      "spectrum)")
    return _dft(cx, framed, 2, length, False, onesided)


@converter("MelWeightMatrix")
def mel_weight_matrix(cx):
    """Triangular mel filters [dft_length // 2 + 1, num_mel_bins], computed at import: every
    input must be known then."""
    bins = _int_scalar(cx, 0, "num_mel_bins")
    n = _int_scalar(cx, 1, "dft_length")
    rate = _int_scalar(cx, 2, "sample_rate")
    if bins is None or n is None or rate is None or not cx.has(3) or not cx.has(4):
        raise invalid("num_mel_bins, dft_length, sample_rate, lower_edge_hertz and "
                      "upper_edge_hertz are required")
    lo = cx.static(3, "lower_edge_hertz").reshape(-1)[0]
    hi = cx.static(4, "upper_edge_hertz").reshape(-1)[0]
    dtype = onnx_dtype(cx.attr("output_datatype", 1))
    if bins < 1 or n < 1 or rate < 1:
        raise invalid(f"num_mel_bins {bins}, dft_length {n} and sample_rate {rate} must be >= 1")
    if not (0 <= lo <= hi and np.isfinite(hi)):
        raise invalid(f"need 0 <= lower_edge_hertz ({lo}) <= upper_edge_hertz ({hi})")
    spectrum = n // 2 + 1
    cx.check_size([spectrum, bins], 8, "the MelWeightMatrix")
    return mel_weights(bins, n, rate, lo, hi, spectrum).astype(dtype)


def mel_weights(bins, n, rate, lo, hi, spectrum) -> np.ndarray:
    """The filters onnxruntime (and the ONNX reference) compute: num_mel_bins + 2 points from lo
    spaced by (mel(hi) - mel(lo)) / (num_mel_bins + 2) in mel, each converted to a spectrum bin
    floor((dft_length + 1) * hz / sample_rate); filter i rises from point i to point i + 1 and
    falls to point i + 2 (a filter whose rise is empty is 1 at its centre). lo and hi keep their
    element type, as in the reference."""
    ln10 = np.log(10)
    lo_mel = 2595 * np.log1p(lo / 700) / ln10
    hi_mel = 2595 * np.log1p(hi / 700) / ln10
    step = (hi_mel - lo_mel) / (bins + 2)
    hz = 700 * np.expm1((np.arange(bins + 2) * step + lo_mel) / 2595 * ln10)
    points = (((n + 1) * hz) // rate).astype(np.int64).tolist()
    w = np.zeros((spectrum, bins))
    for i in range(bins):
        left, centre, right = points[i:i + 3]
        if not 0 <= left <= centre <= right <= spectrum or centre >= spectrum:
            raise invalid(f"mel filter {i} spans spectrum bins {left} to {right}, outside the "
                          f"{spectrum} bins of dft_length {n} (upper_edge_hertz above the "
                          "Nyquist frequency?)")
        if centre == left:
            w[centre, i] = 1
        for j in range(left, centre + 1 if centre > left else left):
            w[j, i] = (j - left) / (centre - left)
        for j in range(centre, right):
            w[j, i] = (right - j) / (right - centre)
    return w
