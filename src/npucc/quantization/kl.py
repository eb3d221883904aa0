"""The KL-divergence (entropy) threshold of TensorRT, on the exact-merge histograms.

For a window of bins [a, b) of a histogram H: P is H[a:b] with the mass left of the window added
to its first bin and the mass right of it to its last bin; Q merges H[a:b] into `levels` equal
groups of bins (bin j of the window in group floor(levels * (j - a) / (b - a))) and spreads each
group's mass evenly over the group's non-empty bins (empty bins stay empty). KL(P || Q) of the
normalised distributions picks the window (ties: the widest). TensorRT's calibrator
(pytorch-quantization `_compute_amax_entropy`) is the one-sided case a = 0 on the histogram of |x|,
windows b = levels..n, with the zero-spike suppression H[0] = H[1].

Every window is evaluated at once from prefix sums (no loop over candidates in Python):
sum P log P from a prefix sum of H log H, sum P log Q = sum over groups of tot_g log(tot_g / nz_g)
plus the outliers' terms, so a 4096-bin histogram costs milliseconds, not TensorRT's O(n^2) loop.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 512  # candidate windows evaluated per block (bounds the temporaries)


def _xlogx(x):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def kl_divergences(counts: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                   levels: int) -> np.ndarray:
    """KL(P || Q) (natural log) of each window [starts[i], stops[i]) (each at least `levels` bins
    wide) of the histogram `counts`; inf where Q is empty at an outlier bin."""
    h = np.asarray(counts, np.float64)
    total = h.sum()
    c = np.concatenate(([0.0], np.cumsum(h)))
    z = np.concatenate(([0], np.cumsum(h > 0)))
    hl = np.concatenate(([0.0], np.cumsum(_xlogx(h))))
    out = np.empty(len(starts))
    g = np.arange(levels + 1, dtype=np.int64)
    for lo in range(0, len(starts), _CHUNK):
        a = np.asarray(starts[lo:lo + _CHUNK], np.int64)
        b = np.asarray(stops[lo:lo + _CHUNK], np.int64)
        m = b - a
        bounds = a[:, None] + (g[None, :] * m[:, None] + levels - 1) // levels  # ceil(g m / L)
        tot = c[bounds[:, 1:]] - c[bounds[:, :-1]]
        nz = z[bounds[:, 1:]] - z[bounds[:, :-1]]
        safe_nz = np.where(nz > 0, nz, 1)
        q_group = np.where(nz > 0, tot / safe_nz, 0.0)
        sum_plogq = (tot * np.log(np.where(q_group > 0, q_group, 1.0))).sum(axis=1)
        left, right = c[a], total - c[b]
        first, last = h[a], h[b - 1]
        p_first, p_last = first + left, last + right
        sum_plogp = (hl[b] - hl[a] - _xlogx(first) - _xlogx(last)
                     + _xlogx(p_first) + _xlogx(p_last))
        q_first = np.where(first > 0, q_group[:, 0], 0.0)
        q_last = np.where(last > 0, q_group[:, -1], 0.0)
        bad = ((q_first == 0) & (left > 0)) | ((q_last == 0) & (right > 0))
        sum_plogq = (sum_plogq + left * np.log(np.where(q_first > 0, q_first, 1.0))
                     + right * np.log(np.where(q_last > 0, q_last, 1.0)))
        inside = c[b] - c[a]
        bad |= inside <= 0
        kl = (sum_plogp - sum_plogq) / total - np.log(total) + np.log(np.where(bad, 1.0, inside))
        out[lo:lo + len(a)] = np.where(bad, np.inf, kl)
    return out


def _last_argmin(x: np.ndarray) -> int:
    return len(x) - 1 - int(np.argmin(x[::-1]))


def _clipped(counts: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """the fraction of the histogram's mass outside each window [starts[i], stops[i])"""
    c = np.concatenate(([0.0], np.cumsum(np.asarray(counts, np.float64))))
    return 1.0 - (c[stops] - c[starts]) / c[-1]


def entropy_threshold_bins(counts: np.ndarray, levels: int = 128,
                           suppress_zero_bin: bool = True,
                           max_clipped: float | None = None) -> int:
    """TensorRT's choice on a histogram of |x| starting at 0: the number of bins i to keep
    (amax = i * bin width). With `levels` or fewer bins, all of them. max_clipped: only
    windows leaving at most this fraction of the samples outside are candidates (None:
    TensorRT's search)."""
    h = np.asarray(counts, np.float64).copy()
    n = len(h)
    if n <= levels or h.sum() == 0:
        return n
    stops = np.arange(levels, n + 1)
    if max_clipped is not None:
        stops = stops[_clipped(h, np.zeros_like(stops), stops) <= max_clipped]
    if suppress_zero_bin and n > 1:
        h[0] = h[1]
    kl = kl_divergences(h, np.zeros_like(stops), stops, levels)
    return int(stops[_last_argmin(kl)])


def entropy_window(counts: np.ndarray, zero_bin: int, levels: int = 256,
                   rounds: int = 4, max_clipped: float | None = None) -> tuple[int, int]:
    """Two-sided variant for asymmetric schemes: the window [a, b) of a signed histogram that
    keeps the bin of zero (`zero_bin`) and minimises KL, found by alternating the search of
    the right end (left fixed) and of the left end (right fixed), from the full range, until
    neither moves. Ties go to the wider window. max_clipped: as in entropy_threshold_bins."""
    n = len(counts)
    a, b = 0, n
    if n <= levels or not np.any(counts):
        return a, b

    def allowed(starts, stops):
        return np.ones(len(starts), bool) if max_clipped is None else \
            _clipped(counts, starts, stops) <= max_clipped
    for _ in range(rounds):
        moved = False
        stops = np.arange(max(a + levels, zero_bin + 1), n + 1)
        stops = stops[allowed(np.full_like(stops, a), stops)]
        if len(stops):
            kl = kl_divergences(counts, np.full_like(stops, a), stops, levels)
            nb = int(stops[_last_argmin(kl)])
            moved |= nb != b
            b = nb
        starts = np.arange(0, min(b - levels, zero_bin) + 1)
        starts = starts[allowed(starts, np.full_like(starts, b))]
        if len(starts):
            kl = kl_divergences(counts, starts, np.full_like(starts, b), levels)
            na = int(starts[int(np.argmin(kl))])  # first argmin: the widest
            moved |= na != a
            a = na
        if not moved:
            break
    return a, b
