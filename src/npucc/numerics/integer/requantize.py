"""Requantization in the affine and dfp profiles: one rounding, half to even.

An int32 accumulator `a` (plus a per-channel integer offset) is rescaled by the real factor
s_in * s_w / s_out expressed as a fixed-point multiplier m (an int32 in [2**30, 2**31)) and a
shift: y = round_half_even((a + offset) * m * 2**(shift - 31)) + zp_out, saturated to the output's
integer range. For power-of-two factors (dynamic fixed point) m = 2**30 and this is a rounding
shift. The result is computed in float64 when every product is exact there (|a * m'| < 2**53,
m' = m without its trailing zero bits; checked per run on the actual accumulators), else in int64
with the same rounding. Both give the same integers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import jit
from ..fixed_point import odd_part, quantize_multiplier, shift_round_half_even

PROFILES = ("affine", "dfp")
EXACT = 2.0 ** 53


def round_to_int(value: float, scale: float, zero_point: int) -> int:
    """zero_point + round_half_even(value / scale), in float64: a real bound (0 of a relu, 6 of
    a relu6) in the integers of a tensor."""
    return zero_point + int(np.rint(np.float64(value) / np.float64(scale)))


class _Scaling:
    """One fixed-point factor per channel: m, the right shift s = 31 - shift, and r = m * 2**-s
    as a float64 (exact)."""

    def __init__(self, real, offset):
        m, shift = quantize_multiplier(real)
        self.m, self.s = m.reshape(np.shape(real)), (31 - shift).reshape(np.shape(real))
        self.r = np.ldexp(self.m.astype(np.float64), -self.s)
        self.c = offset * self.r  # exact when |offset * m'| < 2**53 (checked with the bound)
        self.odd = float(np.max(np.abs(odd_part(self.m))))  # negative factors: Div by -c

    def fast(self, acc, out=None) -> np.ndarray:
        """(acc + offset) * m * 2**-s, exact in float64, not yet rounded."""
        z = np.asarray(np.multiply(acc, self.r, out=out, dtype=np.float64))
        z += self.c
        return z

    def exact(self, acc_plus_offset: np.ndarray) -> np.ndarray:
        return shift_round_half_even(acc_plus_offset * self.m, self.s)


def _exact(bound, offset: np.ndarray, odd: float) -> bool:
    """Whether (acc + offset) * m' stays below 2**53 for every |acc| <= bound."""
    off_max = float(np.max(np.abs(offset))) if offset.size else 0.0
    return float(np.max(bound)) + off_max < EXACT / odd


def static_factors(real, offset, bound) -> tuple[np.ndarray, np.ndarray] | None:
    """(r, c), float64 arrays shaped like `real`: acc * r + c is (acc + offset) * real' exactly
    for every |acc| <= bound (the float64 path of `requantizer`, whose rounding then gives its
    integers); None when that bound does not make it exact."""
    offset = np.asarray(offset, np.int64)
    pos = _Scaling(np.asarray(real, np.float64), offset)
    if not _exact(bound, offset, pos.odd):
        return None
    shape = np.broadcast_shapes(np.shape(pos.r), np.shape(pos.c))
    return np.broadcast_to(pos.r, shape), np.broadcast_to(pos.c, shape)


def requantizer(real, *, zy: int, lo: int, hi: int, dtype, offset=0, bound=np.inf,
                negative_real=None) -> Callable[[np.ndarray], np.ndarray]:
    """acc [, out] -> clip(round_half_even((acc + offset) * real') + zy, lo, hi) as `dtype` (into
    `out` if given), real' the
    fixed-point form of `real`; `negative_real` (leaky / PRelu slopes times real) applies where
    acc + offset < 0. real, offset, negative_real broadcast per channel against acc; `bound`
    is a static bound on |acc| (the check then needs no pass over the data)."""
    offset = np.asarray(offset, np.int64)
    pos = _Scaling(np.asarray(real, np.float64), offset)
    neg = None if negative_real is None else _Scaling(np.asarray(negative_real, np.float64),
                                                      offset)
    odd = max(pos.odd, neg.odd if neg is not None else 0.0)
    off_max = float(np.max(np.abs(offset))) if offset.size else 0.0
    static_ok = _exact(bound, offset, odd)

    def fits(acc) -> bool:
        if static_ok:
            return True
        if acc.size == 0:
            return True
        big = max(float(np.max(acc)), -float(np.min(acc)))
        return big + off_max < EXACT / odd

    buffers: dict[tuple, np.ndarray] = {}  # float64 scratch per accumulator shape
    # the compiled form of the fast path below (jit.py); slopes keep the numpy form
    loop = jit.requantize_loop(pos.r, pos.c, lo - zy, hi - zy, zy) if neg is None else None

    def run(acc, out=None):
        if fits(acc):
            if loop is not None:
                result = out if out is not None else np.empty(np.shape(acc), dtype)
                if loop(acc, result):
                    return result
            shape = np.broadcast_shapes(np.shape(acc), pos.r.shape)
            buf = buffers.get(shape)
            if buf is None and len(shape):
                buf = buffers[shape] = np.empty(shape, np.float64)
            z = pos.fast(acc, buf)
            if neg is not None:
                z = np.asarray(np.where(z >= 0, z, neg.fast(acc)))
            np.rint(z, out=z)
        else:
            a = (np.rint(acc).astype(np.int64) if acc.dtype.kind == "f" else
                 acc.astype(np.int64)) + offset
            z = np.asarray(pos.exact(a))
            if neg is not None:
                z = np.where(a >= 0, z, neg.exact(a))
        np.clip(z, lo - zy, hi - zy, out=z)
        if out is None:
            out = np.empty(z.shape, dtype)
        np.add(z, zy, out=out, casting="unsafe")  # integers: the cast is exact
        return out
    return run
