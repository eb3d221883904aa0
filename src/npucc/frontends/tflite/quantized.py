"""Converters of QUANTIZE, DEQUANTIZE and DENSIFY (fp16 and sparse weights become dense float
constants at import time)."""

from __future__ import annotations

import numpy as np
import tflite

from ...ir import Value
from ...ir.types import DType
from ..tf_common import (
    ConversionError,
    quant_of,
)


def dequantize(imp, op):
    t = op.tensor(0)
    x = op.input(0)
    if isinstance(x, np.ndarray) and x.dtype == np.float16:
        return x.astype(np.float32)
    if isinstance(x, Value) and x.is_constant and t.quant is not None:
        q = t.quant
        shape = [1] * x.type.rank
        if q.axis is not None:
            shape[q.axis] = -1
        s = np.asarray(q.scale, np.float32).reshape(shape)
        zp = np.asarray(q.zero_point, np.int64).reshape(shape if len(q.zero_point) > 1 else ())
        return ((np.asarray(x.const).astype(np.int64) - zp).astype(np.float32) * s)
    if t.quant is None:
        raise ConversionError(f"DEQUANTIZE input '{t.name}' has no quantization params")
    q = t.quant
    return imp.emit(op, "DequantizeLinear", [x], {"scale": q.scale, "zero_point": q.zero_point,
                                                  "axis": q.axis}, quant_from_output=False)


def quantize(imp, op):
    x = op.input(0)
    t = op.out_tensor()
    if t.quant is None:
        raise ConversionError(f"QUANTIZE output '{t.name}' has no quantization params")
    if quant_of(x) is not None:  # requantization int -> int
        if x.dtype.numpy != t.np_dtype:
            raise ConversionError(f"requantizing {x.dtype.value} to {t.type_name} is not "
                                  "supported")
        return imp.emit(op, "Identity", [x])
    q = t.quant
    return imp.emit(op, "QuantizeLinear", [x], {
        "scale": q.scale, "zero_point": q.zero_point, "axis": q.axis,
        "dtype": DType.from_numpy(t.np_dtype), "rounding": "half_away"})  # TfLiteRound


def densify(imp, op):
    t = op.tensor(0)
    if t.data is None or t.sparsity is None:
        raise ConversionError(f"DENSIFY input '{t.name}' is not a sparse constant")
    dense = densify_array(t.data, t.shape, t.sparsity)
    if t.quant is not None:
        return imp.constant(dense, t, t.quant)
    return dense


def _index_vector(dm, which):
    """array_segments / array_indices of a DimensionMetadata (Int32/Uint16/Uint8 vectors)."""
    kind = dm.ArraySegmentsType() if which == "segments" else dm.ArrayIndicesType()
    table = dm.ArraySegments() if which == "segments" else dm.ArrayIndices()
    cls = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
           tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
           tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}[kind]
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return [int(v) for v in vec.ValuesAsNumpy()]


def densify_array(values: np.ndarray, shape, sp) -> np.ndarray:
    """Expand TFLite's sparse tensor format (traversal order, block map, DENSE / SPARSE_CSR
    dimension metadata) to a dense array of `shape`."""
    order = [int(v) for v in sp.TraversalOrderAsNumpy()]
    block_map = [int(v) for v in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else []
    n = len(shape)
    metas = [sp.DimMetadata(i) for i in range(sp.DimMetadataLength())]
    # dense size of every level (original dims in blocked form, then block dims)
    sizes = [0] * len(order)
    for level, dm in enumerate(metas):
        if dm.Format() == tflite.DimensionType.DENSE:
            sizes[order[level]] = dm.DenseSize()
    block_sizes = {block_map[i]: sizes[n + i] for i in range(len(block_map))}
    out = np.zeros(shape, values.dtype)
    coord = [0] * len(order)
    segs = {lv: (_index_vector(dm, "segments"), _index_vector(dm, "indices"))
            for lv, dm in enumerate(metas) if dm.Format() != tflite.DimensionType.DENSE}

    def place(value):
        idx = list(coord[:n])
        for i, d in enumerate(block_map):
            idx[d] = coord[d] * block_sizes[d] + coord[n + i]
        out[tuple(idx)] = value

    def walk(level, pos):
        if level == len(order):
            place(values[pos])
            return
        dm = metas[level]
        if dm.Format() == tflite.DimensionType.DENSE:
            size = dm.DenseSize()
            for i in range(size):
                coord[order[level]] = i
                walk(level + 1, pos * size + i)
        else:
            seg, ind = segs[level]
            for j in range(seg[pos], seg[pos + 1]):
                coord[order[level]] = ind[j]
                walk(level + 1, j)
    walk(0, 0)
    return out
