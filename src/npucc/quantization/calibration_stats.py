"""CalibrationStats: the statistics of every float activation of a graph (by value name) and of
its weights, saved as a pair of files and merged exactly.

Files: `NAME.npz` holds the arrays (histogram counts, per-channel weight ranges; read with
allow_pickle=False) and `NAME.json` the rest (value names in graph order, shapes, min/max, counts,
histogram grids, the exact per-run sums as decimal integers, and the sha256 of the npz so a
mismatched pair is caught). Both are written to temporary names and renamed into place.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

import attrs
import numpy as np

from .. import limits
from ..atomic import write_atomic
from ..npyio import npz_from_bytes, read_limited
from .histogram import Histogram, grid_exponent
from .stats import CalibrationError, ValueStats, WeightStats

FORMAT = "npucc-calibration-stats"
VERSION = 1
MAX_JSON_BYTES = 256 << 20  # the metadata: names, shapes and numbers of every value


@attrs.define(eq=False)
class CalibrationStats:
    """Statistics of `values` (graph inputs and float node outputs, in graph order) and
    `weights` (constants) of graph `graph_name`. `runs` counts the graph runs observed;
    `histogram_sample` is the per-run sample size of the histograms (None: every element)."""

    graph_name: str
    values: dict[str, ValueStats]
    weights: dict[str, WeightStats] = attrs.field(factory=dict)
    histogram_sample: int | None = None

    @property
    def runs(self) -> int:
        return max((s.runs for s in self.values.values()), default=0)

    def __getitem__(self, name: str) -> ValueStats:
        try:
            return self.values[name]
        except KeyError:
            raise CalibrationError(f"no statistics for %{name} in graph {self.graph_name}; "
                                   f"{len(self.values)} values were observed") from None

    def __iter__(self):
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def merged(self, other: CalibrationStats) -> CalibrationStats:
        """Statistics of both calibration runs together (exact; order does not matter)."""
        if list(self.values) != list(other.values):
            only = sorted(set(self.values) ^ set(other.values))
            raise CalibrationError(f"cannot merge statistics of different graphs "
                                   f"({self.graph_name} / {other.graph_name}): values differ "
                                   f"{only[:5] or '(in order)'}")
        if self.histogram_sample != other.histogram_sample:
            raise CalibrationError(f"cannot merge histograms sampled differently "
                                   f"({self.histogram_sample} / {other.histogram_sample} "
                                   "elements per run)")
        values = {n: s.merged(other.values[n], n) for n, s in self.values.items()}
        return CalibrationStats(self.graph_name, values, dict(self.weights or other.weights),
                                self.histogram_sample)

    def same_as(self, other: CalibrationStats) -> bool:
        """Bit-identical value statistics (names, order and every field)."""
        return list(self.values) == list(other.values) and \
            self.histogram_sample == other.histogram_sample and all(
            s.same_as(other.values[n]) for n, s in self.values.items())

    # ---- plain form (files, and shipping shard results between processes) ----
    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able metadata, arrays)."""
        arrays: dict[str, np.ndarray] = {}
        values = []
        for i, (name, s) in enumerate(self.values.items()):
            arrays[f"hist{i}"] = s.hist.counts
            values.append({"name": name, "shape": list(s.shape), "count": s.count,
                           "runs": s.runs, "nonfinite": s.nonfinite, "zeros": s.zeros,
                           "min": s.min, "max": s.max,
                           "sum_run_min": str(s.sum_run_min), "sum_run_max": str(s.sum_run_max),
                           "hist_exponent": s.hist.k, "hist_start": s.hist.start})
        weights = []
        for i, (name, w) in enumerate(self.weights.items()):
            arrays[f"wmin{i}"], arrays[f"wmax{i}"] = w.channel_min, w.channel_max
            weights.append({"name": name, "axis": w.axis, "min": w.min, "max": w.max})
        meta = {"format": FORMAT, "version": VERSION, "graph": self.graph_name,
                "histogram_sample": self.histogram_sample, "values": values, "weights": weights}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays, where: str = "<state>") -> CalibrationStats:
        """The statistics `to_state` gave, checked: a malformed or inconsistent file is a
        CalibrationError naming `where`."""
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or \
                type(meta.get("version")) is not int or meta.get("version") != VERSION:
            meta = meta if isinstance(meta, dict) else {}
            raise CalibrationError(f"{where}: not npucc calibration statistics version {VERSION} "
                                   f"(format {meta.get('format')!r} version "
                                   f"{meta.get('version')!r})")
        try:
            values = {}
            for i, v in enumerate(meta["values"]):
                if not isinstance(v["name"], str) or not isinstance(v["shape"], list):
                    raise TypeError(f"value {v['name']!r}: a name string and a shape list")
                counts = np.asarray(arrays[f"hist{i}"])
                if counts.dtype.kind not in "iu":
                    raise TypeError(f"value {v['name']!r}: histogram counts of type "
                                    f"{counts.dtype} (integers expected)")
                hist = Histogram(_integer(v["hist_exponent"]), _integer(v["hist_start"]), counts)
                values[v["name"]] = ValueStats(
                    tuple(_integer(d) for d in v["shape"]), _integer(v["count"]),
                    _integer(v["runs"]), _integer(v["nonfinite"]), _integer(v["zeros"]),
                    float(v["min"]), float(v["max"]), _integer(v["sum_run_min"]),
                    _integer(v["sum_run_max"]), hist)
            weights = {}
            for i, w in enumerate(meta["weights"]):
                if not (w["axis"] is None or type(w["axis"]) is int):
                    raise TypeError(f"weight axis {w['axis']!r} is not an integer or null")
                weights[w["name"]] = WeightStats(w["axis"], float(w["min"]), float(w["max"]),
                                                 np.asarray(arrays[f"wmin{i}"], np.float64),
                                                 np.asarray(arrays[f"wmax{i}"], np.float64))
            graph, sample = meta["graph"], meta.get("histogram_sample")
            if not isinstance(graph, str) or not (sample is None or type(sample) is int
                                                  and sample > 0):
                raise TypeError(f"graph {graph!r} / histogram_sample {sample!r}: expected a "
                                "name / an integer or null")
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise CalibrationError(f"{where}: malformed calibration statistics: "
                                   f"{type(e).__name__}: {e}") from None
        for name, v in values.items():
            problem = _inconsistency(v)
            if problem:
                raise CalibrationError(f"{where}: statistics of %{name} are inconsistent: "
                                       f"{problem}")
        for name, w in weights.items():
            if not (np.isfinite([w.min, w.max]).all() and w.min <= w.max
                    and np.isfinite(w.channel_min).all() and np.isfinite(w.channel_max).all()
                    and w.channel_min.shape == w.channel_max.shape):
                raise CalibrationError(f"{where}: weight statistics of %{name} are inconsistent")
        return cls(graph, values, weights, sample)

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write `path` (.npz, the suffix is added if missing) and the .json beside it;
        returns both paths."""
        npz, js = _paths(path)
        meta, arrays = self.to_state()
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        meta["npz_sha256"] = hashlib.sha256(data).hexdigest()
        _atomic_write(npz, data)
        _atomic_write(js, json.dumps(meta, indent=1).encode())
        return npz, js

    @classmethod
    def load(cls, path: str | os.PathLike) -> CalibrationStats:
        npz, js = _paths(path)
        try:
            meta = json.loads(read_limited(js, MAX_JSON_BYTES))
            data = read_limited(npz, 4 * limits.MAX_TENSOR_BYTES)
        except (OSError, ValueError, RecursionError) as e:  # not UTF-8, not JSON, too deep
            raise CalibrationError(f"cannot read calibration statistics {js} / {npz}: "
                                   f"{type(e).__name__}: {e}") from None
        if not isinstance(meta, dict) or meta.get("npz_sha256") != hashlib.sha256(data).hexdigest():
            raise CalibrationError(f"{npz} does not match {js} (sha256 differs): the pair was "
                                   "not written together")
        try:
            arrays = npz_from_bytes(data)
        except (OSError, ValueError, EOFError) as e:
            raise CalibrationError(f"cannot read calibration statistics {npz}: {e}") from e
        return cls.from_state(meta, arrays, f"{js} (arrays in {npz.name})")


def _inconsistency(v: ValueStats) -> str | None:
    """What breaks the invariants calibration keeps (loaded statistics are untrusted), or None."""
    h = v.hist
    if min(v.count, v.runs, v.nonfinite, v.zeros) < 0 or any(d < 0 for d in v.shape):
        return "a negative count or dimension"
    if v.count == 0:
        return None if not len(h.counts) else "a histogram without values"
    if not (math.isfinite(v.min) and math.isfinite(v.max) and v.min <= v.max) or v.runs == 0:
        return f"range [{v.min}, {v.max}] over {v.runs} runs"
    if h.k != grid_exponent(v.min, v.max) or h.counts.ndim != 1:
        return "the histogram is not on the grid of the range"
    first, last = (math.floor(math.ldexp(x, -h.k)) for x in (v.min, v.max))
    if len(h.counts) and (h.start < first or h.start + len(h.counts) - 1 > last):
        return "the histogram reaches past the range"
    if (h.counts < 0).any() or h.total > v.count or v.zeros > h.total:
        return "histogram counts do not add up"
    return None


def merge_all(parts: Iterable[CalibrationStats]) -> CalibrationStats:
    """Merge any number of statistics (exact, order-independent)."""
    out = None
    for p in parts:
        out = p if out is None else out.merged(p)
    if out is None:
        raise CalibrationError("no statistics to merge")
    return out


def _paths(path) -> tuple[Path, Path]:
    p = Path(path)
    npz = p if p.suffix == ".npz" else p.with_name(p.name + ".npz")
    return npz, npz.with_suffix(".json")


def _atomic_write(path: Path, data: bytes) -> None:
    write_atomic(path, data)


def _integer(x) -> int:
    """A count or size read back: an integer (not a bool, not a float that int() would
    truncate), or the decimal string of one (the exact run sums)."""
    if isinstance(x, str) and x.lstrip("-").isdigit():
        return int(x)
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{x!r} is not an integer")
    return int(x)
