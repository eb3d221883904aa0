"""Data-movement ops: Concat, Split, Slice, Reshape, Flatten, Transpose, Pad, Squeeze, Unsqueeze,
Identity, Gather, Expand, Tile, DepthToSpace, SpaceToDepth. Everything that decides a shape is an
attribute (see the conventions in docs/OPS.md).

Also home of the small attribute checks (`positive`, `non_negative`) and the axis normalisation
(`normalize_axis`, `normalize_axes`) that the other op modules share.

Quantization params are not carried through (outputs are plain types, except Identity which
returns its input type unchanged); quantization passes attach them with `output_types=`.
"""

from __future__ import annotations

import math

import numpy as np

from npucc.errors import IRError
from npucc.ir.quant_rule import REQUANTIZE, SAME, SHARED
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import DType, TensorType


# ---- attribute checks shared by the op modules ----
def positive(values) -> str | None:
    """Attr check: every entry > 0."""
    return None if all(v > 0 for v in values) else "every entry must be > 0"


def non_negative(values) -> str | None:
    """Attr check: every entry >= 0."""
    return None if all(v >= 0 for v in values) else "every entry must be >= 0"


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    """`axis` in [-rank, rank) as a non-negative index; IRError otherwise."""
    if not -rank <= axis < rank:
        raise IRError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank


def normalize_axes(axes, rank: int, what: str = "axes") -> tuple[int, ...]:
    """Distinct axes in [-rank, rank) as non-negative indices (in the given order)."""
    out = tuple(normalize_axis(a, rank, what) for a in axes)
    if len(set(out)) != len(out):
        raise IRError(f"{what} {tuple(axes)} repeat an axis (rank {rank})")
    return out


def _shape(t: TensorType) -> list[int]:
    return list(t.shape)


# ---- Identity ----
@define_op("Identity", inputs=("X",), infer=lambda types, attrs_: types[0], quant=REQUANTIZE)
def identity(x):
    """y = x (type, including quantization params, unchanged)"""
    return x


# ---- Concat ----
def _concat_type(types, attrs_):
    first = types[0]
    axis = normalize_axis(attrs_["axis"], first.rank)
    total = 0
    for i, t in enumerate(types):
        if t.dtype != first.dtype:
            raise IRError(f"input {i} is {t.dtype.value}, input 0 is {first.dtype.value}")
        if t.rank != first.rank:
            raise IRError(f"input {i} has rank {t.rank}, input 0 has rank {first.rank}")
        other = [d for k, d in enumerate(t.shape) if k != axis]
        if other != [d for k, d in enumerate(first.shape) if k != axis]:
            raise IRError(f"input {i} shape {_shape(t)} differs from input 0 shape "
                          f"{_shape(first)} outside the concat axis {axis}")
        total += t.shape[axis]
    shape = list(first.shape)
    shape[axis] = total
    return TensorType(shape, first.dtype)


@define_op("Concat", inputs=("inputs*",), attrs={"axis": Attr("int")}, infer=_concat_type,
           quant=SHARED)
def concat(*xs, axis):
    """Join the inputs along `axis` (negative counts from the end)."""
    return np.concatenate(xs, axis=axis)


# ---- Split ----
def _split_types(types, attrs_):
    t = types[0]
    axis = normalize_axis(attrs_["axis"], t.rank)
    sizes = attrs_["split"]
    if sum(sizes) != t.shape[axis]:
        raise IRError(f"split sizes {sizes} sum to {sum(sizes)}, but axis {axis} "
                      f"of {_shape(t)} has size {t.shape[axis]}")
    out = []
    for s in sizes:
        shape = list(t.shape)
        shape[axis] = s
        out.append(TensorType(shape, t.dtype))
    return out


@define_op("Split", inputs=("X",),
           attrs={"axis": Attr("int", 0),
                  "split": Attr("ints", check=lambda v: "must not be empty" if not v
                                else non_negative(v), doc="size of each output along axis")},
           infer=_split_types, quant=SAME)
def split(x, *, axis, split):
    """Cut x along `axis` into consecutive pieces of the given sizes (one output each)."""
    bounds = np.cumsum(split)[:-1]
    return tuple(np.split(x, bounds, axis=axis))


# ---- Slice ----
def onnx_slice(dim: int, start: int, end: int, step: int) -> tuple[slice, int]:
    """ONNX Slice on one axis of size dim: negative indices count from the end, then starts and
    ends are clamped to [0, dim] (step > 0) or to [0, dim-1] and [-1, dim-1] (step < 0).
    Returns the equivalent python slice and the output size."""
    start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    n = len(range(start, end, step)) if dim else 0
    return slice(start, end if end >= 0 else None, step), n


def _slices(shape, starts, ends, axes, steps) -> tuple[tuple[slice, ...], list[int]]:
    """Per-axis python slices and the resulting shape."""
    index = [slice(None)] * len(shape)
    out = list(shape)
    axes = range(len(starts)) if axes is None else axes
    steps = (1,) * len(starts) if steps is None else steps
    for a, b, e, s in zip(axes, starts, ends, steps):
        index[a], out[a] = onnx_slice(shape[a], b, e, s)
    return tuple(index), out


def _slice_type(types, attrs_):
    t = types[0]
    starts, ends, axes, steps = (attrs_[k] for k in ("starts", "ends", "axes", "steps"))
    n = len(starts)
    if len(ends) != n:
        raise IRError(f"starts has {n} entries but ends has {len(ends)}")
    if axes is not None and len(axes) != n:
        raise IRError(f"starts has {n} entries but axes has {len(axes)}")
    if steps is not None and len(steps) != n:
        raise IRError(f"starts has {n} entries but steps has {len(steps)}")
    if axes is None and n > t.rank:
        raise IRError(f"{n} starts for a rank-{t.rank} input")
    axes = None if axes is None else normalize_axes(axes, t.rank)
    _, shape = _slices(t.shape, starts, ends, axes, steps)
    return TensorType(shape, t.dtype)


@define_op("Slice", inputs=("X",),
           attrs={"starts": Attr("ints"), "ends": Attr("ints"),
                  "axes": Attr("ints", None, doc="default: 0..len(starts)-1"),
                  "steps": Attr("ints", None, check=lambda v: None if all(v) else
                                "steps must be non-zero", doc="default: all 1")},
           infer=_slice_type, quant=SAME)
def slice_(x, *, starts, ends, axes, steps):
    """ONNX Slice: x[starts:ends:steps] on `axes`; negative indices count from the end, then
    indices are clamped into the axis (for negative steps: starts to [0, dim-1], ends to
    [-1, dim-1])."""
    if axes is not None:
        axes = normalize_axes(axes, x.ndim)
    index, _ = _slices(x.shape, starts, ends, axes, steps)
    return x[index]


# ---- Reshape / Flatten ----
def _reshape_type(types, attrs_):
    t, shape = types[0], attrs_["shape"]
    if math.prod(shape) != t.size:
        raise IRError(f"cannot reshape {_shape(t)} ({t.size} elements) to {list(shape)} "
                      f"({math.prod(shape)} elements)")
    return TensorType(shape, t.dtype)


@define_op("Reshape", inputs=("X",),
           attrs={"shape": Attr("ints", check=non_negative, doc="explicit output shape")},
           infer=_reshape_type, quant=SAME)
def reshape(x, *, shape):
    """x with the given explicit shape (row-major order; no -1 or 0 placeholders)."""
    return x.reshape(shape)


def _flatten_shape(shape, axis) -> tuple[int, int]:
    return math.prod(shape[:axis]), math.prod(shape[axis:])


def _flatten_type(types, attrs_):
    t, axis = types[0], attrs_["axis"]
    if not -t.rank <= axis <= t.rank:
        raise IRError(f"axis {axis} is out of range [-{t.rank}, {t.rank}] for rank {t.rank}")
    return TensorType(_flatten_shape(t.shape, axis + t.rank if axis < 0 else axis), t.dtype)


@define_op("Flatten", inputs=("X",), attrs={"axis": Attr("int", 1)}, infer=_flatten_type,
           quant=SAME)
def flatten(x, *, axis):
    """2-D view: (prod(shape[:axis]), prod(shape[axis:])); negative axis counts from the end."""
    axis = axis + x.ndim if axis < 0 else axis
    return x.reshape(_flatten_shape(x.shape, axis))


# ---- Transpose ----
def _transpose_type(types, attrs_):
    t, perm = types[0], attrs_["perm"]
    if sorted(perm) != list(range(t.rank)):
        raise IRError(f"perm {perm} is not a permutation of 0..{t.rank - 1}")
    return TensorType([t.shape[p] for p in perm], t.dtype)


@define_op("Transpose", inputs=("X",), attrs={"perm": Attr("ints", doc="explicit permutation")},
           infer=_transpose_type, quant=SAME)
def transpose(x, *, perm):
    """Output axis i is input axis perm[i]."""
    return np.transpose(x, perm)


# ---- Pad ----
def _pad_pairs(rank, pads) -> list[tuple[int, int]]:
    return [(pads[i], pads[i + rank]) for i in range(rank)]


def _pad_type(types, attrs_):
    t, pads, mode = types[0], attrs_["pads"], attrs_["mode"]
    if len(pads) != 2 * t.rank:
        raise IRError(f"pads has {len(pads)} entries; a rank-{t.rank} input takes {2 * t.rank} "
                      "(all begins, then all ends)")
    for axis, (b, e) in enumerate(_pad_pairs(t.rank, pads)):
        d = t.shape[axis]
        if mode == "reflect" and max(b, e) > d - 1:
            raise IRError(f"reflect padding ({b}, {e}) on axis {axis} needs pads < the axis "
                          f"size {d}")
        if mode == "edge" and (b or e) and d == 0:
            raise IRError(f"edge padding of the empty axis {axis}")
    shape = [d + b + e for d, (b, e) in zip(t.shape, _pad_pairs(t.rank, pads))]
    return TensorType(shape, t.dtype)


@define_op("Pad", inputs=("X",),
           attrs={"pads": Attr("ints", check=non_negative, doc="all begins, then all ends"),
                  "mode": Attr("str", "constant", choices=("constant", "reflect", "edge")),
                  "value": Attr("float", 0.0, doc="fill value of constant mode")},
           infer=_pad_type, quant=SAME)
def pad(x, *, pads, mode, value):
    """ONNX Pad: constant (fill with value), reflect (mirror without the edge), edge (repeat)."""
    pairs = _pad_pairs(x.ndim, pads)
    if mode == "constant":
        return np.pad(x, pairs, mode="constant", constant_values=np.asarray(value, x.dtype))
    return np.pad(x, pairs, mode=mode)


# ---- Squeeze / Unsqueeze ----
def _squeeze_type(types, attrs_):
    t = types[0]
    axes = normalize_axes(attrs_["axes"], t.rank)
    bad = [a for a in axes if t.shape[a] != 1]
    if bad:
        raise IRError(f"cannot squeeze axes {bad} of {_shape(t)}: their size is not 1")
    return TensorType([d for i, d in enumerate(t.shape) if i not in axes], t.dtype)


@define_op("Squeeze", inputs=("X",), attrs={"axes": Attr("ints", doc="explicit axes of size 1")},
           infer=_squeeze_type, quant=SAME)
def squeeze(x, *, axes):
    """Remove the listed axes, each of size 1."""
    return np.squeeze(x, axis=tuple(axes))


def _unsqueeze_shape(shape, axes) -> list[int]:
    rank = len(shape) + len(axes)
    axes = normalize_axes(axes, rank)
    it = iter(shape)
    return [1 if i in axes else next(it) for i in range(rank)]


def _unsqueeze_type(types, attrs_):
    t = types[0]
    return TensorType(_unsqueeze_shape(t.shape, attrs_["axes"]), t.dtype)


@define_op("Unsqueeze", inputs=("X",),
           attrs={"axes": Attr("ints", doc="positions of the new axes in the output")},
           infer=_unsqueeze_type, quant=SAME)
def unsqueeze(x, *, axes):
    """Insert size-1 axes at the listed output positions (negative counts from the output end)."""
    return x.reshape(_unsqueeze_shape(x.shape, axes))


# ---- Gather ----
def _gather_type(types, attrs_):
    x, idx = types
    if idx.dtype not in (DType.i32, DType.i64):
        raise IRError(f"indices must be i32 or i64, got {idx.dtype.value}")
    axis = normalize_axis(attrs_["axis"], x.rank)
    return TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)


@define_op("Gather", inputs=("X", "indices"), attrs={"axis": Attr("int", 0)}, infer=_gather_type,
           quant=SAME)
def gather(x, indices, *, axis):
    """ONNX Gather: x indexed along `axis` by `indices` (negative indices count from the end)."""
    n = x.shape[axis]
    if indices.size and (indices.min() < -n or indices.max() >= n):
        raise IRError(f"Gather indices out of range [-{n}, {n})")
    return np.take(x, indices.astype(np.int64), axis=axis)


# ---- Expand / Tile ----
def _expand_type(types, attrs_):
    x, shape = types[0], tuple(attrs_["shape"])
    try:
        out = np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise IRError(f"cannot broadcast {list(x.shape)} to {list(shape)}") from None
    if out != shape:
        raise IRError(f"shape {list(shape)} must be the full broadcast shape {list(out)}")
    return TensorType(shape, x.dtype)


@define_op("Expand", inputs=("X",), attrs={"shape": Attr("ints", doc="explicit output shape")},
           infer=_expand_type, quant=SAME)
def expand(x, *, shape):
    """x broadcast to `shape` (the full output shape)"""
    return np.broadcast_to(x, tuple(shape)).copy()


def _tile_type(types, attrs_):
    x, reps = types[0], attrs_["repeats"]
    if len(reps) != x.rank or any(r < 0 for r in reps):
        raise IRError(f"repeats {list(reps)} must be {x.rank} non-negative ints")
    return TensorType(tuple(d * r for d, r in zip(x.shape, reps)), x.dtype)


@define_op("Tile", inputs=("X",), attrs={"repeats": Attr("ints")}, infer=_tile_type,
           quant=SAME)
def tile(x, *, repeats):
    """x repeated `repeats[i]` times along axis i"""
    return np.tile(x, tuple(repeats))


# ---- DepthToSpace / SpaceToDepth ----
def _depth_space_type(to_space: bool):
    def infer(types, attrs_):
        x, b = types[0], attrs_["blocksize"]
        if x.rank != 4:
            raise IRError(f"takes a 4-D NCHW tensor, got {list(x.shape)}")
        n, c, h, w = x.shape
        if to_space:
            if c % (b * b):
                raise IRError(f"channels {c} not divisible by blocksize^2 = {b * b}")
            return TensorType((n, c // (b * b), h * b, w * b), x.dtype)
        if h % b or w % b:
            raise IRError(f"spatial size {h}x{w} not divisible by blocksize {b}")
        return TensorType((n, c * b * b, h // b, w // b), x.dtype)
    return infer


@define_op("DepthToSpace", inputs=("X",),
           attrs={"blocksize": Attr("int", check=lambda v: positive([v])),
                  "mode": Attr("str", "DCR", choices=("DCR", "CRD"))},
           infer=_depth_space_type(True), quant=SAME)
def depth_to_space(x, *, blocksize, mode):
    """ONNX DepthToSpace: DCR takes depth-column-row order of the channel blocks, CRD
    column-row-depth."""
    n, c, h, w = x.shape
    b = blocksize
    if mode == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return np.ascontiguousarray(t).reshape(n, c // (b * b), h * b, w * b)


@define_op("SpaceToDepth", inputs=("X",),
           attrs={"blocksize": Attr("int", check=lambda v: positive([v]))},
           infer=_depth_space_type(False), quant=SAME)
def space_to_depth(x, *, blocksize):
    """ONNX SpaceToDepth (the inverse of DepthToSpace in DCR mode)."""
    n, c, h, w = x.shape
    b = blocksize
    t = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return np.ascontiguousarray(t).reshape(n, c * b * b, h // b, w // b)
