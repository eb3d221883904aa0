"""Compiled loops (numba) for the work that dominates integer and float16 execution:
requantization, the depthwise convolution, two-input lookup tables (8-bit Add, Sub, Mul...) and
float32 <-> float16 conversion; and for calibration's histogram binning.

Each loop is the exact counterpart of a numpy expression kept beside its caller as the reference:
the same float64 operations in the same order, so both give the same integers (the tests run both
on the same draws, ties included). Why compiled: requantizing an accumulator in numpy takes five
passes over float64 arrays (multiply, offset, round, clip, cast), ~2 ns per element; one loop that
keeps the value in a register takes ~0.3 ns (benchmarks/README.md, quantized_vs_ort.py). On
MobileNetV2 that was ~40 % of an int8 run. A depthwise conv in numpy is two passes over the
image per kernel tap plus the requantization; the compiled loop does one channel at a time while
it is in cache (numerics/depthwise.py), or on channels-last images a row at a time with the
channels as the vectorized inner loop (`_depthwise_nhwc`, 2-4x faster again). A two-input
table in numpy widens, shifts and ors the bit patterns into an index array before the gather
(~1.5 ns per element); the loop gathers
directly (~0.4 ns). Binning a histogram sample in numpy packs the strided sample, scales,
floors, offsets, casts and bincounts it (~2.9 ns per element); the loop reads the sample in
place and counts it in one pass (~1.8 ns, about half of it reading the strided elements;
quantization/histogram.py).

numba is imported at the first accumulator (or histogram sample) of IMPORT_AT elements or more
(importing it and loading a cached loop take ~0.3-0.5 s, more than a small model's whole run
saves); from then on work of SMALLEST elements or more takes the loop (below, numba's dispatch
costs about as much as numpy's calls). Calibration's histogram samples (at most 64k elements)
practically never reach IMPORT_AT, so its binning takes the loop once something else imported
numba (the float plan's depthwise convs do, on MobileNetV2); a calibration of a model without
them does not pay the import, which the loop would take a few hundred images to earn back
(~1.5 ms per MobileNetV2 image). The loops are compiled on first use and cached
beside this file (numba's `cache=True`). `NPUCC_NO_JIT=1`, or a numba that does not import,
selects the numpy forms.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import numpy as np

IMPORT_AT = 1 << 16  # read at each call (tests set both to 0)
SMALLEST = 1 << 10

# "numba": the module, or False when unavailable or switched off; then the compiled loops by name
_state: dict[str, object] = {}


def _wanted() -> bool:
    """Not switched off, and numba is installed (without importing it)."""
    return (os.environ.get("NPUCC_NO_JIT", "").strip().lower() not in ("1", "true", "yes")
            and importlib.util.find_spec("numba") is not None)


def enabled() -> bool:
    """Whether the compiled loops run (imports numba on the first call)."""
    if "numba" not in _state:
        _state["numba"] = _import_numba() if _wanted() else False
    return _state["numba"] is not False


def _import_numba():
    """The numba module, or False when it does not import (one built for another numpy)."""
    try:
        import numba
    except Exception:  # noqa: BLE001
        return False
    return numba


def _requantize(acc, r, c, lo, hi, zy, out):  # pragma: no cover  (runs compiled)
    for a in range(acc.shape[0]):
        for ch in range(acc.shape[1]):
            rc = r[ch]
            cc = c[ch]
            for i in range(acc.shape[2]):
                for j in range(acc.shape[3]):
                    z = np.rint(np.float64(acc[a, ch, i, j]) * rc + cc)
                    z = min(max(z, lo), hi)
                    out[a, ch, i, j] = z + zy


def _requantize_last(acc, r, c, lo, hi, zy, out):  # pragma: no cover  (runs compiled)
    """_requantize for (rows, channels) arrays: the channels last (channels-last images)."""
    for a in range(acc.shape[0]):
        row = acc[a]
        dst = out[a]
        for ch in range(acc.shape[1]):
            z = np.rint(np.float64(row[ch]) * r[ch] + c[ch])
            z = min(max(z, lo), hi)
            dst[ch] = z + zy


def _depthwise(x, zx, w, tap_phase, tap_offset, fills, oh, ow, wq, r, c, lo, hi, zy, rounding,
               flats, acc, out):  # pragma: no cover  (runs compiled)
    """A depthwise conv, one channel at a time: its stride phases filled into the zero-padded
    `flats` (phase p: rows fills[p, 0:2], columns fills[p, 2:4] copied from
    x's row fills[p, 4] + fills[p, 6]*k and column fills[p, 5] + fills[p, 7]*k, minus zx), the
    sum over taps t of w[ch, t] * flats[tap_phase[t]][tap_offset[t] + k] for k over the span
    oh * wq (output (i, j) at k = i * wq + j; the columns past ow are not read), then
    out = clip(rint(acc * r + c), lo, hi) + zy per channel (without rint unless `rounding`;
    the float loops pass zy = -0.0, or +0.0 for a relu, to give numpy's signed zeros)."""
    span = oh * wq
    for b in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for p in range(flats.shape[0]):
                q0, q1, r0, r1 = fills[p, 0], fills[p, 1], fills[p, 2], fills[p, 3]
                y0, x0, sy, sx = fills[p, 4], fills[p, 5], fills[p, 6], fills[p, 7]
                flat = flats[p]
                for q in range(q0, q1):
                    src = x[b, ch, y0 + sy * (q - q0)]
                    base = q * wq
                    for k in range(r0, r1):
                        flat[base + k] = src[x0 + sx * (k - r0)] - zx
            wt = w[ch, 0]
            seg = flats[tap_phase[0], tap_offset[0]:tap_offset[0] + span]
            for k in range(span):
                acc[k] = wt * seg[k]
            for t in range(1, w.shape[1]):
                wt = w[ch, t]
                seg = flats[tap_phase[t], tap_offset[t]:tap_offset[t] + span]
                for k in range(span):
                    acc[k] += wt * seg[k]
            rc = r[ch]
            cc = c[ch]
            for i in range(oh):
                for j in range(ow):
                    z = np.float64(acc[i * wq + j]) * rc + cc
                    if rounding:
                        z = np.rint(z)
                    if z < lo:  # np.clip's order: NaN and a zero's sign pass through
                        z = lo
                    if z > hi:
                        z = hi
                    out[b, ch, i, j] = z + zy


def _depthwise_nhwc(x, zx, w, kernel, strides, dilations, pads, r, c, lo, hi, zy, acc,
                    out):  # pragma: no cover  (runs compiled)
    """An integer depthwise conv on channels-last images, x (N, H, W, C) -> out (N, OH, OW, C):
    per output row, the sum over taps t of w[t] * (x[row, col] - zx) over the C contiguous
    channels (a loop the compiler vectorizes), taps outside the image skipped (padding is zx,
    0 after the subtraction), then out = clip(rint(acc * r + c), lo, hi) + zy per channel."""
    kh, kw = kernel
    sh, sw = strides
    dh, dw = dilations
    pt, pl = pads
    h, wd, ch = x.shape[1], x.shape[2], x.shape[3]
    oh, ow = out.shape[1], out.shape[2]
    for b in range(x.shape[0]):
        for i in range(oh):
            for j in range(ow):
                a = acc[j]
                for k in range(ch):
                    a[k] = 0
            for ki in range(kh):
                row = i * sh + ki * dh - pt
                if row < 0 or row >= h:
                    continue
                for kj in range(kw):
                    wt = w[ki * kw + kj]
                    for j in range(ow):
                        col = j * sw + kj * dw - pl
                        if col < 0 or col >= wd:
                            continue
                        xr = x[b, row, col]
                        a = acc[j]
                        for k in range(ch):
                            a[k] += wt[k] * (acc.dtype.type(xr[k]) - zx)
            for j in range(ow):
                a = acc[j]
                dst = out[b, i, j]
                for k in range(ch):
                    z = np.rint(np.float64(a[k]) * r[k] + c[k])
                    z = min(max(z, lo), hi)
                    dst[k] = z + zy


def _table_gather(a, b, table, out):  # pragma: no cover  (runs compiled)
    """out[i] = table[a[i] * 256 + b[i]] for the uint8 bit patterns a, b (1-D, same length)."""
    for i in range(a.shape[0]):
        out[i] = table[(np.int64(a[i]) << 8) | np.int64(b[i])]


def _to_half(bits, out):  # pragma: no cover  (runs compiled)
    """IEEE binary16 bit patterns of float32 values given as their uint32 bit patterns, rounded
    to nearest even: numpy's astype(float16), NaN payloads included (numba has no float16)."""
    for i in range(bits.shape[0]):
        u = bits[i]
        sign = (u >> 16) & 0x8000
        a = u & 0x7FFFFFFF
        if a > 0x7F800000:  # NaN: the payload's top bits, kept a NaN
            h = 0x7C00 + ((a & 0x7FFFFF) >> 13)
            if h == 0x7C00:
                h += 1
        elif a >= 0x477FF000:  # 65520 and up (the tie above 65504 rounds to even: inf), inf
            h = 0x7C00
        elif a >= 0x38800000:  # 2**-14 and up: a normal half; rebias, round 13 bits away
            h = (a - 0x38000000) >> 13
            rest = a & 0x1FFF
            if rest > 0x1000 or (rest == 0x1000 and (h & 1)):
                h += 1
        else:  # a subnormal half or zero: the count of 2**-24 steps, rounded half to even
            f = np.float64(np.uint32(a).view(np.float32))
            h = np.uint32(np.rint(f * 16777216.0))
        out[i] = np.uint16(h | sign)


def _gather(index, table, out):  # pragma: no cover  (runs compiled)
    for i in range(index.shape[0]):
        out[i] = table[index[i]]



def _binning(flat, step, scale, first, counts):  # pragma: no cover  (runs compiled)
    """counts[floor(x * scale) - first] += 1 for x = flat[i], i in range(0, len(flat), step),
    with x * scale in float64 (Histogram.add's numpy form computes the same products); returns
    the number of those products that are zero, and of indices outside counts (not counted)."""
    zeros = 0
    outside = 0
    bins = counts.shape[0]
    for i in range(0, flat.shape[0], step):
        y = np.float64(flat[i]) * scale
        zeros += y == 0.0
        j = np.int64(np.floor(y)) - first
        if 0 <= j < bins:
            counts[j] += 1
        else:
            outside += 1
    return zeros, outside


_LOOPS = {"requantize": _requantize, "requantize_last": _requantize_last,
          "depthwise": _depthwise, "depthwise_nhwc": _depthwise_nhwc,
          "table_gather": _table_gather,
          "to_half": _to_half, "gather": _gather, "binning": _binning}


def compiled(name: str) -> Callable:
    """The compiled loop `name` (after `enabled()`). numba specializes it per dtypes and layout
    ('C' when the arrays are contiguous: about 3x faster than any-layout code, which does not
    vectorize), so a model compiles it a few times (~0.4 s each, then loaded from the cache:
    beside this file, else numba's user-wide cache; with neither writable, it compiles anew in
    each process)."""
    if name not in _state:
        njit = _state["numba"].njit
        try:
            _state[name] = njit(cache=True, nogil=True)(_LOOPS[name])
        except RuntimeError:  # "cannot cache function ...: no locator available"
            _state[name] = njit(nogil=True)(_LOOPS[name])
    return _state[name]


def worth_compiling(size: int) -> bool:
    """Whether work on `size` elements takes a compiled loop (see IMPORT_AT and SMALLEST); imports
    numba when it first says yes."""
    if size < SMALLEST or ("numba" not in _state and size < IMPORT_AT):
        return False
    return enabled()


def _as_rows(arrays: tuple[np.ndarray, ...], ax: int) -> list[np.ndarray] | None:
    """Same-shaped `arrays` viewed without a copy as (outer, channels, rows, columns), `ax` their
    channel axis: the axes after the channels merged into one row, or kept as rows
    and columns when they cannot merge (a window of a padded buffer). None if neither works."""
    shape = arrays[0].shape
    outer, channels = int(np.prod(shape[:ax])), shape[ax]
    after = shape[ax + 1:]
    candidates = [(outer, channels, 1, int(np.prod(after)))]
    if len(after) == 2:
        candidates.append((outer, channels, *after))
    for rows in candidates:
        views = []
        for array in arrays:
            view = array.view()
            try:
                view.shape = rows
            except AttributeError:
                break
            views.append(view)
        else:
            return views
    return None


def requantize_loop(r, c, lo: float, hi: float, zy: int) -> Callable | None:
    """A function (acc, out) -> bool computing out = clip(rint(acc * r + c), lo, hi) + zy in
    float64, as the numpy form does, with r, c per channel (along one axis) or scalars broadcast
    against acc. It returns False (and does nothing) where the loop does not apply (shapes it
    does not take, small accumulators: see above); None when there is no compiled loop."""
    if _state.get("numba") is False or ("numba" not in _state and not _wanted()):
        return None
    per = np.broadcast_shapes(np.shape(r), np.shape(c))
    r = np.broadcast_to(r, per)
    c = np.broadcast_to(c, per)
    prepared: dict[tuple, tuple] = {}  # per accumulator shape: rows, r and c per channel

    def prepare(shape):
        if len(per) > len(shape):
            return None
        full = (1,) * (len(shape) - len(per)) + per
        axes = [i for i, n in enumerate(full) if n != 1]
        if len(axes) > 1 or any(p not in (1, n) for p, n in zip(full, shape)):
            return None
        if not shape:
            return None
        # per-tensor factors: repeated along axis 1 (the rows after it may be a padded window)
        ax = axes[0] if axes else min(1, len(shape) - 1)
        channels = shape[ax]
        return (ax, np.array(np.broadcast_to(r.reshape(-1), channels), np.float64),
                np.array(np.broadcast_to(c.reshape(-1), channels), np.float64))

    def run(acc: np.ndarray, out: np.ndarray) -> bool:
        if acc.shape != out.shape or acc.dtype.kind not in "fiu" or \
                not worth_compiling(acc.size):
            return False
        if acc.shape not in prepared:
            prepared[acc.shape] = prepare(acc.shape)
        ready = prepared[acc.shape]
        if ready is None:
            return False
        ax, rv, cv = ready
        views = _as_rows((acc, out), ax)
        if views is None:
            return False
        if views[0].shape[2:] == (1, 1) and views[0].shape[1] > 1:
            # channels last: the channels are the (vectorized) inner loop
            rows = [v.reshape(-1, v.shape[1]) for v in views]
            compiled("requantize_last")(rows[0], rv, cv, float(lo), float(hi), int(zy), rows[1])
        else:
            compiled("requantize")(views[0], rv, cv, float(lo), float(hi), int(zy), views[1])
        return True
    return run


_F16, _F32 = np.dtype(np.float16), np.dtype(np.float32)
_HALVES: list[np.ndarray] = []  # every binary16 bit pattern's value as float32, made on first use


def to_float16(a: np.ndarray) -> np.ndarray:
    """a.astype(float16), the same bits; a compiled loop for large float32 arrays (numpy's cast
    takes ~2.5 ns per element, the loop ~0.3-0.6; a strided `a` is copied contiguous first)."""
    if a.dtype != _F32 or not a.ndim or not worth_compiling(a.size):
        return a.astype(_F16)
    a = np.ascontiguousarray(a)
    out = np.empty(a.shape, _F16)
    compiled("to_half")(a.reshape(-1).view(np.uint32), out.reshape(-1).view(np.uint16))
    return out


def to_float32(a: np.ndarray) -> np.ndarray:
    """a.astype(float32) for float16 `a`: a gather from the table of all 65536 values for large
    arrays (numpy's cast takes ~1.6 ns per element)."""
    if a.dtype != _F16 or not a.ndim or not worth_compiling(a.size):
        return a.astype(_F32)
    a = np.ascontiguousarray(a)
    if not _HALVES:
        _HALVES.append(np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(_F16)
                       .astype(_F32))
    out = np.empty(a.shape, _F32)
    compiled("gather")(a.reshape(-1).view(np.uint16), _HALVES[0], out.reshape(-1))
    return out
