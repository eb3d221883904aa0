"""Fixed-point primitives: TFLite's (gemmlowp) and the round-half-even ones of the affine and dfp
profiles. Every function works elementwise on int64 arrays holding int32 values (or floats
holding exact integers where it says so)."""

from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def tflite_round(x):
    """std::round: halves away from zero (TfLiteRound). In float64, so that x + 0.5 is exact for
    float32 x (in float32, 0.49999997 + 0.5 would round up to 1)."""
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_multiplier(real) -> tuple[np.ndarray, np.ndarray]:
    """TFLite QuantizeMultiplier, elementwise: real ~= m * 2**(shift - 31) with m an int32 in
    [2**30, 2**31) (0 for real == 0). Returns int64 arrays (m, shift). A power of two gives
    m = 2**30 exactly."""
    real = np.atleast_1d(np.asarray(real, dtype=np.float64))
    q, shift = np.frexp(real)
    m = tflite_round(q * float(1 << 31)).astype(np.int64)
    carry = m == (1 << 31)
    m = np.where(carry, m // 2, m)
    shift = np.where(carry, shift + 1, shift).astype(np.int64)
    tiny = shift < -31
    m = np.where(tiny | (real == 0), 0, m)
    shift = np.where(tiny | (real == 0), 0, shift)
    return m, shift


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64 arrays."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2**exponent rounded to nearest, ties away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite MultiplyByQuantizedMultiplier (double rounding): x * m * 2**(shift - 31)."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = np.asarray(x, np.int64) * (np.int64(1) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


def multiply_by_quantized_multiplier_single_round(x, multiplier, shift):
    """The single-rounding form (TFLITE_SINGLE_ROUNDING): (x * m + 2**(30 - shift)) >> (31 - shift),
    one rounding, ties toward +inf. LiteRT's reference FULLY_CONNECTED requantizes this way
    (measured bit-exact against ai-edge-litert 2.3; conv, add, mul... use double rounding)."""
    total = 31 - np.asarray(shift, np.int64)
    return (np.asarray(x, np.int64) * np.asarray(multiplier, np.int64)
            + (np.int64(1) << (total - 1))) >> total


# ---------------------------------------------------------------- round half to even

def shift_round_half_even(v, s):
    """v / 2**s rounded to nearest, ties to even, on int64 arrays; s may be <= 0 (an exact left
    shift). floor((v + 2**(s-1) - 1 + parity) / 2**s), parity = the last kept bit of v."""
    v = np.asarray(v, np.int64)
    s = np.asarray(s, np.int64)
    right = np.maximum(s, 1)
    half = np.int64(1) << (right - 1)
    parity = (v >> right) & 1
    rounded = (v + half - 1 + parity) >> right
    return np.where(s > 0, rounded, v << np.maximum(-s, 0))


def multiply_round_half_even(x, multiplier, shift):
    """x * m * 2**(shift - 31), rounded half to even, exactly in int64 (|x * m| < 2**63)."""
    return shift_round_half_even(np.asarray(x, np.int64) * np.asarray(multiplier, np.int64),
                                 31 - np.asarray(shift, np.int64))


def divide_round_half_even(n, d):
    """n / d rounded to nearest, ties to even, exactly: integer arrays (int64, or object arrays
    of Python ints for wider values), d != 0."""
    flip = d < 0
    n, d = np.where(flip, -n, n), np.where(flip, -d, d)
    q = n // d
    twice = 2 * (n - q * d)  # twice the remainder, in [0, 2d)
    return q + ((twice > d) | ((twice == d) & (q % 2 != 0)))


def odd_part(m) -> np.ndarray:
    """m with its trailing zero bits removed (1 for 0): the bits a float64 product with m needs.
    A power-of-two multiplier (dynamic fixed point) has odd part 1."""
    m = np.asarray(m, np.int64)
    m = np.where(m == 0, 1, m)
    return m // (m & -m)
