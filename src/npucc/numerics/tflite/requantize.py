"""TFLite's requantization of int32 accumulators, computed fast where that is exact."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..fixed_point import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_round,
)


def requantizer(mult, shift, *, single_round: bool, offset, raw_bound, total_bound, zy: int,
                 lo: int, hi: int, dtype) -> Callable[[np.ndarray], np.ndarray]:
    """acc -> clamp(requantize(acc + offset) + zy, lo, hi) as `dtype`, for accumulators holding
    exact integers (float or int arrays) with |acc| <= raw_bound and |acc + offset| <=
    total_bound; mult, shift, offset and the bounds broadcast against acc (per channel).

    Both roundings of multiply_by_quantized_multiplier fold into one floor: with M = m * 2**left,
    r = max(-shift, 0), t = SRDHM(a, m) = floor((a*M + 2**30) / 2**31) and RoundingDivideByPOT
    (half away from zero) = floor((t + 2**(r-1) - [t < 0]) / 2**r) for r >= 1, and
    floor((floor(u) + n) / d) = floor((u + n) / d) for integers n, d > 0, so
        out = floor((a*M + 2**30 + 2**(30+r) - [a*M + 2**30 < 0] * 2**31) / 2**(31+r)).
    The single-rounding form is floor((a*m + 2**(s-1)) / 2**s) with s = 31 - shift. When every
    numerator stays below 2**53 that is computed in float64 on acc * (M / 2**S) + const, all
    terms exact multiples of 2**-S; otherwise in int64 with the gemmlowp primitives."""
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64)
    offset = np.asarray(offset, np.int64)
    if single_round:
        s = 31 - shift
        big_m = mult.astype(np.float64)
        rnd = np.where(s >= 1, np.ldexp(1.0, s - 1), 0.0)
        corr = None
    else:
        r = np.maximum(-shift, 0)
        s = 31 + r
        big_m = np.ldexp(mult.astype(np.float64), np.maximum(shift, 0))
        rnd = np.ldexp(1.0, 30) + np.where(r >= 1, np.ldexp(1.0, 30 + r), 0.0)
        corr = np.where(r >= 1, np.ldexp(1.0, -r), 0.0)  # 2**31 / 2**S
    unit = np.ldexp(1.0, s)  # 2**S: one output step in numerator units
    limit = 2.0 ** 53
    exact = bool(np.all(s >= 1)
                 and np.all(np.asarray(raw_bound, np.float64) * big_m < limit)
                 and np.all(np.abs(offset) * big_m + rnd + (abs(zy) + 2) * unit < limit)
                 and np.all(np.asarray(total_bound, np.float64) * big_m + rnd
                            + (abs(zy) + 2) * unit < limit))
    requant = multiply_by_quantized_multiplier_single_round if single_round \
        else multiply_by_quantized_multiplier
    if not exact:
        def run_int(acc):
            if acc.dtype.kind == "f":
                acc = np.rint(acc).astype(np.int64)
            out = requant(acc.astype(np.int64) + offset, mult, shift) + zy
            return np.clip(out, lo, hi).astype(dtype)
        return run_int

    scale = np.ldexp(big_m, -s)  # exact: a power-of-two scaling
    const = np.ldexp(offset * big_m + rnd, -s) + zy
    # the sign correction only matters for results that can land above the clamp's low end
    fix = corr is not None and lo < zy and bool(np.any(corr > 0))
    threshold = zy + 0.5  # z < zy + 1/2  <=>  a*M + 2**30 < 0 (channels with r >= 1)

    def run(acc):
        z = np.multiply(acc, scale, dtype=np.float64)
        z += const
        if fix:
            np.subtract(z, corr, out=z, where=z < threshold)
        np.floor(z, out=z)
        np.clip(z, lo, hi, out=z)
        return z.astype(dtype)
    return run
