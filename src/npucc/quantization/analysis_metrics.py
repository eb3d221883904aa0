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
  None for float layers.
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


class ErrorAccumulator:
    """Sums over samples for one layer; `add(ref, got)` per sample, `result(...)` at the end."""

    def __init__(self, t: TensorType):
        self.type = t
        self.lsb = lsb_of(t)
        self.dot = self.ref2 = self.got2 = self.err2 = 0.0
        self.max_err = 0.0
        self.count = self.saturated = 0

    def add(self, ref: np.ndarray, stored: np.ndarray) -> np.ndarray:
        """Account one sample: `ref` the float value, `stored` the quantized value as its type
        stores it. Returns the dequantized value."""
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
        self.dot += float(f @ d)
        self.ref2 += float(f @ f)
        self.got2 += float(d @ d)
        self.err2 += float(e @ e)
        self.max_err = max(self.max_err, float(np.max(np.abs(e), initial=0.0)))
        self.count += int(np.asarray(stored).size)
        if self.type.quant is not None:
            self.saturated += saturated(np.asarray(stored), self.type.quant, self.type.dtype)
        return dq

    def result(self, name: str, source_layers: tuple[str, ...], op: str) -> LayerError:
        return LayerError(name, source_layers, op, self.type.dtype.value, *metrics(
            self.dot, self.ref2, self.got2, self.err2),
            self.max_err / self.lsb if self.lsb else None,
            100.0 * self.saturated / self.count if self.type.quant is not None and self.count
            else None)


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
