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
    dimension metadata) to a dense array of `shape`. The metadata come from the file: every
    order, size, segment and index is checked before it addresses anything."""
    n = len(shape)
    order = [int(v) for v in sp.TraversalOrderAsNumpy()] if sp.TraversalOrderLength() else []
    block_map = [int(v) for v in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else []
    metas = [sp.DimMetadata(i) for i in range(sp.DimMetadataLength())]
    levels = n + len(block_map)
    if sorted(order) != list(range(levels)) or len(metas) != levels \
            or len(set(block_map)) != len(block_map) or any(not 0 <= d < n for d in block_map):
        raise ConversionError(f"sparsity: traversal order {order}, block map {block_map} and "
                              f"{len(metas)} dimension metadata do not describe a rank-{n} "
                              "tensor", False)
    dense = [dm.Format() == tflite.DimensionType.DENSE for dm in metas]
    # the size of every dimension in blocked form: blocked originals, then the block dims
    sizes = [int(d) for d in shape] + [0] * len(block_map)
    for level, dm in enumerate(metas):
        if dense[level] and order[level] >= n:
            sizes[order[level]] = dm.DenseSize()
    for i, d in enumerate(block_map):
        b = sizes[n + i]
        if b < 1 or shape[d] % b:
            raise ConversionError(f"sparsity: block size {b} does not divide dimension {d} of "
                                  f"shape {list(shape)}", False)
        sizes[d] = shape[d] // b
    for level, dm in enumerate(metas):
        if dense[level] and dm.DenseSize() != sizes[order[level]]:
            raise ConversionError(f"sparsity: level {level} declares dense size "
                                  f"{dm.DenseSize()}, its dimension has {sizes[order[level]]}",
                                  False)
    segs = {lv: (_index_vector(dm, "segments"), _index_vector(dm, "indices"))
            for lv, dm in enumerate(metas) if not dense[lv]}
    for lv, (seg, ind) in segs.items():
        if not seg or seg[0] != 0 or seg[-1] != len(ind) or \
                any(a > b for a, b in zip(seg, seg[1:])) or \
                any(not 0 <= i < sizes[order[lv]] for i in ind):
            raise ConversionError(f"sparsity: level {lv} has inconsistent segments or indices "
                                  f"(outside its dimension of {sizes[order[lv]]})", False)
    block_sizes = {block_map[i]: sizes[n + i] for i in range(len(block_map))}
    out = np.zeros(shape, values.dtype)
    coord = [0] * levels

    def place(pos):
        if pos >= len(values):
            raise ConversionError(f"sparsity: the metadata address value {pos} of "
                                  f"{len(values)} stored", False)
        idx = list(coord[:n])
        for i, d in enumerate(block_map):
            idx[d] = coord[d] * block_sizes[d] + coord[n + i]
        out[tuple(idx)] = values[pos]

    def walk(level, pos):
        if level == levels:
            place(pos)
            return
        if dense[level]:
            size = sizes[order[level]]
            for i in range(size):
                coord[order[level]] = i
                walk(level + 1, pos * size + i)
        else:
            seg, ind = segs[level]
            if pos + 1 >= len(seg):
                raise ConversionError(f"sparsity: level {level} has {len(seg) - 1} segments, "
                                      f"segment {pos} is addressed", False)
            for j in range(seg[pos], seg[pos + 1]):
                coord[order[level]] = ind[j]
                walk(level + 1, j)
    walk(0, 0)
    return out
