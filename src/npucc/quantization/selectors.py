"""Range selectors: calibration statistics -> a clip range (lo, hi) per value, for a target
scheme. No inference: selectors read only the statistics, so they can be re-run at will.

    ranges = select_ranges(stats, "kl_divergence", dtype="u8")        # {value name: (lo, hi)}
    ranges = select_ranges(stats, "percentile", dtype="i8", symmetric=True, percentile=99.99)

Algorithms (RKNN's names first; aliases in ALGORITHMS):
- normal (minmax): the observed min and max.
- mean_minmax: the mean over calibration runs of each run's min and max (NNCF's MEAN_MINMAX).
- percentile: the p-th percentile of |x| (symmetric schemes) or the (100-p)/2-th and
  100-(100-p)/2-th percentiles (asymmetric ones), interpolated linearly within a bin and clamped
  to the observed range; `percentile=` (default 99.99).
- kl_divergence (entropy): TensorRT's entropy method (kl.py): on the histogram of |x|
  (>= 2048 bins) with 2**(bits-1) levels for symmetric schemes; for asymmetric ones with
  2**bits levels, one-sided when the data has one sign (TensorRT's unsigned case), else the
  two-sided window search. Only windows that clip at most 1 % of the values are candidates
  (`max_clipped=`, None for TensorRT's search): KL(P || Q) has a degenerate minimum at a
  window that folds (nearly) all the mass into its last bin (P and Q both a spike), which
  TensorRT's search picks on data away from zero (sigmoid gates in [0.1, 0.85] got hi = their
  minimum: PP-OCR cls u8 top-1 agreement 54 %, logits cosine 0.07) and on spikes at the top
  (zero-padded regions).
- mmse: the clip range minimising the expected quantization MSE, computed on the histogram
  (mmse.py); `rounds=` alternations between the two ends (default 3, RKNN's mmse_epoch).
Every result then goes through the scheme's constraints (schemes.Scheme.constrain): zero
included; symmetric schemes +-max; dynamic fixed point snapped up to a power of two. fp16 needs
no range: its ranges are the observed min/max, for reference.
"""

from __future__ import annotations

import math

import numpy as np

from .histogram import Histogram
from .kl import entropy_threshold_bins, entropy_window
from .mmse import mmse_range
from .schemes import Scheme, scheme_for
from .stats import CalibrationError, ValueStats

ALGORITHMS = {"normal": "normal", "minmax": "normal", "min_max": "normal",
              "mean_minmax": "mean_minmax", "mean-minmax": "mean_minmax",
              "percentile": "percentile",
              "kl_divergence": "kl_divergence", "entropy": "kl_divergence", "kl": "kl_divergence",
              "mmse": "mmse", "mse": "mmse"}
DEFAULT_PERCENTILE = 99.99
# kl_divergence considers only windows that leave at most this fraction of the calibration
# values outside (`max_clipped=`; None = TensorRT's unrestricted search), see the docstring
KL_MAX_CLIPPED = 0.01


def _quantile(hist: Histogram, q: float, vmin: float, vmax: float) -> float:
    """Value below which a fraction q of the histogram's mass lies (linear within a bin)."""
    counts = hist.counts
    cum = np.cumsum(counts)
    target = q * cum[-1]
    j = int(np.searchsorted(cum, target, side="left"))
    j = min(j, len(counts) - 1)
    before = cum[j - 1] if j > 0 else 0
    frac = (target - before) / counts[j] if counts[j] else 0.0
    x = math.ldexp(hist.start + j + frac, hist.k)
    return min(max(x, vmin), vmax)


def _percentile(s: ValueStats, scheme: Scheme, percentile: float = DEFAULT_PERCENTILE):
    if not 0 < percentile <= 100:
        raise CalibrationError(f"percentile must be in (0, 100], got {percentile}")
    if scheme.symmetric:
        m = max(-s.min, s.max)
        t = _quantile(s.hist.folded(), percentile / 100, 0.0, m)
        return -t, t
    tail = (100 - percentile) / 200
    return _quantile(s.hist, tail, s.min, s.max), _quantile(s.hist, 1 - tail, s.min, s.max)


def _at_most(hist: Histogram, bins: int) -> Histogram:
    """`hist` coarsened (exactly) until it has at most `bins` bins."""
    while len(hist.counts) > bins:
        hist = hist.coarsened(hist.k + 1)
    return hist


def _kl(s: ValueStats, scheme: Scheme, max_clipped: float = KL_MAX_CLIPPED):
    # TensorRT's 2048 bins: the |x| histogram has 2048..4095 of them after coarsening; the
    # two-sided search runs on at most 2048 signed bins (its cost grows with bins x levels)
    if scheme.symmetric or s.min >= 0 or s.max <= 0:
        folded = _at_most(s.hist.folded(), 4095)
        levels = 2 ** (scheme.bits - 1) if scheme.symmetric else scheme.levels
        t = math.ldexp(entropy_threshold_bins(folded.counts, levels, max_clipped=max_clipped),
                       folded.k)
        t = min(t, max(-s.min, s.max))
        if scheme.symmetric:
            return -t, t
        return (0.0, t) if s.min >= 0 else (-t, 0.0)
    h = _at_most(s.hist, 2048)
    a, b = entropy_window(h.counts, -h.start, scheme.levels, max_clipped=max_clipped)
    lo, hi = math.ldexp(h.start + a, h.k), math.ldexp(h.start + b, h.k)
    return max(lo, s.min), min(hi, s.max)


def _mmse(s: ValueStats, scheme: Scheme, rounds: int = 3):
    return mmse_range(scheme, s.hist, s.min, s.max, s.zeros, rounds)


_SELECT = {
    "normal": lambda s, scheme: (s.min, s.max),
    "mean_minmax": lambda s, scheme: (s.mean_min, s.mean_max),
    "percentile": _percentile,
    "kl_divergence": _kl,
    "mmse": _mmse,
}


def algorithm_name(algorithm: str) -> str:
    try:
        return ALGORITHMS[str(algorithm).lower()]
    except KeyError:
        raise CalibrationError(f"unknown quantized_algorithm {algorithm!r}; one of "
                               f"{sorted(ALGORITHMS)}") from None


def select_range(s: ValueStats, algorithm: str = "normal", scheme: Scheme | str = "u8",
                 name: str = "?", **opts) -> tuple[float, float]:
    """The range of one value (see the module docstring)."""
    algorithm = algorithm_name(algorithm)
    scheme = scheme_for(scheme) if isinstance(scheme, str) else scheme
    if s.runs == 0:
        raise CalibrationError(f"%{name}: no finite value was observed; cannot choose a range")
    if not scheme.calibrated:
        return s.min, s.max
    try:
        lo, hi = _SELECT[algorithm](s, scheme, **opts)
    except TypeError as e:
        raise CalibrationError(f"{algorithm}: bad option ({e})") from None
    return scheme.constrain(lo, hi)


def select_ranges(stats, algorithm: str = "normal", dtype: str = "u8", *,
                  symmetric: bool | None = None, **opts) -> dict[str, tuple[float, float]]:
    """{value name: (lo, hi)} for every value of `stats` (a CalibrationStats), by `algorithm`
    for the scheme of `dtype` (npucc or RKNN spelling; `symmetric` picks symmetric i8).
    Extra options go to the algorithm (percentile=, rounds=)."""
    scheme = scheme_for(dtype, symmetric)
    return {name: select_range(s, algorithm, scheme, name, **opts)
            for name, s in stats.values.items()}
