"""What the TensorFlow and TFLite frontends share: a graph builder over *handles* (a numpy array
when a tensor is known at import time, else a graph Value), NHWC <-> NCHW wrapping of the core's
NCHW ops, and TensorFlow's padding, resize and strided-slice rules.

NHWC models are imported faithfully: an NCHW core op (Conv, pools, Resize...) is wrapped in
Transpose(0,3,1,2) ... Transpose(0,2,3,1); the layout pass removes the pairs later.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np

from ..errors import IRError, NpuccError, UnsupportedError
from ..ir import Graph, Value
from ..ir.registry import get_op
from ..ir.types import QuantParams, TensorType
from .builder import ConversionError, check_result_sizes

Handle = np.ndarray | Value

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


class Builder:
    """Emits core ops into `graph`, folding ops whose inputs are all static arrays."""

    def __init__(self, graph: Graph):
        self.graph = graph

    def value(self, h: Handle, name: str | None = None) -> Value:
        if isinstance(h, Value):
            return h
        arr = np.asarray(h)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return self.graph.add_constant(arr, self.graph.unique_name(name or "const"))

    def emit(self, op: str, inputs: Sequence[Handle | None], attrs: dict | None = None, *,
             label: str, quant: QuantParams | None = None, name: str | None = None) -> Handle:
        """Apply core op `op` (single output). Static inputs fold to an array; otherwise a node
        whose output carries `quant` (quantized outputs) and `name` (if given and free)."""
        return self.emit_all(op, inputs, attrs, label=label, quants=[quant], names=[name])[0]

    def emit_all(self, op: str, inputs: Sequence[Handle | None], attrs: dict | None = None, *,
                 label: str, quants: Sequence[QuantParams | None] = (),
                 names: Sequence[str | None] = ()) -> list[Handle]:
        """`emit` for an op with several outputs (Split, TopK): output k carries quants[k] and
        names[k] (missing entries: None)."""
        attrs = attrs or {}
        opdef = get_op(op)
        if all(q is None for q in quants) and \
                all(h is None or isinstance(h, np.ndarray) for h in inputs):
            try:
                norm = opdef.normalize_attrs(attrs)
                arrays = [None if h is None else np.asarray(h) for h in inputs]
                types = opdef.infer_types([None if a is None else TensorType.of(a)
                                           for a in arrays], norm)
                check_result_sizes(op, types)
                return list(opdef.evaluate(arrays, norm))
            except NpuccError as e:
                raise ConversionError(f"cannot evaluate {op} on constants: {e}", False) from None
            except Exception as e:  # noqa: BLE001 - a kernel rejecting these values
                raise ConversionError(f"cannot evaluate {op} on constants: "
                                      f"{type(e).__name__}: {e}", False) from None
        values = [None if h is None else self.value(h) for h in inputs]
        try:
            norm = opdef.normalize_attrs(attrs)
            types = opdef.infer_types([None if v is None else v.type for v in values], norm)
            quants = list(quants) + [None] * (len(types) - len(quants))
            names = list(names) + [None] * (len(types) - len(names))
            types = [t if q is None else TensorType(t.shape, t.dtype, q)
                     for t, q in zip(types, quants)]
            # intermediates are named after the source op, so the source tensor name stays free
            # for the value that really holds that tensor
            suffix = [f"{label}.{op.lower()}" + (f"_{k}" if len(types) > 1 else "")
                      for k in range(len(types))]
            out_names = [self.graph.unique_name(n or s) for n, s in zip(names, suffix)]
            node = self.graph.add_node(op, values, norm, output_types=types,
                                       output_names=out_names, provenance=[label])
        except IRError as e:
            raise ConversionError(f"cannot create {op}: {e}", False) from None
        return list(node.outputs)

    def transpose(self, h: Handle, perm, label: str) -> Handle:
        return self.emit("Transpose", [h], {"perm": tuple(perm)}, label=label, quant=quant_of(h))

    def nchw_op(self, op: str, x: Handle, extra: Sequence[Handle | None], attrs: dict, *,
                label: str, quant: QuantParams | None = None, name: str | None = None) -> Handle:
        """Run NCHW core op `op` on NHWC `x`: Transpose in, op, Transpose out."""
        if len(shape_of(x)) != 4:
            raise ConversionError(f"{op} needs a 4-D NHWC input, got shape {list(shape_of(x))}")
        y = self.emit(op, [self.transpose(x, TO_NCHW, label), *extra], attrs, label=label,
                      quant=quant)
        return self.emit("Transpose", [y], {"perm": TO_NHWC}, label=label, quant=quant,
                         name=name)


def int_list(values, what: str, count: int | None = None) -> list[int]:
    """A static operand that must hold integers (shape operands, axes...), as a list (of exactly
    `count` entries when given)."""
    arr = np.asarray(values)
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise ConversionError(f"{what} must be integers, got {arr.dtype}", False)
    if count is not None and arr.size != count:
        raise ConversionError(f"{what} must have {count} entries, got {arr.size}", False)
    return [int(v) for v in arr.ravel()]


class StaticOperands:
    """What the TF and TFLite converter contexts share: operands that must be known at import
    time. A subclass gives `input(i)` and `not_static(i, what)` (the error text naming the
    operand in its format's words)."""

    def static(self, i: int, what: str) -> np.ndarray:
        h = self.input(i)
        if isinstance(h, Value):
            if h.is_constant:
                return np.asarray(h.const)
            raise ConversionError(self.not_static(i, what))
        return np.asarray(h)

    def ints(self, i: int, what: str, count: int | None = None) -> list[int]:
        """Static input i as a list of integers (of exactly `count` entries if given)."""
        return int_list(self.static(i, what), what, count)


def axis_index(axis: int, rank: int, what: str = "axis") -> int:
    """A (possibly negative) axis of a rank-`rank` tensor, checked."""
    if not -rank <= axis < rank:
        raise ConversionError(f"{what} {axis} is out of range for rank {rank}", False)
    return axis % rank


def quant_of(h: Handle) -> QuantParams | None:
    return h.type.quant if isinstance(h, Value) else None


def shape_of(h: Handle) -> tuple[int, ...]:
    return tuple(h.shape)


def nhwc_shape(h: Handle) -> tuple[int, int, int, int]:
    """(N, H, W, C) of a 4-D tensor; a ConversionError for another rank."""
    shape = shape_of(h)
    if len(shape) != 4:
        raise ConversionError(f"needs a 4-D input, got shape {list(shape)}", False)
    return shape


def same_pads(in_sizes, kernel, strides, dilations) -> tuple[int, ...]:
    """TensorFlow SAME padding (extra pixel at the end), as begins then ends."""
    begins, ends = [], []
    for n, k, s, d in zip(in_sizes, kernel, strides, dilations):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return tuple(begins + ends)


def tf_pads(padding: str, in_sizes, kernel, strides, dilations) -> tuple[int, ...]:
    if min((*kernel, *strides, *dilations), default=1) < 1:
        raise ConversionError(f"kernel {list(kernel)}, strides {list(strides)} and dilations "
                              f"{list(dilations)} must be >= 1", False)
    if padding == "SAME":
        return same_pads(in_sizes, kernel, strides, dilations)
    if padding == "VALID":
        return (0,) * (2 * len(in_sizes))
    raise ConversionError(f"padding {padding!r} is not supported (SAME or VALID)")


def resize_attrs(method: str, out_hw, x_shape_nchw, align_corners: bool,
                 half_pixel_centers: bool) -> dict:
    """Core Resize attributes that reproduce TF's ResizeBilinear / ResizeNearestNeighbor."""
    sizes = tuple(x_shape_nchw[:2]) + tuple(int(s) for s in out_hw)
    if align_corners and half_pixel_centers:
        raise ConversionError("align_corners and half_pixel_centers together are not supported")
    if method == "bilinear":
        ctm = "align_corners" if align_corners else \
            "half_pixel" if half_pixel_centers else "asymmetric"
        return {"sizes": sizes, "mode": "linear", "coordinate_transformation_mode": ctm}
    if align_corners:  # roundf: halves away from zero
        return {"sizes": sizes, "mode": "nearest", "coordinate_transformation_mode":
                "align_corners", "nearest_mode": "round_prefer_ceil"}
    ctm = "tf_half_pixel_for_nn" if half_pixel_centers else "asymmetric"
    return {"sizes": sizes, "mode": "nearest", "coordinate_transformation_mode": ctm,
            "nearest_mode": "floor"}


def strided_slice(b: Builder, x: Handle, begin, end, strides, *, begin_mask=0, end_mask=0,
                  ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0, label: str,
                  quant=None, name=None) -> Handle:
    """TF StridedSlice with all its masks, as a core Slice followed by a Reshape."""
    shape = shape_of(x)
    begin, end, strides = (int_list(a, what) for a, what in
                           ((begin, "begin"), (end, "end"), (strides, "strides")))
    if not len(begin) == len(end) == len(strides):
        raise ConversionError(f"strided slice begin, end and strides have lengths {len(begin)}, "
                              f"{len(end)}, {len(strides)}", False)
    # expand the sparse spec (ellipsis, new axes) into one entry per input dim
    # one entry per output dim: (input axis or None for a new axis, begin, end, stride,
    # begin masked, end masked, shrink)
    dims = []
    n_real = sum(1 for i in range(len(begin)) if not (new_axis_mask >> i) & 1
                 and not (ellipsis_mask >> i) & 1)
    axis = 0
    for i in range(len(begin)):
        if (ellipsis_mask >> i) & 1:
            for _ in range(len(shape) - n_real):
                dims.append((axis, 0, 0, 1, True, True, False))
                axis += 1
        elif (new_axis_mask >> i) & 1:
            dims.append((None, 0, 0, 1, True, True, False))
        else:
            dims.append((axis, begin[i], end[i], strides[i], bool((begin_mask >> i) & 1),
                         bool((end_mask >> i) & 1), bool((shrink_axis_mask >> i) & 1)))
            axis += 1
    if axis > len(shape):
        raise ConversionError(f"strided slice spec addresses {axis} axes of an input of shape "
                              f"{list(shape)}", False)
    while axis < len(shape):
        dims.append((axis, 0, 0, 1, True, True, False))
        axis += 1
    starts, ends, axes, steps = [], [], [], []
    big = np.iinfo(np.int64).max
    for ax, bg, en, st, bm, em, shrink in dims:
        if ax is None:
            continue
        n = shape[ax]
        if st == 0:
            raise ConversionError("strided slice with stride 0")
        if shrink:
            i = bg + n if bg < 0 else bg
            if not 0 <= i < n:
                raise ConversionError(f"strided slice index {bg} out of range for size {n}")
            starts.append(i), ends.append(i + 1), axes.append(ax), steps.append(1)
            continue
        starts.append((0 if st > 0 else n - 1) if bm else bg)
        ends.append((big if st > 0 else -big) if em else en)
        axes.append(ax), steps.append(st)
    y = b.emit("Slice", [x], {"starts": tuple(starts), "ends": tuple(ends), "axes": tuple(axes),
                              "steps": tuple(steps)}, label=label, quant=quant)
    sliced = shape_of(y)
    out_shape = [1 if ax is None else sliced[ax] for ax, *_, shrink in dims if not shrink]
    if shape_of(y) != tuple(out_shape):
        y = b.emit("Reshape", [y], {"shape": tuple(out_shape)}, label=label, quant=quant,
                   name=name)
    return y


def keep_names(graph: Graph, values: Sequence[Value], names: Sequence[str]) -> None:
    """Give graph outputs their source-model names (moving any value that holds a name aside)."""
    for v, name in zip(values, names):
        if v.name == name or any(w is v for w in graph.inputs):
            continue
        if graph.has_value(name):
            graph.rename(graph.value(name), graph.unique_name(name + "_"))
        graph.rename(v, name)


def closest(name: str, candidates, n: int = 5) -> list[str]:
    """Candidate names closest to `name` (for 'did you mean' messages)."""
    cands = list(candidates)
    best = difflib.get_close_matches(name, cands, n=n, cutoff=0.0)
    return best


def did_you_mean(name: str, candidates) -> str:
    """'did you mean A or B? ' for close candidates (a misspelt or renamed op), else ''."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.8)
    return f"did you mean {' or '.join(close)}? " if close else ""


def unsupported_error(path, message) -> UnsupportedError:
    return UnsupportedError(f"{path}: {message}")


def block_operands(op: StaticOperands, x: Handle, what: str):
    """The block shape (M ints >= 1) and the M (begin, end) pads or crops of a SpaceToBatchND /
    BatchToSpaceND (inputs 1 and 2, static)."""
    block = op.ints(1, "block_shape")
    vals = op.ints(2, what)
    m = len(block)
    if m < 1 or min(block) < 1 or len(vals) != 2 * m or len(shape_of(x)) < m + 1 \
            or min(vals) < 0:
        raise ConversionError(f"block_shape {block} and {what} {vals} do not fit an input of "
                              f"shape {list(shape_of(x))}", False)
    return block, list(zip(vals[0::2], vals[1::2]))


def space_to_batch(b: Builder, x: Handle, block, pads, *, label: str,
                   quant: QuantParams | None = None, name: str | None = None) -> Handle:
    """SpaceToBatchND: pad, then move each block offset of the M spatial axes into the batch
    (offset-major): Reshape (N, H/bh, bh, W/bw, bw, C), Transpose (bh, bw, N, H/bh, W/bw, C),
    Reshape. The result carries `quant` and `name`."""
    q, m = quant_of(x), len(block)
    shape = list(shape_of(x))
    if any(p for pair in pads for p in pair):
        rest = (0,) * (len(shape) - 1 - m)
        x = b.emit("Pad", [x], {"pads": (0, *(p[0] for p in pads), *rest,
                                         0, *(p[1] for p in pads), *rest)}, label=label, quant=q)
    padded = shape_of(x)
    if any(padded[1 + i] % k for i, k in enumerate(block)):
        raise ConversionError(f"padded shape {list(padded)} is not divisible by the block "
                              f"{block}", False)
    n, rest = padded[0], list(padded[1 + m:])
    split = [n] + [v for i, k in enumerate(block) for v in (padded[1 + i] // k, k)] + rest
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)] + \
        list(range(1 + 2 * m, len(split)))
    x = b.emit("Reshape", [x], {"shape": tuple(split)}, label=label, quant=q)
    x = b.emit("Transpose", [x], {"perm": tuple(perm)}, label=label, quant=q)
    out = [n * int(np.prod(block))] + [padded[1 + i] // k for i, k in enumerate(block)] + rest
    return b.emit("Reshape", [x], {"shape": tuple(out)}, label=label, quant=quant, name=name)


def batch_to_space(b: Builder, x: Handle, block, crops, *, label: str,
                   quant: QuantParams | None = None, name: str | None = None) -> Handle:
    """BatchToSpaceND, the inverse: Reshape (bh, bw, N, H, W, C), Transpose (N, H, bh, W, bw, C),
    Reshape, then crop. The result carries `quant` and `name`."""
    q, m = quant_of(x), len(block)
    shape = list(shape_of(x))
    nb = int(np.prod(block))
    if shape[0] % nb:
        raise ConversionError(f"batch {shape[0]} is not divisible by the block {block}", False)
    n, spatial, rest = shape[0] // nb, shape[1:1 + m], shape[1 + m:]
    x = b.emit("Reshape", [x], {"shape": tuple(block + [n] + spatial + rest)}, label=label,
               quant=q)
    perm = [m] + [v for i in range(m) for v in (m + 1 + i, i)] + \
        list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    x = b.emit("Transpose", [x], {"perm": tuple(perm)}, label=label, quant=q)
    full = [s * k for s, k in zip(spatial, block)]
    if any(c0 + c1 > f for (c0, c1), f in zip(crops, full)):
        raise ConversionError(f"crops {crops} exceed the spatial size {full}", False)
    if not any(c for pair in crops for c in pair):
        return b.emit("Reshape", [x], {"shape": tuple([n] + full + rest)}, label=label,
                      quant=quant, name=name)
    x = b.emit("Reshape", [x], {"shape": tuple([n] + full + rest)}, label=label, quant=q)
    return b.emit("Slice", [x], {"starts": tuple(c[0] for c in crops),
                                 "ends": tuple(f - c[1] for f, c in zip(full, crops)),
                                 "axes": tuple(range(1, m + 1))}, label=label, quant=quant,
                  name=name)
