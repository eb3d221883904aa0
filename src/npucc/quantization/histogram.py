"""A histogram on a fixed power-of-two grid whose counts add up exactly across shards.

Bin i holds the values x with floor(x * 2**-k) == i: bins of width 2**k anchored at 0, so the
bin of a value depends only on x and k, never on the data seen before. k is a function of the
observed [min, max] alone (`grid_exponent`): the smallest exponent (>= MIN_EXPONENT) at which the
span fits in MAX_BINS bins and the bin indices stay below 2**23 in magnitude. Coarsening from k
to k+1 sums aligned pairs of bins (floor(i/2) is the bin at k+1), which is exact for integer
counts. Two histograms merge by coarsening both to the exponent of the union's range and adding:
the result equals the histogram of all the data binned once at that exponent, so any order of
shards and merges gives the same bits.

MAX_BINS = 8192 makes the histogram of |x| (the signed bins folded at 0, exact because the grid
is anchored at 0) have at least 2048 bins whenever the exponent is not at its floor: at k-1 the
span needed more than 8192 bins, so the larger side has more than 2048 at k.

Binning is exact: x * 2**-k is a power-of-two scaling, exact in float32 when k <= 0 (no
underflow); for k > 0 (bins wider than 1) it runs in float64, where float32 values never
underflow. floor, the shift by the first bin's index (integers below 2**24) and the cast to int
are exact too. Float64 values of magnitude <= 2**(k-1075) (subnormals, or tiny values next to
huge ones) do round to +-0 at k > 0; they are put back afterwards (the negative ones in bin -1,
none of them counted as zeros), which that rare case pays with one more pass over the sample.
`Histogram.add` bins with a compiled loop (numerics/jit.py: one pass over the strided sample, in
place) when numba runs, else in numpy; the loop computes every product in float64, which equals
the float32 product when that one is exact, so both give the same counts.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..numerics import jit

MAX_BINS = 8192
MIN_EXPONENT = -60  # bins never narrower than 2**-60
_MAX_INDEX = 2 ** 23  # |bin index| bound: integers below 2**24 are exact in float32


_F32, _F64, _I32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)
_local = threading.local()  # per-thread scratch buffers for binning (Dask runs shards in threads)


def _scratch(dtype: np.dtype, n: int) -> np.ndarray:
    """A reused 1-D buffer of n elements (allocating fresh pages every run costs page faults)."""
    key = "b" + dtype.char
    buf = getattr(_local, key, None)
    if buf is None or buf.size < n:
        buf = np.empty(max(n, 1 << 16), dtype)
        setattr(_local, key, buf)
    return buf[:n]


def _floor_scaled(x: float, k: int) -> int:
    """floor(x * 2**-k) (ldexp rounds a float64 of magnitude <= 2**(k-1075) to +-0)."""
    y = math.ldexp(x, -k)
    return math.floor(y) if y or x >= 0 else -1


def _underflowed(sample: np.ndarray, k: int, first: int, counts: np.ndarray) -> int:
    """Put back the float64 values of `sample` whose x * 2**-k underflowed to +-0 (k > 0), which
    binning counted in bin 0 (of counts[j], bin first + j) and as zeros: the negative ones move to
    bin -1. Returns the number of exact zeros."""
    flushed = sample[sample * math.ldexp(1.0, -k) == 0]  # the zeros and the underflowed values
    negative = np.count_nonzero(flushed < 0)
    counts[-first] -= negative
    counts[-1 - first] += negative
    return int(np.count_nonzero(flushed == 0))


def _binned(sample: np.ndarray, k: int, first: int, last: int) -> tuple[int, np.ndarray]:
    """The numpy form of Histogram.add's binning (the reference of the compiled loop): the number
    of exact zeros in `sample` and its int64 counts in bins first..last at exponent k."""
    dtype = _F32 if sample.dtype == _F32 and k <= 0 else _F64
    y = _scratch(dtype, sample.size)
    np.multiply(sample, dtype.type(math.ldexp(1.0, -k)), out=y)  # also packs a strided sample
    zeros = np.count_nonzero(y == 0)  # on the packed values (count_nonzero(float) is slow)
    np.floor(y, out=y)
    idx = _scratch(_I32, sample.size)  # float -> int32 casts ~3x faster than -> int64
    np.subtract(y, dtype.type(first), out=idx, casting="unsafe")  # exact: |integers| < 2**24
    counts = np.bincount(idx, minlength=last - first + 1)
    return int(zeros), counts.astype(np.int64, copy=False)


def grid_exponent(lo: float, hi: float) -> int:
    """The bin exponent for data spanning [lo, hi] (finite, lo <= hi); monotone in the span."""
    big = max(abs(lo), abs(hi))
    k = MIN_EXPONENT
    if big > 0:  # keep |index| < 2**23, and start near the span's needs
        k = max(k, math.frexp(big)[1] - 23)
        if hi > lo:
            k = max(k, math.frexp((hi - lo) / MAX_BINS)[1] - 1)
    while (_floor_scaled(hi, k) - _floor_scaled(lo, k) + 1 > MAX_BINS
           or max(abs(_floor_scaled(lo, k)), abs(_floor_scaled(hi, k))) >= _MAX_INDEX):
        k += 1
    return k


class Histogram:
    """counts[j] = number of values in bin `start + j` of width 2**k (see the module docstring).
    An empty histogram has no bins."""

    __slots__ = ("k", "start", "counts")

    def __init__(self, k: int = MIN_EXPONENT, start: int = 0, counts: np.ndarray | None = None):
        self.k = int(k)
        self.start = int(start)
        self.counts = np.zeros(0, np.int64) if counts is None else np.asarray(counts, np.int64)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @property
    def width(self) -> float:
        return math.ldexp(1.0, self.k)

    def edges(self) -> np.ndarray:
        """len(counts) + 1 bin edges (float64, exact)."""
        return np.ldexp(np.arange(self.start, self.start + len(self.counts) + 1, dtype=np.float64),
                        self.k)

    def copy(self) -> Histogram:
        return Histogram(self.k, self.start, self.counts.copy())

    def coarsened(self, k: int) -> Histogram:
        """The same data binned at exponent k >= self.k (exact: sums of aligned bins)."""
        if k < self.k:
            raise ValueError(f"cannot refine a histogram from 2**{self.k} to 2**{k} bins")
        if k == self.k or not len(self.counts):
            return Histogram(k, self.start >> (k - self.k) if len(self.counts) else 0,
                             self.counts.copy())
        shift = k - self.k
        idx = np.arange(self.start, self.start + len(self.counts), dtype=np.int64) >> shift
        new_start = int(idx[0])
        counts = np.zeros(int(idx[-1]) - new_start + 1, np.int64)
        np.add.at(counts, idx - new_start, self.counts)
        return Histogram(k, new_start, counts)

    def _span(self, k: int) -> tuple[int, int]:
        """First and last bin index at exponent k of the current data."""
        shift = k - self.k
        return self.start >> shift, (self.start + len(self.counts) - 1) >> shift

    def add(self, flat: np.ndarray, lo: float, hi: float, k: int, step: int = 1) -> int:
        """Count `flat[::step]` (finite floats within [lo, hi]; `flat` 1-D) at exponent k, which
        must be >= self.k and equal grid_exponent of the union of the current range and [lo, hi].
        Returns how many of the values are exact zeros."""
        first, last = _floor_scaled(lo, k), _floor_scaled(hi, k)
        if len(self.counts):
            a, b = self._span(k)
            first, last = min(first, a), max(last, b)
        # float64 x * 2**-k may underflow to -0: binned at 0 (a bin more when last is -1) until
        # _underflowed puts them back
        underflow = k > 0 and flat.dtype == _F64
        top = 0 if underflow and last == -1 else last
        n = len(range(0, flat.shape[0], step))
        if (flat.dtype == _F32 or flat.dtype == _F64) and flat.ndim == 1 \
                and jit.worth_compiling(n):
            counts = np.zeros(top - first + 1, np.int64)
            zeros, outside = jit.compiled("binning")(flat, step, math.ldexp(1.0, -k), first,
                                                     counts)
            if outside:
                raise ValueError(f"{outside} values outside [{lo}, {hi}] or not finite")
        else:
            zeros, counts = _binned(flat[::step], k, first, top)
        if zeros and underflow:  # the counted zeros include the underflowed values
            zeros = _underflowed(flat[::step], k, first, counts)
        if top != last:
            counts = counts[:-1]  # (the extra bin is empty now)
        if len(self.counts):
            shift = k - self.k
            old = self if not shift else self.coarsened(k)
            counts[old.start - first:old.start - first + len(old.counts)] += old.counts
        self.k, self.start, self.counts = k, first, counts
        return int(zeros)

    def merged(self, other: Histogram, k: int) -> Histogram:
        """self + other at exponent k (>= both exponents)."""
        parts = [h.coarsened(k) for h in (self, other) if len(h.counts)]
        if not parts:
            return Histogram(k)
        first = min(p.start for p in parts)
        last = max(p.start + len(p.counts) for p in parts)
        counts = np.zeros(last - first, np.int64)
        for p in parts:
            counts[p.start - first:p.start - first + len(p.counts)] += p.counts
        return Histogram(k, first, counts)

    def folded(self) -> Histogram:
        """The histogram of |x| on the same grid (bin -1-i folds onto bin i; zero stays in 0)."""
        if not len(self.counts):
            return Histogram(self.k)
        idx = np.arange(self.start, self.start + len(self.counts), dtype=np.int64)
        idx = np.where(idx < 0, -1 - idx, idx)
        counts = np.zeros(int(idx.max()) + 1, np.int64)
        np.add.at(counts, idx, self.counts)
        return Histogram(self.k, 0, counts)

    def __eq__(self, other) -> bool:
        return (isinstance(other, Histogram) and self.k == other.k and self.start == other.start
                and np.array_equal(self.counts, other.counts))

    def __repr__(self) -> str:
        return (f"Histogram(2**{self.k} bins {self.start}..{self.start + len(self.counts) - 1}, "
                f"{self.total} values)")
