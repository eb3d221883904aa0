"""Range selectors against references we did not write: numpy (min/max, percentile, mean),
TensorRT's entropy calibration re-implemented plainly from pytorch-quantization's published
loop (scipy's entropy), and MMSE against brute-force fake quantization of the raw samples."""

import math
from collections import Counter

import numpy as np
import pytest
from scipy.stats import entropy

from npucc.quantization import (
    CalibrationError,
    CalibrationStats,
    ValueStats,
    scheme_for,
    select_range,
    select_ranges,
)
from npucc.quantization.kl import entropy_threshold_bins, entropy_window, kl_divergences
from npucc.quantization.mmse import _bins, expected_mse


def stats_of(*runs) -> ValueStats:
    s = ValueStats((1,))
    for r in runs:
        s.observe(np.asarray(r, np.float32).reshape(1, -1))
    return s


def data(kind: str, n: int = 200_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "relu":
        return np.maximum(rng.standard_normal(n) * 1.5 + 0.3, 0).astype(np.float32)
    if kind == "laplace":
        return rng.laplace(0.2, 0.7, n).astype(np.float32)
    if kind == "skewed":
        return (rng.gamma(2.0, 1.0, n) - 1.0).astype(np.float32)
    return rng.standard_normal(n).astype(np.float32)


def fake_quant(x, lo, hi, qmin=0, qmax=255):
    """RKNN v1's asymmetric affine formula (user guide 3.2.2.2), written out on raw data."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / (qmax - qmin)
    zp = np.clip(np.rint(qmin - lo / scale), qmin, qmax)
    q = np.clip(np.rint(x / scale) + zp, qmin, qmax)
    return (q - zp) * scale


# ---- min/max, mean-min/max, percentile ----
def test_normal_and_mean_minmax_match_numpy():
    runs = [data("laplace", 5000, seed) for seed in range(7)]
    s = stats_of(*runs)
    assert (s.min, s.max) == (float(np.min(runs)), float(np.max(runs)))
    assert select_range(s, "normal", "i8") == (float(np.min(runs)), float(np.max(runs)))
    lo, hi = select_range(s, "mean_minmax", "i8")
    assert lo == pytest.approx(np.mean([r.min() for r in runs]), rel=1e-15)
    assert hi == pytest.approx(np.mean([r.max() for r in runs]), rel=1e-15)


@pytest.mark.parametrize("kind", ["normal", "relu", "laplace", "skewed"])
@pytest.mark.parametrize("p", [99.0, 99.99, 99.999])
def test_percentile_matches_numpy_within_a_bin(kind, p):
    x = data(kind)
    s = stats_of(x)
    width = 2.0 ** s.hist.k
    lo, hi = select_range(s, "percentile", "i8", percentile=p)
    tail = (100 - p) / 2
    assert lo == pytest.approx(min(np.percentile(x, tail), 0.0), abs=2 * width)
    assert hi == pytest.approx(max(np.percentile(x, 100 - tail), 0.0), abs=2 * width)
    lo, hi = select_range(s, "percentile", scheme_for("i8", symmetric=True), percentile=p)
    assert hi == -lo == pytest.approx(np.percentile(np.abs(x), p), abs=2 * width)


# ---- KL (TensorRT) ----
def trt_entropy_amax_bins(hist: np.ndarray, num_bits=8, unsigned=False, start_bin=128) -> int:
    """pytorch-quantization's `_compute_amax_entropy` loop, returning the chosen bin count i
    (amax = edges[i]); P, Q and scipy's entropy built exactly as published."""
    bins = hist.astype(np.int64).copy()
    bins[0] = bins[1]
    nbins = 1 << (num_bits - 1 + int(unsigned))
    divergences, arguments = [], []
    for i in range(start_bin, len(bins) + 1):
        space = np.linspace(0, i, num=nbins + 1)
        digitized = np.digitize(range(i), space) - 1
        digitized[bins[:i] == 0] = -1
        density = np.zeros(nbins)
        for idx, d in enumerate(digitized):
            if d != -1:
                density[d] += bins[idx]
        for key, val in Counter(digitized).items():
            if key != -1:
                density[key] /= val
        new = np.array([density[d] if d != -1 else 0.0 for d in digitized])
        ref = np.array(bins[:i], np.float64)
        ref[-1] += bins[i:].sum()
        divergences.append(entropy(ref, new))
        arguments.append(i)
    divergences = np.array(divergences)
    return arguments[len(divergences) - 1 - int(np.argmin(divergences[::-1]))]


@pytest.mark.parametrize("kind,seed,bins,unsigned", [("normal", 0, 2048, False),
                                                     ("relu", 1, 2048, True),
                                                     ("laplace", 2, 1024, False),
                                                     ("skewed", 3, 1024, True)])
def test_kl_threshold_is_tensorrts(kind, seed, bins, unsigned):
    x = data(kind, 100_000, seed)
    s = stats_of(x)
    # TensorRT's histogram of |x|: the folded exact-merge histogram, coarsened to <= `bins`
    # bins (the reference loop is O(n^2) in Python)
    h = s.hist.folded()
    while len(h.counts) > bins:
        h = h.coarsened(h.k + 1)
    levels = 256 if unsigned else 128
    assert entropy_threshold_bins(h.counts, levels) == \
        trt_entropy_amax_bins(h.counts, unsigned=unsigned)


def plain_kl(counts, a, b, levels):
    """KL(P||Q) for the window [a, b): outliers folded into its end bins, Q as TensorRT builds
    it from the window's bins; scipy normalises both."""
    h = counts.astype(np.float64)
    p = h[a:b].copy()
    p[0] += h[:a].sum()
    p[-1] += h[b:].sum()
    m = b - a
    group = (np.arange(m) * levels) // m
    q = np.zeros(m)
    for g in range(levels):
        sel = (group == g) & (h[a:b] > 0)
        if sel.any():
            q[sel] = h[a:b][sel].sum() / sel.sum()
    return entropy(p, q)


def test_vectorised_kl_matches_the_plain_formula_on_every_window():
    rng = np.random.default_rng(5)
    counts = np.bincount(np.clip((rng.gamma(2, 20, 20000)).astype(int), 0, 299), minlength=300)
    counts[rng.integers(0, 300, 30)] = 0  # empty bins inside
    levels = 16
    windows = [(a, b) for a in range(0, 120, 7) for b in range(a + levels, 301, 11)]
    starts, stops = np.array(windows).T
    ours = kl_divergences(counts, starts, stops, levels)
    ref = np.array([plain_kl(counts, a, b, levels) for a, b in windows])
    finite = np.isfinite(ref)
    assert np.array_equal(finite, np.isfinite(ours))
    np.testing.assert_allclose(ours[finite], ref[finite], rtol=1e-9, atol=1e-12)


def test_two_sided_window_is_a_local_minimum():
    x = data("skewed", 50_000)
    h = stats_of(x).hist
    while len(h.counts) > 1024:
        h = h.coarsened(h.k + 1)
    zero = -h.start
    a, b = entropy_window(h.counts, zero, 256)
    assert a <= zero < b and b - a >= 256
    best = kl_divergences(h.counts, np.array([a]), np.array([b]), 256)[0]
    stops = np.arange(max(a + 256, zero + 1), len(h.counts) + 1)
    starts = np.arange(0, min(b - 256, zero) + 1)
    assert best <= kl_divergences(h.counts, np.full_like(stops, a), stops, 256).min()
    assert best <= kl_divergences(h.counts, starts, np.full_like(starts, b), 256).min()


# ---- MMSE ----
@pytest.mark.parametrize("kind", ["relu", "laplace", "skewed"])
def test_histogram_mse_matches_raw_mse(kind):
    x = data(kind, 100_000)
    s = stats_of(x)
    counts, edges = _bins(s.hist, s.min, s.max, s.zeros)
    lo = np.array([x.min(), x.min() * 0.5, x.min() * 0.2, min(x.min(), 0)])
    hi = np.array([x.max(), x.max() * 0.7, x.max() * 0.3, x.max() * 0.5])
    est = expected_mse(scheme_for("u8"), lo, hi, counts, edges, s.zeros)
    raw = np.array([np.mean((fake_quant(x.astype(np.float64), a, b) - x) ** 2)
                    for a, b in zip(lo, hi)])
    np.testing.assert_allclose(est, raw, rtol=0.02)


@pytest.mark.parametrize("kind", ["relu", "laplace", "skewed"])
def test_mmse_range_is_as_good_as_brute_force_on_raw_samples(kind):
    x = data(kind, 50_000).astype(np.float64)
    s = stats_of(x)
    lo, hi = select_range(s, "mmse", "u8")
    ours = np.mean((fake_quant(x, lo, hi) - x) ** 2)
    grid_hi = np.linspace(0.05, 1, 40) * x.max()
    grid_lo = np.linspace(0.05, 1, 40) * min(x.min(), 0) if x.min() < 0 else [0.0]
    brute = min(np.mean((fake_quant(x, a, b) - x) ** 2) for a in grid_lo for b in grid_hi)
    minmax = np.mean((fake_quant(x, x.min(), x.max()) - x) ** 2)
    assert ours <= brute * 1.02
    assert ours < minmax


# ---- schemes ----
def test_dynamic_fixed_point_ranges_are_powers_of_two_covering_the_data():
    x = data("laplace")
    s = stats_of(x)
    for algorithm in ("normal", "percentile", "kl_divergence", "mmse"):
        for dtype in ("dfp8", "dynamic_fixed_point-i16"):
            lo, hi = select_range(s, algorithm, dtype)
            assert lo == -hi and math.log2(hi).is_integer()
    lo, hi = select_range(s, "normal", "dfp8")
    assert hi / 2 < max(-x.min(), x.max()) <= hi


def test_names_aliases_and_errors():
    s = stats_of(data("relu", 1000))
    stats = CalibrationStats("g", {"v": s})
    assert select_ranges(stats, "minmax", "asymmetric_quantized-u8") == \
        select_ranges(stats, "normal", "u8")
    assert select_ranges(stats, "entropy", "w8a8") == select_ranges(stats, "kl_divergence", "i8")
    assert select_ranges(stats, "mmse", "fp16") == {"v": (s.min, s.max)}
    with pytest.raises(CalibrationError, match="unknown quantized_algorithm"):
        select_ranges(stats, "gdq")
    with pytest.raises(CalibrationError, match="unknown quantized dtype"):
        select_ranges(stats, "normal", "int4")
    with pytest.raises(CalibrationError, match="%w: no finite value"):
        select_ranges(CalibrationStats("g", {"w": ValueStats((1,))}))
