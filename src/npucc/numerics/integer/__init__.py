"""The `affine` and `dfp` profiles: one integer arithmetic for two schemes.

- affine: asymmetric u8 (RKNN-Toolkit v1 asymmetric_quantized-u8) and asymmetric i8 activations
  with per-channel symmetric i8 weights (RKNN-Toolkit2 w8a8); int32 accumulation, bias int32 at
  s_x * s_w, requantization by an int32 fixed-point multiplier and shift, saturation.
- dfp: dynamic fixed point i8 / i16 (value = q * 2**-fl, symmetric, saturating to
  +-(2**(bits-1) - 1)); the same arithmetic on power-of-two scales, where every multiplier is
  2**30 and requantization is a rounding shift; bias at fl_x + fl_w in int32 (i8) / int64 (i16).
Both round half to even, once per op (see docs/ARCHITECTURE.md for why). Importing the package
registers the kernels."""

from . import elementwise, linear, pooling, softmax  # noqa: F401
