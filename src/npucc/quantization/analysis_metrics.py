"""The per-layer error metrics of the accuracy analysis, accumulated over samples.

For a float reference f and the dequantized quantized value d (both flattened, float64, summed
over every sample):
- cosine = f.d / (|f| |d|)  (1 when both are zero, 0 when only one is);
- euclidean = |f - d|  (RKNN's `euc`: the L2 norm of the difference, not normalised);
- relative_error = |f - d| / |f|;
- sqnr_db = 10 log10(|f|^2 / |f - d|^2)  (inf when the layer is exact);
- max_error_lsb = max |f - d| / the scale of the layer's output (2**-fl for dynamic fixed
  point); None for float layers;
- saturated_pct = 100 * (integers at the type's qmin or qmax, not counting the zero point) / n;
  a zero point at qmin is a range that starts at 0 (a ReLU output), where 0 is not clipping.
  None for float layers;
- cosine_norm, euclidean_norm (RKNN-Toolkit v1's `cosine_norm`, `eculidean_norm`; RKNN does not
  publish its normalisation, so this is npucc's): each sample's f and d are mapped by the same
  affine map that takes the float value's range [min f, max f] to [0, 1] (a constant f: shifted
  only), f' = (f - min f) / (max f - min f); cosine_norm is the cosine of f' and d',
  euclidean_norm the RMS of f' - d' (the error as a fraction of the float range, comparable
  across layers: a u8 rounding error alone is about 1 / (255 sqrt 12) = 0.0011).

Each sample gives one vector of `TERMS` (its sums, maximum and counts); `ErrorAccumulator.fold`
adds them in sample order, so shards that return their per-sample terms (Dask, analysis.py)
fold to the same bits as one process.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ..errors import NpuccError
from ..ir.types import DType, QuantParams, TensorType


class AnalysisError(NpuccError):
    """The accuracy analysis could not align or run a layer; the message names it."""


@attrs.frozen
class LayerError:
    """The error of one quantized value against its float counterpart. name: the value name
    (of the float graph); source_layers: the source-model layers fused into the node (its
    Node.provenance, sorted); op: the node's op; dtype: the value's storage type."""

    name: str
    source_layers: tuple[str, ...]
    op: str
    dtype: str
    cosine: float
    euclidean: float
    relative_error: float
    sqnr_db: float
    max_error_lsb: float | None
    saturated_pct: float | None
    cosine_norm: float
    euclidean_norm: float

    def to_json(self) -> dict:
        """A JSON-ready dict: non-finite floats (sqnr_db of an exact layer) become None."""
        d = attrs.asdict(self)
        d["source_layers"] = list(self.source_layers)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}


def dequantize(a: np.ndarray, t: TensorType) -> np.ndarray:
    """The real values an array of type `t` stands for, as float64."""
    a = np.asarray(a)
    if t.quant is None:
        return a.astype(np.float64)
    scale, zp, axis = t.quant.as_affine()
    shape = [1] * a.ndim
    if axis is not None and len(scale) > 1:
        shape[axis] = -1
    s = np.asarray(scale, np.float64).reshape(shape)
    z = np.asarray(zp, np.float64).reshape(shape)
    return (a.astype(np.float64) - z) * s


def lsb_of(t: TensorType) -> float | None:
    """The real step of one integer of a quantized type (the largest scale per axis)."""
    return float(max(t.quant.as_affine()[0])) if t.quant is not None else None


def saturated(q: np.ndarray, params: QuantParams, dtype: DType) -> int:
    """How many integers sit at the type's qmin or qmax and are not the zero point."""
    lo, hi = params.int_range(dtype)
    _, zp, axis = params.as_affine()
    hit = (q == lo) | (q == hi)
    if axis is None or len(zp) == 1:
        return int(np.count_nonzero(hit & (q != zp[0])))
    shape = [1] * q.ndim
    shape[axis] = -1
    return int(np.count_nonzero(hit & (q != np.asarray(zp).reshape(shape))))


TERMS = ("dot", "ref2", "got2", "err2", "max_err", "count", "saturated", "finite",
         "ndot", "nref2", "ngot2", "nerr2")


class ErrorAccumulator:
    """Sums over samples for one layer; `add(ref, got)` per sample, `result(...)` at the end."""

    def __init__(self, t: TensorType):
        self.type = t
        self.lsb = lsb_of(t)
        self.sums = dict.fromkeys(TERMS, 0.0)

    def terms(self, ref: np.ndarray, stored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One sample's TERMS (float64; the counts are exact) and the dequantized value:
        `ref` the float value, `stored` the quantized value as its type stores it."""
        dq = dequantize(stored, self.type)
        f = np.asarray(ref, np.float64).ravel()
        d = dq.ravel()
        if f.shape != d.shape:
            raise AnalysisError(f"float and quantized values differ in size: {f.size} vs "
                                f"{d.size}")
        ok = np.isfinite(f) & np.isfinite(d)
        if not ok.all():
            f, d = f[ok], d[ok]
        e = f - d
        sat = 0
        if self.type.quant is not None:
            sat = saturated(np.asarray(stored), self.type.quant, self.type.dtype)
        if f.size:
            lo, span = float(f.min()), float(f.max() - f.min())
            fn, dn = f - lo, d - lo
            if span > 0.0:
                fn, dn = fn / span, dn / span
        else:
            fn = dn = f
        en = fn - dn
        return np.array([f @ d, f @ f, d @ d, e @ e, np.max(np.abs(e), initial=0.0),
                         np.asarray(stored).size, sat, f.size,
                         fn @ dn, fn @ fn, dn @ dn, en @ en], np.float64), dq

    def fold(self, terms) -> None:
        """Add one sample's TERMS (in sample order: float sums are not associative)."""
        s = self.sums
        for k, v in zip(TERMS, terms):
            s[k] = max(s[k], float(v)) if k == "max_err" else s[k] + float(v)

    def add(self, ref: np.ndarray, stored: np.ndarray) -> np.ndarray:
        """Account one sample; returns the dequantized value."""
        terms, dq = self.terms(ref, stored)
        self.fold(terms)
        return dq

    def result(self, name: str, source_layers: tuple[str, ...], op: str) -> LayerError:
        s = self.sums
        quantized = self.type.quant is not None
        return LayerError(
            name, source_layers, op, self.type.dtype.value,
            *metrics(s["dot"], s["ref2"], s["got2"], s["err2"]),
            s["max_err"] / self.lsb if self.lsb else None,
            100.0 * s["saturated"] / s["count"] if quantized and s["count"] else None,
            metrics(s["ndot"], s["nref2"], s["ngot2"], s["nerr2"])[0],
            math.sqrt(s["nerr2"] / s["finite"]) if s["finite"] else 0.0)


def metrics(dot: float, ref2: float, got2: float, err2: float
            ) -> tuple[float, float, float, float]:
    """(cosine, euclidean, relative_error, sqnr_db) from the sums f.d, f.f, d.d, e.e."""
    if ref2 == 0.0 and got2 == 0.0:
        cosine = 1.0
    elif ref2 == 0.0 or got2 == 0.0:
        cosine = 0.0
    else:
        cosine = float(np.clip(dot / math.sqrt(ref2 * got2), -1.0, 1.0))
    euclidean = math.sqrt(err2)
    if ref2 > 0.0:
        relative = math.sqrt(err2 / ref2)
    else:
        relative = 0.0 if err2 == 0.0 else math.inf
    if err2 == 0.0:
        sqnr = math.inf
    elif ref2 == 0.0:
        sqnr = -math.inf
    else:
        sqnr = 10.0 * math.log10(ref2 / err2)
    return cosine, euclidean, relative, sqnr
