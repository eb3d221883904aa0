"""Signal processing: DFT (complex numbers as a trailing axis of 2, real and imaginary parts)."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import TensorType


def dft_output_shape(shape, axis: int, length: int, inverse: bool, onesided: bool):
    out = list(shape)
    out[axis] = length // 2 + 1 if onesided and not inverse else length
    out[-1] = 1 if onesided and inverse else 2
    return out


def _dft_type(types, attrs_):
    x = types[0]
    if not x.dtype.is_float:
        raise IRError(f"takes a float tensor, got {x.dtype.value}")
    if x.rank < 2 or x.shape[-1] not in (1, 2):
        raise IRError(f"takes a tensor whose last axis (of 1 or 2) holds the real (and "
                      f"imaginary) part, got {list(x.shape)}")
    if not 0 <= attrs_["axis"] < x.rank - 1:
        raise IRError(f"axis {attrs_['axis']} must be in [0, {x.rank - 1}) (the last axis "
                      "holds the complex parts)")
    return TensorType(dft_output_shape(x.shape, attrs_["axis"], attrs_["length"],
                                       attrs_["inverse"], attrs_["onesided"]), x.dtype)


@define_op("DFT", inputs=("X",),
           attrs={"axis": Attr("int", doc="the transformed axis, not the last"),
                  "length": Attr("int", check=lambda n: None if n >= 1 else "must be >= 1",
                                 doc="the DFT length n; the axis is zero-padded or cut to n"),
                  "inverse": Attr("bool", False), "onesided": Attr("bool", False)},
           infer=_dft_type)
def dft(x, *, axis, length, inverse, onesided):
    """ONNX DFT of X (..., 1) real or (..., 2) complex along `axis` (cut or zero-padded to
    length n): y[k] = sum_j x[j] exp(-2 pi i jk / n); inverse: (1/n) sum_k y[k] exp(2 pi i jk / n).
    onesided forward keeps bins 0..n//2 (RFFT); onesided inverse reads bins 0..n//2 of a
    conjugate-symmetric spectrum and returns the real signal (..., 1) (IRFFT). Computed in
    float64."""
    n = length
    z = x[..., 0].astype(np.float64)
    if x.shape[-1] == 2:
        z = z + 1j * x[..., 1].astype(np.float64)
    if inverse and onesided:
        return np.fft.irfft(z, n=n, axis=axis)[..., None].astype(x.dtype)
    y = np.fft.ifft(z, n=n, axis=axis) if inverse else np.fft.fft(z, n=n, axis=axis)
    if onesided:
        y = np.take(y, np.arange(n // 2 + 1), axis=axis)
    return np.stack([y.real, y.imag], axis=-1).astype(x.dtype)
