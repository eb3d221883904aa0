"""Compiled loops (numba) for the elementwise work that dominates integer execution.

Each loop is the exact counterpart of a numpy expression kept beside its caller as the reference:
the same float64 operations in the same order, so both give the same integers (the tests run both
on the same draws, ties included). Why compiled: requantizing an accumulator in numpy takes five
passes over float64 arrays (multiply, offset, round, clip, cast), ~2 ns per element; one loop that
keeps the value in a register takes ~0.3 ns (benchmarks/README.md, quantized_vs_ort.py). On
MobileNetV2 that was ~40 % of an int8 run.

numba is imported at the first accumulator of IMPORT_AT elements or more (importing it and
loading a cached loop take ~0.3-0.5 s, more than a small model's whole run saves); from then on
accumulators of SMALLEST elements or more take the loop (below, numba's dispatch costs about as
much as numpy's calls). The loops are
compiled on first use and cached beside this file (numba's `cache=True`). `NPUCC_NO_JIT=1`, or a
numba that does not import, selects the numpy forms.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import numpy as np

IMPORT_AT = 1 << 16  # read at each call (tests set both to 0)
SMALLEST = 1 << 10

# "numba": the module, or False when unavailable or switched off; "requantize": the compiled loop
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


def _requantize_loop() -> Callable:
    """The compiled loop. numba specializes it per dtypes and layout ('C' when the arrays are
    contiguous: about 3x faster than any-layout code, which does not vectorize), so a model
    compiles it a few times (~0.4 s each, then loaded from the cache)."""
    if "requantize" not in _state:
        _state["requantize"] = _state["numba"].njit(cache=True, nogil=True)(_requantize)
    return _state["requantize"]


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
        if acc.shape != out.shape or acc.dtype.kind not in "fiu" or acc.size < SMALLEST:
            return False
        if "numba" not in _state and acc.size < IMPORT_AT:
            return False  # not worth importing numba for
        if not enabled():
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
        loop = _requantize_loop()
        loop(views[0], rv, cv, float(lo), float(hi), int(zy), views[1])
        return True
    return run
