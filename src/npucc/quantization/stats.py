"""Calibration statistics: per value min/max, per-run min/max sums, an exact-merge histogram, and
per-channel ranges of the weights. Everything merges exactly (associative and commutative, the
same bits whatever the order): min/max are exact, counts are integers, the per-run sums are kept
as exact integers (multiples of 2**-1074), and histograms live on a fixed grid (histogram.py).

    stats = npucc.quantization.calibrate(graph, "dataset.txt")
    stats.save("calib.npz")                                  # calib.npz + calib.json
    stats = CalibrationStats.load("calib.npz").merged(CalibrationStats.load("other.npz"))
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import attrs
import numpy as np

from ..errors import NpuccError
from .histogram import Histogram, grid_exponent

_EXACT_SHIFT = 1074  # every finite float64 is an integer multiple of 2**-1074


class CalibrationError(NpuccError):
    """Calibration data or statistics cannot be used (the message names the file or value)."""


def exact_int(x: float) -> int:
    """x * 2**1074 as an exact integer (x finite)."""
    n, d = float(x).as_integer_ratio()
    return n * ((1 << _EXACT_SHIFT) // d)


def flat_in_memory_order(a: np.ndarray) -> np.ndarray:
    """The elements of `a` as a 1-D array in memory order: a view when `a` is a permutation of a
    dense block (the simulator's channels-last values), else a copy. Order does not matter to
    min/max/histograms, and reading memory in order is several times faster."""
    if a.flags.c_contiguous:
        return a.reshape(-1)
    order = np.argsort([-abs(s) for s in a.strides], kind="stable")
    t = a.transpose(order)
    return t.reshape(-1) if t.flags.c_contiguous else np.ascontiguousarray(t).reshape(-1)


@functools.lru_cache(maxsize=4096)
def sample_step(size: int, limit: int, shape: tuple[int, ...]) -> int:
    """The stride of a systematic sample of at most `limit` of `size` elements: a prime that
    divides no axis length, so the sample does not fall on the same channels or columns."""
    step = max(2, -(-size // limit))
    while any(step % k == 0 for k in range(2, math.isqrt(step) + 1)) or any(
            d > 1 and d % step == 0 for d in shape):
        step += 1
    return step


@attrs.define(eq=False)
class ValueStats:
    """Statistics of one float value over the calibration runs. `runs` counts graph runs (one per
    calibration batch; samples with RKNN's batch size 1); `sum_run_min`/`sum_run_max` add each
    run's min/max exactly (see `exact_int`) for the mean-min/max selector. `hist` counts every
    element, or a fixed systematic sample of each run's elements (`observe(sample=)`); `zeros`
    counts the exact zeros among the histogram's values (the spike after a ReLU, which a bin
    cannot tell from its neighbours)."""

    shape: tuple[int, ...]
    count: int = 0
    runs: int = 0
    nonfinite: int = 0
    zeros: int = 0
    min: float = math.inf
    max: float = -math.inf
    sum_run_min: int = 0
    sum_run_max: int = 0
    hist: Histogram = attrs.field(factory=Histogram)

    def observe(self, a: np.ndarray, sample: int | None = None) -> None:
        """Add one run's array. With `sample`, the histogram (and `zeros`) count a systematic
        sample of at most that many of its elements (`sample_step`); min/max see them all."""
        flat = flat_in_memory_order(a)
        if flat.dtype != np.float32 and flat.dtype != np.float64:
            flat = flat.astype(np.float32)
        if not flat.size:
            return
        lo, hi = float(flat.min()), float(flat.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            finite = np.isfinite(flat)
            self.nonfinite += int(flat.size - np.count_nonzero(finite))
            flat = flat[finite]
            if not flat.size:
                return
            lo, hi = float(flat.min()), float(flat.max())
        self.count += int(flat.size)
        self.runs += 1
        self.sum_run_min += exact_int(lo)
        self.sum_run_max += exact_int(hi)
        widened = lo < self.min or hi > self.max or not len(self.hist.counts)
        self.min, self.max = min(self.min, lo), max(self.max, hi)
        k = grid_exponent(self.min, self.max) if widened else self.hist.k  # k follows the range
        step = 1
        if sample is not None and flat.size > sample:
            step = sample_step(flat.size, sample, tuple(a.shape))
        self.zeros += self.hist.add(flat, lo, hi, k, step)

    @property
    def mean_min(self) -> float:
        """Mean over runs of each run's minimum (NNCF's MEAN_MINMAX), correctly rounded."""
        return float(Fraction(self.sum_run_min, self.runs << _EXACT_SHIFT))

    @property
    def mean_max(self) -> float:
        return float(Fraction(self.sum_run_max, self.runs << _EXACT_SHIFT))

    def merged(self, other: ValueStats, name: str = "?") -> ValueStats:
        if tuple(self.shape) != tuple(other.shape):
            raise CalibrationError(f"cannot merge statistics of %{name}: shape {list(self.shape)}"
                                   f" vs {list(other.shape)}")
        lo, hi = min(self.min, other.min), max(self.max, other.max)
        k = grid_exponent(lo, hi) if lo <= hi else max(self.hist.k, other.hist.k)
        return ValueStats(tuple(self.shape), self.count + other.count, self.runs + other.runs,
                          self.nonfinite + other.nonfinite, self.zeros + other.zeros, lo, hi,
                          self.sum_run_min + other.sum_run_min,
                          self.sum_run_max + other.sum_run_max, self.hist.merged(other.hist, k))

    def same_as(self, other: ValueStats) -> bool:
        """Bit-identical statistics."""
        return (tuple(self.shape) == tuple(other.shape)
                and (self.count, self.runs, self.nonfinite, self.zeros, self.sum_run_min,
                     self.sum_run_max)
                == (other.count, other.runs, other.nonfinite, other.zeros, other.sum_run_min,
                    other.sum_run_max)
                and np.float64(self.min).tobytes() == np.float64(other.min).tobytes()
                and np.float64(self.max).tobytes() == np.float64(other.max).tobytes()
                and self.hist == other.hist)


@attrs.define(eq=False)
class WeightStats:
    """Range of a constant read as a weight: overall, and per slice along `axis` (the output
    channel axis of the reading op; None when the op has none)."""

    axis: int | None
    min: float
    max: float
    channel_min: np.ndarray  # float64, one per channel (empty when axis is None)
    channel_max: np.ndarray

    @classmethod
    def of(cls, array: np.ndarray, axis: int | None) -> WeightStats:
        a = np.asarray(array, np.float64)
        if axis is None or a.ndim == 0:
            empty = np.zeros(0)
            return cls(None, float(a.min()), float(a.max()), empty, empty)
        axis = axis % a.ndim
        rest = tuple(d for d in range(a.ndim) if d != axis)
        return cls(axis, float(a.min()), float(a.max()), a.min(axis=rest), a.max(axis=rest))


# output-channel axis of each op's weight operand (input slot 1)
_WEIGHT_AXIS = {"Conv": lambda n: 0, "ConvTranspose": lambda n: 1,
                "Gemm": lambda n: 0 if n.attrs.get("transB") else 1, "MatMul": lambda n: -1}


def weight_stats(graph) -> dict[str, WeightStats]:
    """WeightStats of every float constant read by a node: per output channel for the weight
    operand of Conv, ConvTranspose, Gemm and MatMul, per tensor for the others."""
    out: dict[str, WeightStats] = {}
    for node in graph.nodes:
        for slot, v in enumerate(node.inputs):
            if v is None or not v.is_constant or not v.dtype.is_float or v.name in out:
                continue
            if not v.const.size:
                continue
            rule = _WEIGHT_AXIS.get(node.op) if slot == 1 and v.type.rank >= 2 else None
            out[v.name] = WeightStats.of(v.const, rule(node) if rule else None)
    return out
