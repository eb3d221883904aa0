"""MMSE range search on histograms: the clip range whose quantization error E[(x - x_hat)^2] is
smallest, with the error of each candidate computed in closed form from the histogram.

Each bin's values are taken as spread uniformly over the bin (clipped to the observed [min, max]),
so a bin's expected squared error is an integral of the error curve e(x) = x - dequant(quant(x)),
which is periodic with period `scale` inside the grid and quadratic outside it. With y = x / s
and r = y - floor(y + 1/2), the integral from 0 of (s * r)^2 is
    s^3 * (floor(y + 1/2) / 12 + (r^3 + 1/8) / 3 - 1/24),
and beyond the grid's ends g it continues with (x - g)^3 / 3. One candidate then costs a few
numpy passes over the non-empty bins (no pass over the data), so a search over ~150 candidates
per side, alternated `rounds` times between the two ends (RKNN's mmse_epoch), takes milliseconds
per value.
"""

from __future__ import annotations

import math

import numpy as np

from .schemes import Scheme

_STEPS = 50  # coarse candidates per search, then _FINE around the best
_FINE = 21


def _integral(x, s, lo_g, hi_g):
    """integral from 0 to x of e(t)^2 dt (x: (K, m); s, lo_g, hi_g: (K, 1))."""
    y = np.clip(x, lo_g, hi_g) / s
    k = np.floor(y + 0.5)
    r = y - k
    inside = s ** 3 * (k / 12 + (r * r * r + 0.125) / 3 - 1 / 24)
    above, below = np.maximum(x - hi_g, 0), np.minimum(x - lo_g, 0)
    return inside + (above * above * above + below * below * below) / 3


def expected_mse(scheme: Scheme, lo, hi, counts: np.ndarray, edges: np.ndarray,
                 zeros: int = 0) -> np.ndarray:
    """Mean squared quantization error for each clip range (lo[i], hi[i]) of data whose
    histogram has `counts` in bins [edges[j], edges[j+1]) (values uniform within a bin; a bin
    of width 0 holds one value) plus `zeros` exact zeros (not in counts; always exact)."""
    scale, zp = scheme.grid(lo, hi)
    s = np.asarray(scale, np.float64).reshape(-1, 1)
    zp = np.asarray(zp, np.float64).reshape(-1, 1)
    lo_g, hi_g = s * (scheme.qmin - zp), s * (scheme.qmax - zp)
    width = np.diff(edges)
    point = width <= 0
    err = np.diff(_integral(edges, s, lo_g, hi_g), axis=1) / np.where(point, 1.0, width)
    if point.any():  # the first or last bin reduced to one value by the observed min/max
        x = edges[:-1][point]
        xq = s * (np.clip(np.rint(x / s) + zp, scheme.qmin, scheme.qmax) - zp)
        err[:, point] = (x - xq) ** 2
    return err @ counts / (counts.sum() + zeros)


def _bins(hist, vmin: float, vmax: float, zeros: int = 0, max_bins: int = 2048):
    """(counts, edges) of `hist` coarsened (exactly) to at most `max_bins` bins, trimmed of
    empty bins at both ends, the outer edges clipped to the observed range, and the `zeros`
    exact zeros taken out of the bin [0, width)."""
    while len(hist.counts) > max_bins:
        hist = hist.coarsened(hist.k + 1)
    (nz,) = np.nonzero(hist.counts)
    counts = hist.counts[nz[0]:nz[-1] + 1].astype(np.float64)
    if zeros and 0 <= -hist.start - nz[0] < len(counts):
        counts[-hist.start - nz[0]] -= zeros
    edges = hist.edges()[nz[0]:nz[-1] + 2]
    edges[0], edges[-1] = max(edges[0], vmin), min(edges[-1], vmax)
    return counts, edges


def _search(cost, candidates: np.ndarray, step: float) -> float:
    """argmin of cost over candidates, refined on a finer grid around the best one."""
    costs = cost(candidates)
    i = int(np.argmin(costs))
    best, best_cost = candidates[i], costs[i]
    fine = np.linspace(best - step, best + step, _FINE)
    fine = fine[(fine >= candidates.min()) & (fine <= candidates.max())]
    if len(fine):
        c = cost(fine)
        if c.min() < best_cost:
            best = fine[int(np.argmin(c))]
    return float(best)


def mmse_range(scheme: Scheme, hist, vmin: float, vmax: float, zeros: int = 0,
               rounds: int = 3) -> tuple[float, float]:
    """The clip range minimising the expected MSE under `scheme` (`zeros`: how many of the
    histogram's values are exact zeros)."""
    if vmax <= vmin or not hist.total:
        return vmin, vmax
    counts, edges = _bins(hist, vmin, vmax, zeros)

    def mse(lo, hi):
        return expected_mse(scheme, lo, hi, counts, edges, zeros)

    if scheme.symmetric:
        m = max(-vmin, vmax)
        if scheme.power_of_two:
            top = math.frexp(m)[1]
            cands = np.ldexp(1.0, np.arange(top - 16, top + 1))
            t = float(cands[int(np.argmin(mse(-cands, cands)))])
        else:
            cands = m * np.arange(1, _STEPS + 1) / _STEPS
            t = _search(lambda c: mse(-c, c), cands, m / _STEPS)
        return -t, t
    lo, hi = min(vmin, 0.0), max(vmax, 0.0)
    previous = (lo, hi)
    for _ in range(rounds):
        if hi > 0:
            cands = vmax * np.arange(1, _STEPS + 1) / _STEPS
            hi = _search(lambda c, lo=lo: mse(np.full_like(c, lo), c), cands, vmax / _STEPS)
        if lo < 0:
            cands = vmin * np.arange(1, _STEPS + 1) / _STEPS
            lo = _search(lambda c, hi=hi: mse(c, np.full_like(c, hi)), cands, -vmin / _STEPS)
        if vmin >= 0 or vmax <= 0 or (lo, hi) == previous:
            break
        previous = (lo, hi)
    return lo, hi
