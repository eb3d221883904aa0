"""The compiled loops of npucc.numerics.jit against exact formulas and against the numpy forms
they replace. Requantization: the same integers for every accumulator dtype, layout (contiguous,
a window of a padded buffer, channels-last), per-tensor and per-channel factors, output dtype, and
at rounding ties. Two-input tables and float16 conversions: numpy's bits. Histogram binning: the
same counts, first bin and zeros for float32 and float64 samples (zeros, -0.0, subnormals, values
on and next to bin edges, huge magnitudes, float64 values that underflow when scaled), any stride
and every grid exponent a range can get."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.backends.simulator import compile_plan
from npucc.numerics import jit
from npucc.numerics.fixed_point import multiply_round_half_even, quantize_multiplier
from npucc.numerics.integer.requantize import requantizer
from npucc.quantization.histogram import Histogram, grid_exponent
from npucc.testing.inputs import random_inputs
from npucc.testing.quantized_strategies import quantization_cases

pytestmark = pytest.mark.skipif(not jit.enabled(), reason="numba is not installed "
                                "(or NPUCC_NO_JIT=1): only the numpy form runs")

@pytest.fixture(autouse=True)
def every_size(monkeypatch):
    """The loop for accumulators of any size (the tests draw small ones)."""
    monkeypatch.setattr(jit, "IMPORT_AT", 0)
    monkeypatch.setattr(jit, "SMALLEST", 0)


OUT = {"i8": (np.int8, -128, 127), "u8": (np.uint8, 0, 255), "i16": (np.int16, -32768, 32767)}


def _numpy_form(**kwargs):
    saved, jit._state["numba"] = jit._state["numba"], False  # numba off for this requantizer
    try:
        assert not jit.enabled()
        return requantizer(**kwargs)
    finally:
        jit._state["numba"] = saved


@st.composite
def cases(draw):
    channels = draw(st.integers(1, 6))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    per_channel = draw(st.booleans())
    shape = (1, channels, 1, 1) if per_channel else ()
    n = channels if per_channel else 1
    # powers of two make exact ties (x.5) common; other factors exercise the full multiplier
    exponents = draw(st.lists(st.integers(-12, 2), min_size=n, max_size=n))
    tie_prone = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    real = (np.ldexp(1.0, np.array(exponents)) if tie_prone else
            rng.uniform(1e-5, 2.0, n)).reshape(shape)
    offset = rng.integers(-5000, 5000, n).reshape(shape)
    dtype, lo, hi = OUT[draw(st.sampled_from(sorted(OUT)))]
    zy = int(rng.integers(lo, hi + 1)) if draw(st.booleans()) else 0
    clamp = draw(st.sampled_from(["full", "relu", "narrow"]))
    if clamp == "relu":
        lo = max(lo, zy)
    elif clamp == "narrow":
        lo, hi = lo + (hi - lo) // 4, hi - (hi - lo) // 4
    acc_dtype = draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64]))
    acc = rng.integers(-(2 ** 15), 2 ** 15, (1, channels, h, w))
    layout = draw(st.sampled_from(["contiguous", "padded", "channels_last"]))
    if layout == "padded":  # a window of a buffer with a border, as depthwise blocks are
        buffer = np.zeros((1, channels, h + 2, w + 3), acc_dtype)
        buffer[:, :, 1:h + 1, 2:w + 2] = acc
        acc = buffer[:, :, 1:h + 1, 2:w + 2]
    elif layout == "channels_last":
        acc = np.ascontiguousarray(acc.transpose(0, 2, 3, 1).astype(acc_dtype)).transpose(
            0, 3, 1, 2)
    else:
        acc = acc.astype(acc_dtype)
    return dict(real=real, offset=offset, zy=zy, lo=lo, hi=hi, dtype=dtype), acc


@settings(max_examples=300, deadline=None)
@given(cases())
def test_compiled_requantization_equals_the_formula_and_the_numpy_form(case):
    kwargs, acc = case
    compiled = requantizer(**kwargs, bound=2 ** 15)
    numpy_form = _numpy_form(**kwargs, bound=2 ** 15)
    m, sh = quantize_multiplier(np.reshape(kwargs["real"], -1))
    shape = np.shape(kwargs["real"])
    want = np.clip(multiply_round_half_even(
        np.asarray(acc).astype(np.int64) + kwargs["offset"], m.reshape(shape),
        sh.reshape(shape)) + kwargs["zy"], kwargs["lo"], kwargs["hi"])
    out = np.full(acc.shape, 7, kwargs["dtype"])
    got = compiled(acc, out)
    assert got is out
    assert np.array_equal(got, want)
    assert np.array_equal(numpy_form(acc), want)
    assert np.array_equal(compiled(acc), want)  # without an output array
    # and the loop itself took this layout (no silent fall back to the numpy form)
    r = np.ldexp(m.astype(np.float64), sh - 31).reshape(shape)
    loop = jit.requantize_loop(r, kwargs["offset"] * r, kwargs["lo"] - kwargs["zy"],
                               kwargs["hi"] - kwargs["zy"], kwargs["zy"])
    direct = np.zeros(acc.shape, kwargs["dtype"])
    assert loop(acc, direct)
    assert np.array_equal(direct, want)


def test_ties_round_half_to_even():
    """acc * 2**-1: odd accumulators are exact halves."""
    run = requantizer(np.float64(0.5), zy=0, lo=-128, hi=127, dtype=np.int8, bound=300)
    acc = np.arange(-9, 10, dtype=np.float32).reshape(1, 1, 1, 19)
    assert run(acc).ravel().tolist() == np.rint(acc.ravel() / 2).astype(int).tolist()
    assert run(acc).ravel().tolist()[:4] == [-4, -4, -4, -3]  # -4.5, -4, -3.5, -3: halves to even


def test_no_jit_environment_variable_selects_the_numpy_form(monkeypatch):
    monkeypatch.setattr(jit, "_state", {})
    monkeypatch.setenv("NPUCC_NO_JIT", "1")
    assert not jit.enabled()
    assert jit.requantize_loop(np.float64(0.5), np.float64(0), -128, 127, 0) is None
    monkeypatch.setattr(jit, "_state", {})
    monkeypatch.delenv("NPUCC_NO_JIT")
    assert jit.enabled()


def test_small_accumulators_do_not_import_numba(monkeypatch):
    monkeypatch.setattr(jit, "IMPORT_AT", 1 << 16)
    monkeypatch.setattr(jit, "SMALLEST", 1 << 10)
    monkeypatch.setattr(jit, "_state", {})
    loop = jit.requantize_loop(np.float64(0.5), np.float64(0), -128, 127, 0)
    small, large = np.ones((1, 4, 8, 8), np.float32), np.ones((1, 4, 128, 128), np.float32)
    assert not loop(small, np.empty(small.shape, np.int8))
    assert "numba" not in jit._state
    assert loop(large, np.empty(large.shape, np.int8))
    assert jit._state["numba"] is not False


def test_loop_takes_padded_windows_and_channels_last_views():
    """Contiguous, padded-window and channels-last accumulators, without a copy."""
    loop = jit.requantize_loop(np.full((1, 3, 1, 1), 0.25), np.zeros((1, 3, 1, 1)), -128, 127, 0)
    base = np.arange(3 * 6 * 7, dtype=np.float32).reshape(1, 3, 6, 7)
    for acc in (base[:, :, :4, :5].copy(), base[:, :, 1:5, 1:6],
                np.ascontiguousarray(base[:, :, :4, :5].transpose(0, 2, 3, 1)).transpose(
                    0, 3, 1, 2)):
        out = np.empty(acc.shape, np.int8)
        assert loop(acc, out)
        np.testing.assert_array_equal(out, np.clip(np.rint(acc * 0.25), -128, 127))


def test_loops_compile_without_a_writable_cache(monkeypatch):
    """Installed where neither the package's folder nor a user cache is writable, numba refuses
    `cache=True` ("no locator available"): the loops then compile without caching."""
    from numba.core import caching

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    monkeypatch.setattr(jit, "_state", {"numba": jit._state["numba"]})
    loop = jit.compiled("requantize")
    acc = np.arange(-4, 4, dtype=np.float32).reshape(1, 1, 1, 8)
    out = np.empty(acc.shape, np.int8)
    loop(acc, np.full(1, 0.5), np.zeros(1), -128.0, 127.0, 0, out)
    assert out.ravel().tolist() == np.rint(acc.ravel() / 2).astype(int).tolist()


@settings(max_examples=60)
@given(op=st.sampled_from(["Add", "Sub", "Mul"]), numerics=st.sampled_from(["affine", "tflite"]),
       dtypes=st.sampled_from([("u8", "u8", "u8"), ("i8", "i8", "i8")]),
       shape=st.sampled_from([(7,), (2, 3, 5), (1, 4, 6, 6)]), layout=st.sampled_from(
           ["contiguous", "transposed", "broadcast"]), seed=st.integers(0, 2 ** 32 - 1))
def test_two_input_table_loop_gathers_what_the_numpy_form_gathers(op, numerics, dtypes, shape,
                                                                    layout, seed):
    """8-bit Add / Sub / Mul are 256 x 256 tables: the compiled gather (same-shaped contiguous
    inputs; the others keep the numpy form) gives the integers of the numpy gather, and both
    equal the op's integer formula (checked on Add: (a - za) * sa +- (b - zb) * sb, rounded half
    to even onto the output's scale; exact here, scales are powers of two)."""
    from npucc.ir import Graph, QuantParams, TensorType
    from npucc.numerics import run_graph

    rng = np.random.default_rng(seed)
    info = {"u8": (np.uint8, 0, 255), "i8": (np.int8, -128, 127)}
    params = [QuantParams.affine(2.0 ** -int(rng.integers(1, 5)),
                                 int(rng.integers(info[d][1], info[d][2] + 1))) for d in dtypes]
    b_shape = shape[-1:] if layout == "broadcast" else shape
    g = Graph("g", numerics)
    a = g.add_input("a", TensorType(shape, dtypes[0], params[0]))
    b = g.add_input("b", TensorType(b_shape, dtypes[1], params[1]))
    node = g.add_node(op, [a, b], {}, output_types=[TensorType(shape, dtypes[2], params[2])])
    g.set_outputs(node.outputs)
    xs = []
    for d, s in zip(dtypes[:2], (shape, b_shape)):
        np_dtype, lo, hi = info[d]
        x = rng.integers(lo, hi + 1, s).astype(np_dtype)
        if layout == "transposed":  # the same values, not C-contiguous
            x = np.ascontiguousarray(x.T).T
        xs.append(x)
    compiled = run_graph(g, xs)[0]
    saved, jit._state["numba"] = jit._state["numba"], False
    try:
        reference = run_graph(g, xs)[0]
    finally:
        jit._state["numba"] = saved
    assert compiled.dtype == reference.dtype
    np.testing.assert_array_equal(compiled, reference)
    if op == "Add" and numerics == "affine":
        (sa, za), (sb, zb), (sy, zy) = [(p.as_affine()[0][0], p.as_affine()[1][0]) for p in params]
        real = ((xs[0].astype(np.float64) - za) * sa + (xs[1].astype(np.float64) - zb) * sb) / sy
        _, lo, hi = info[dtypes[2]]
        np.testing.assert_array_equal(compiled, np.clip(np.rint(real) + zy, lo, hi))


def _specials32() -> np.ndarray:
    """float32 values at and around every float16 value and every midpoint between two (ties
    to even, the overflow threshold 65520, subnormals, signed zeros), infinities, NaNs with
    payloads, and random bit patterns."""
    halves = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    fin = halves[np.isfinite(halves)].astype(np.float64)
    fin = np.unique(fin)
    points = np.concatenate([fin, (fin[:-1] + fin[1:]) / 2]).astype(np.float32)
    bits = points.view(np.uint32).astype(np.int64)
    near = np.concatenate([bits + d for d in range(-2, 3)])
    near = near[(near >= 0) & (near < 1 << 32)]
    extra = np.array([0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFFFFFFF, 0x7FFFE000,
                      0x7F802000, 0x477FF000, 0x477FEFFF, 0x33000000, 0x33000001, 0x80000000])
    rand = np.random.default_rng(5).integers(0, 1 << 32, 200_000)
    return np.concatenate([near, extra, rand]).astype(np.uint32).view(np.float32)


def test_float16_conversions_give_numpys_bits():
    """jit.to_float16 rounds float32 to the nearest even binary16 as numpy's cast does (every
    boundary, overflow to inf, subnormals, NaN payloads: the same bit patterns); jit.to_float32
    widens all 65536 binary16 patterns as numpy does. (Checked once over all 2**32 float32
    patterns as well; that run takes a minute, so the suite keeps the boundaries.)"""
    x = _specials32()
    with np.errstate(over="ignore", invalid="ignore"):
        want = x.astype(np.float16)
    got = jit.to_float16(x)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
    halves = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    wide = jit.to_float32(halves.reshape(256, 256))
    assert wide.dtype == np.float32 and wide.shape == (256, 256)
    np.testing.assert_array_equal(wide.reshape(-1).view(np.uint32),
                                  halves.astype(np.float32).view(np.uint32))
    strided = x[::3]  # not contiguous: numpy's cast, same bits
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(jit.to_float16(strided).view(np.uint16),
                                      strided.astype(np.float16).view(np.uint16))


@settings(max_examples=25, deadline=None)
@given(quantization_cases(("fp16",)))
def test_fp16_graphs_run_the_same_with_and_without_the_compiled_loops(case):
    """A float16 graph (conversions, widening of each op's float16 inputs, the rounding of its
    outputs) gives the same bits through the compiled loops as through numpy's casts."""
    q = case.quantized
    inputs = random_inputs(q, 3)
    with_loops = compile_plan(q).run(inputs)
    saved, jit._state["numba"] = jit._state["numba"], False
    try:
        without = compile_plan(q).run(inputs)
    finally:
        jit._state["numba"] = saved
    for a, b in zip(with_loops, without):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.ascontiguousarray(a).view(np.uint8),
                                      np.ascontiguousarray(b).view(np.uint8))


@st.composite
def binning_cases(draw):
    """A 1-D float32 or float64 array (maybe a strided view), a sample step, and the grid
    exponent of its range widened by a range seen before (as ValueStats.observe passes it)."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    info = np.finfo(dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    n = draw(st.integers(1, 300))
    scale = 2.0 ** draw(st.integers(info.minexp - info.nmant, info.maxexp - 2))
    x = rng.standard_normal(n) * scale
    kind = draw(st.sampled_from(["plain", "relu", "offset"]))
    if kind == "relu":
        x = np.maximum(x, 0)
    elif kind == "offset":
        x = x + min(scale * 1000, float(info.max))  # (an inf offset makes -inf + inf = NaN)
    x = np.clip(x, -float(info.max), float(info.max)).astype(dtype)
    tiny = info.smallest_subnormal
    specials = [0.0, -0.0, tiny, -tiny, 3 * tiny, -7 * tiny, info.smallest_normal,
                -info.smallest_normal, info.max, -info.max, info.max / 3]
    picks = draw(st.lists(st.sampled_from(specials), max_size=6))
    pos = rng.integers(0, n, len(picks))
    x[pos] = np.array(picks, dtype)
    lo, hi = float(x.min()), float(x.max())
    seen = draw(st.sampled_from([0.0, 0.0] + [math.ldexp(1.0, e) for e in
                                                (info.minexp - info.nmant, -30, 0, 20, 60, 100,
                                                 info.maxexp - 1)]))
    k = grid_exponent(min(lo, -seen), max(hi, seen))
    # values on bin edges of that grid and their neighbours, inside [lo, hi]
    a, b = math.floor(math.ldexp(lo, -k)), math.floor(math.ldexp(hi, -k))
    edges = np.array([math.ldexp(float(j), k) for j in rng.integers(a + 1, b + 1, 8)]
                     if b > a else [], dtype)  # in (lo, hi]: exact in dtype
    edges = np.concatenate([edges, np.nextafter(edges, dtype(np.inf)),
                            np.nextafter(edges, dtype(-np.inf))])
    edges = edges[(edges >= lo) & (edges <= hi)]
    x[rng.integers(0, n, len(edges))] = edges
    step = draw(st.integers(1, 7))
    if draw(st.booleans()):  # a strided 1-D view (the loop's any-layout specialization)
        base = np.full(2 * n, dtype(lo))
        base[::2] = x
        x = base[::2]
    return x, step, k


def _numpy_histogram(flat, lo, hi, k, step):
    saved, jit._state["numba"] = jit._state["numba"], False
    try:
        h = Histogram()
        return h, h.add(flat, lo, hi, k, step)
    finally:
        jit._state["numba"] = saved


@settings(max_examples=400, deadline=None)
@given(binning_cases())
def test_compiled_binning_equals_the_formula_and_the_numpy_form(case):
    flat, step, k = case
    lo, hi = float(flat.min()), float(flat.max())
    compiled = Histogram()
    zeros = compiled.add(flat, lo, hi, k, step)
    numpy_form, numpy_zeros = _numpy_histogram(flat, lo, hi, k, step)
    # floor(x * 2**-k) element by element in integers (x = n / d exactly, d a power of two)
    bins = [_exact_bin(float(v), k) for v in flat[::step]]
    first = _exact_bin(lo, k)
    want = np.zeros(_exact_bin(hi, k) - first + 1, np.int64)
    np.add.at(want, np.array(bins, np.int64) - first, 1)
    want_zeros = int(np.count_nonzero(flat[::step] == 0))
    for h, z in ((compiled, zeros), (numpy_form, numpy_zeros)):
        assert (h.k, h.start, z) == (k, first, want_zeros)
        assert h.counts.dtype == np.int64 and np.array_equal(h.counts, want)
    # and the loop itself ran on this array (its float64 products round float64 values of
    # magnitude <= 2**(k-1075) to 0: Histogram.add puts them back)
    products = flat[::step].astype(np.float64) * math.ldexp(1.0, -k)
    raw = np.floor(products).astype(np.int64) - first
    counts = np.zeros(max(len(want), raw.max() + 1), np.int64)
    assert jit.compiled("binning")(flat, step, math.ldexp(1.0, -k), first, counts) == \
        (np.count_nonzero(products == 0), 0)
    assert np.array_equal(counts, np.bincount(raw, minlength=len(counts)))
    if flat.dtype == np.float32:
        assert np.array_equal(counts, want)


def _exact_bin(x: float, k: int) -> int:
    n, d = x.as_integer_ratio()
    return (n << max(-k, 0)) // (d << max(k, 0))


def test_binning_refuses_values_outside_the_range():
    with pytest.raises(ValueError, match="outside"):
        Histogram().add(np.array([0.5, 3.0], np.float32), 0.0, 1.0, -10)
