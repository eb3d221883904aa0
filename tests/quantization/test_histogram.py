"""The exact-merge histogram: bins are floor(x * 2**-k) computed independently here in float64,
and any split of the data into shards, merged in any order, gives the same bits (and so the same
selected ranges) as one pass."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.quantization import CalibrationStats, ValueStats, select_ranges
from npucc.quantization.histogram import MAX_BINS, MIN_EXPONENT, Histogram, grid_exponent
from npucc.quantization.stats import sample_step


def reference_counts(x: np.ndarray, k: int) -> tuple[int, np.ndarray]:
    """(first bin, counts) of floor(x / 2**k), computed in float64 (exact for float32 x)."""
    idx = np.floor(x.astype(np.float64) / 2.0 ** k).astype(np.int64)
    first = int(idx.min())
    return first, np.bincount(idx - first)


def observe_all(arrays) -> ValueStats:
    s = ValueStats((1,))  # the shape is only a label here
    for a in arrays:
        s.observe(a)
    return s


@st.composite
def shards(draw):
    """2..6 float32 arrays with random scales, offsets and signs (zeros, outliers, subnormals)."""
    n = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        scale = 2.0 ** draw(st.integers(-30, 30))
        kind = draw(st.sampled_from(["normal", "relu", "offset", "outlier", "tiny"]))
        x = rng.standard_normal(draw(st.integers(1, 400))) * scale
        if kind == "relu":
            x = np.maximum(x, 0)
        elif kind == "offset":
            x = x + scale * 1000
        elif kind == "outlier":
            x[0] = scale * 1e4
        elif kind == "tiny":
            x[: len(x) // 2] = -1e-45  # float32 subnormals next to big bins
        out.append(x.astype(np.float32).reshape(1, -1))
    return out


@settings(max_examples=25)
@given(shards(), st.randoms(use_true_random=False))
def test_any_sharding_and_order_gives_the_same_bits(arrays, rnd):
    whole = observe_all(arrays)
    first, counts = reference_counts(np.concatenate([a.ravel() for a in arrays]), whole.hist.k)
    assert whole.hist.start == first and np.array_equal(whole.hist.counts, counts)
    assert whole.hist.k == grid_exponent(whole.min, whole.max)
    # shard differently, observe in another order, merge along a random tree
    order = list(range(len(arrays)))
    rnd.shuffle(order)
    parts = [observe_all([arrays[i]]) for i in order]
    while len(parts) > 1:
        i = rnd.randrange(len(parts) - 1)
        a, b = parts.pop(i), parts.pop(i)
        parts.insert(i, b.merged(a) if rnd.random() < 0.5 else a.merged(b))
    assert parts[0].same_as(whole)
    one = CalibrationStats("g", {"x": whole})
    other = CalibrationStats("g", {"x": parts[0]})
    for algorithm, dtype in (("normal", "u8"), ("mean_minmax", "u8"), ("percentile", "u8"),
                             ("percentile", "dfp8"), ("kl_divergence", "u8"),
                             ("kl_divergence", "i8-symmetric"), ("mmse", "i8")):
        assert select_ranges(one, algorithm, dtype) == select_ranges(other, algorithm, dtype)


def test_grid_fits_and_the_folded_histogram_has_2048_bins():
    rng = np.random.default_rng(0)
    for lo, hi in [(-1.0, 1.0), (0.0, 6.0), (-3.5, 250.0), (-1e-3, 1e30), (1000.0, 1000.5)]:
        x = np.concatenate([[lo, hi], rng.uniform(lo, hi, 5000)]).astype(np.float32)
        s = observe_all([x.reshape(1, -1)])
        assert len(s.hist.counts) <= MAX_BINS
        assert s.hist.k == MIN_EXPONENT or len(s.hist.counts) > MAX_BINS // 2
        if s.hist.k > MIN_EXPONENT and s.hist.start <= 0:
            assert len(s.hist.folded().counts) >= 2048


def test_coarsening_is_exact_and_refining_refused():
    x = np.random.default_rng(1).standard_normal(10000).astype(np.float32)
    s = observe_all([x.reshape(1, -1)])
    for extra in (1, 3):
        c = s.hist.coarsened(s.hist.k + extra)
        first, counts = reference_counts(x, s.hist.k + extra)
        assert c.start == first and np.array_equal(c.counts, counts)
    with pytest.raises(ValueError):
        s.hist.coarsened(s.hist.k - 1)


def test_folded_histogram_counts_abs_values():
    x = np.random.default_rng(2).standard_normal(5000).astype(np.float32)
    s = observe_all([x.reshape(1, -1)])
    f = s.hist.folded()
    first, counts = reference_counts(np.abs(x), s.hist.k)
    full = np.zeros(len(f.counts), np.int64)
    full[first:first + len(counts)] = counts
    # values exactly on a negative edge (x = -j * w) fold into bin j-1 instead of j: none here
    assert np.array_equal(f.counts, full)


def test_nonfinite_values_are_counted_apart():
    s = ValueStats((1, 4))
    s.observe(np.array([[1.0, np.nan, -np.inf, 2.0]], np.float32))
    assert (s.min, s.max, s.count, s.nonfinite, s.hist.total) == (1.0, 2.0, 2, 2, 2)


def test_empty_histogram():
    h = Histogram()
    assert h.total == 0 and h.merged(Histogram(), 3).total == 0
    assert math.isinf(ValueStats((1,)).min)


def test_sampled_histogram_counts_a_strided_sample_of_every_channel():
    a = np.maximum(np.random.default_rng(3).standard_normal((1, 64, 30, 30)), 0)
    nhwc = a.astype(np.float32).transpose(0, 2, 3, 1).copy()
    view = nhwc.transpose(0, 3, 1, 2)  # how the plan hands over a channels-last value
    s = ValueStats(view.shape)
    s.observe(view, sample=1000)
    step = sample_step(view.size, 1000, view.shape)
    assert all(step % k for k in range(2, step)) and all(d % step for d in (64, 30))
    sample = nhwc.reshape(-1)[::step]
    first, counts = reference_counts(sample, s.hist.k)
    # the grid spans every value's range; the counts are the sample's
    assert s.hist.start == first and np.array_equal(np.trim_zeros(s.hist.counts, "b"), counts)
    assert s.zeros == np.count_nonzero(sample == 0) and s.count == view.size
    assert (s.min, s.max) == (float(view.min()), float(view.max()))  # min/max see every value
    assert len(set((np.arange(view.size)[::step] % 64).tolist())) == 64


def test_float64_values_that_underflow_when_scaled_keep_their_bins():
    """At k > 0, x * 2**-k rounds a float64 of magnitude <= 2**(k-1075) to +-0: such values
    still go to bin floor(x * 2**-k) (-1 when negative), are not zeros, and shards merge to the
    bits of one pass (before, -5e-324 landed in bin 0 and counted as a zero, but in bin -1 when
    first binned alone at a finer exponent)."""
    x = np.array([[-5e-324, 0.0, 1e10, -1e-300, 3e-310, -0.0]])
    whole = observe_all([x])
    assert whole.hist.k > 0 and whole.zeros == 2
    assert whole.hist.start == -1 and whole.hist.counts[:2].tolist() == [2, 3]
    for split in (1, 2, 4):
        a, b = x[:, :split], x[:, split:]
        runs = observe_all([a, b])
        assert runs.hist == whole.hist and runs.zeros == whole.zeros
        assert observe_all([b, a]).same_as(runs)
        first, second = observe_all([a]), observe_all([b])
        assert first.merged(second).same_as(runs) and second.merged(first).same_as(runs)
    sampled = ValueStats((1,))
    sampled.observe(np.tile(x, 5), sample=10)
    step = sample_step(30, 10, (1, 30))
    kept = np.tile(x, 5).ravel()[::step]
    assert sampled.zeros == np.count_nonzero(kept == 0)
    assert sampled.hist.total == kept.size
