"""Quantization schemes as range selection sees them: the integer grid a clip range [lo, hi] maps
to, and the constraints a range must meet (zero included, symmetric, power-of-two).

    scheme_for("u8")                       # asymmetric_quantized-u8 (RKNN v1 default)
    scheme_for("w8a8")                     # i8, asymmetric activations (RKNN-Toolkit2 default)
    scheme_for("i8", symmetric=True)       # symmetric int8 [-127, 127]
    scheme_for("dynamic_fixed_point-i16")  # dfp16: symmetric, scale a power of two

Formulas (RKNN v1 user guide; VeriSilicon's ovxlib for dynamic fixed point):
affine: rmin = min(lo, 0), rmax = max(hi, 0), scale = (rmax - rmin) / (qmax - qmin),
zp = clamp(round(qmin - rmin / scale), qmin, qmax); symmetric: scale = max(|lo|, |hi|) / qmax,
zp = 0; dynamic fixed point: fl = bits - 1 - ceil(log2(max(|lo|, |hi|))), scale = 2**-fl.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from .stats import CalibrationError


@attrs.frozen
class Scheme:
    """name: u8, i8, i8-symmetric, dfp8, dfp16 or fp16 (fp16 has no grid: no calibration)."""

    name: str
    bits: int
    qmin: int
    qmax: int
    symmetric: bool
    power_of_two: bool = False

    @property
    def calibrated(self) -> bool:
        return self.name != "fp16"

    @property
    def levels(self) -> int:
        return self.qmax - self.qmin + 1

    def constrain(self, lo: float, hi: float) -> tuple[float, float]:
        """The range the scheme actually represents for a selected [lo, hi]: zero included;
        symmetric schemes widen to +-max|.|; power-of-two ones to +-2**ceil(log2(max|.|))."""
        lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
        if not self.symmetric:
            return lo, hi
        m = max(-lo, hi)
        if self.power_of_two and m > 0:
            m = math.ldexp(1.0, math.frexp(m)[1] - (1 if math.frexp(m)[0] == 0.5 else 0))
        return -m, m

    def grid(self, lo, hi):
        """(scale, zero_point) for clip ranges lo, hi (scalars or arrays; float64)."""
        lo = np.minimum(np.asarray(lo, np.float64), 0.0)
        hi = np.maximum(np.asarray(hi, np.float64), 0.0)
        if self.symmetric:
            m = np.maximum(-lo, hi)
            if self.power_of_two:
                m = np.where(m > 0, np.exp2(np.ceil(np.log2(np.where(m > 0, m, 1.0)))), 0.0)
                scale = m / 2.0 ** (self.bits - 1)  # 2**-fl
            else:
                scale = m / self.qmax
            return np.where(scale > 0, scale, 1.0), np.zeros_like(scale)
        scale = (hi - lo) / (self.qmax - self.qmin)
        scale = np.where(scale > 0, scale, 1.0)
        zp = np.clip(np.rint(self.qmin - lo / scale), self.qmin, self.qmax)
        return scale, zp


_SCHEMES = {
    "u8": Scheme("u8", 8, 0, 255, False),
    "i8": Scheme("i8", 8, -128, 127, False),
    "i8-symmetric": Scheme("i8-symmetric", 8, -127, 127, True),
    "dfp8": Scheme("dfp8", 8, -127, 127, True, True),
    "dfp16": Scheme("dfp16", 16, -32767, 32767, True, True),
    "fp16": Scheme("fp16", 16, 0, 0, False),
}
SCHEME_NAMES = tuple(n for n in _SCHEMES if n != "i8-symmetric")  # what quantized_dtype takes

# RKNN-Toolkit v1 / v2 spellings (quantized_dtype, hybrid cfg types) and common aliases
ALIASES = {
    "asymmetric_quantized-u8": "u8", "asymmetric_affine-u8": "u8", "uint8": "u8",
    "asymmetric_quantized-8": "i8", "w8a8": "i8", "int8": "i8",
    "dynamic_fixed_point-i8": "dfp8", "dynamic_fixed_point-8": "dfp8",
    "dynamic_fixed_point-i16": "dfp16", "dynamic_fixed_point-16": "dfp16",
    "w16a16i_dfp": "dfp16", "float16": "fp16",
}


def scheme_for(dtype: str, symmetric: bool | None = None) -> Scheme:
    """The Scheme of a dtype name (npucc or RKNN spelling). `symmetric` picks the symmetric
    form of i8 (u8 is always asymmetric, dynamic fixed point always symmetric)."""
    name = ALIASES.get(str(dtype).lower(), str(dtype).lower())
    if name not in _SCHEMES:
        raise CalibrationError(f"unknown quantized dtype {dtype!r}; one of "
                               f"{sorted(set(_SCHEMES) - {'i8-symmetric'})} or RKNN's "
                               f"{sorted(ALIASES)}")
    if symmetric and name == "i8":
        name = "i8-symmetric"
    elif symmetric and name == "u8":
        raise CalibrationError("u8 is asymmetric (zero point 0..255); use i8 for symmetric")
    elif symmetric is False and _SCHEMES[name].symmetric:
        raise CalibrationError(f"{name} is always symmetric")
    return _SCHEMES[name]
