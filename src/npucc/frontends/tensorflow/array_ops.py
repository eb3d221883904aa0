"""Converters of TensorFlow ops that split, gather, reverse, broadcast and multiply tensors (the
ops of TF's array_ops, plus BatchMatMul, Einsum and TopKV2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir.types import DType
from ..tf_common import (
    ConversionError,
    axis_index,
    batch_to_space,
    block_operands,
    shape_of,
    space_to_batch,
)

if TYPE_CHECKING:
    from .importer import _Node


def _split(n: _Node, x, axis: int, sizes) -> list:
    names = [n.name if k == 0 else f"{n.name}:{k}" for k in range(len(sizes))]
    return n.imp.b.emit_all("Split", [x], {"axis": axis, "split": tuple(sizes)}, label=n.name,
                            names=names)


def split(n: _Node):
    """Split(split_dim, value) into num_split equal parts."""
    x = n.input(1)
    shape = shape_of(x)
    axis = axis_index(n.ints(0, "split_dim", 1)[0], len(shape))
    k = n.number("num_split")
    if k < 1 or shape[axis] % k:
        raise ConversionError(f"num_split {k} does not divide dimension {axis} of size "
                              f"{shape[axis]}", False)
    return _split(n, x, axis, [shape[axis] // k] * k)


def split_v(n: _Node):
    """SplitV(value, size_splits, axis); one size may be -1 (the rest)."""
    x = n.input(0)
    shape = shape_of(x)
    axis = axis_index(n.ints(2, "axis", 1)[0], len(shape))
    sizes = n.ints(1, "size_splits")
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        raise ConversionError(f"size_splits {sizes} is invalid", False)
    if -1 in sizes:
        sizes[sizes.index(-1)] = shape[axis] - (sum(sizes) + 1)
    if sum(sizes) != shape[axis] or any(s < 0 for s in sizes):
        raise ConversionError(f"size_splits {sizes} do not add up to dimension {axis} of size "
                              f"{shape[axis]}", False)
    return _split(n, x, axis, sizes)


def unpack(n: _Node):
    """Unpack (tf.unstack): num slices along axis, the axis removed."""
    x = n.input(0)
    shape = shape_of(x)
    axis = axis_index(n.number("axis", int, 0), len(shape))
    parts = _split(n, x, axis, [1] * shape[axis])
    return [n.imp.b.emit("Squeeze", [p], {"axes": (axis,)}, label=n.name,
                         name=n.name if k == 0 else f"{n.name}:{k}") for k, p in enumerate(parts)]


def batch_matmul(n: _Node):
    """BatchMatMul(V2, V3): numpy matmul with optional adjoints (a transpose for real tensors)."""
    xs = []
    for i, key in ((0, "adj_x"), (1, "adj_y")):
        x = n.input(i)
        rank = len(shape_of(x))
        if rank < 2:
            raise ConversionError(f"input {i} must have rank >= 2, got {rank}", False)
        if n.attr(key, False):
            perm = tuple(range(rank - 2)) + (rank - 1, rank - 2)
            x = n.imp.b.emit("Transpose", [x], {"perm": perm}, label=n.name)
        xs.append(x)
    return n.emit("MatMul", xs)


def gather(n: _Node):
    """GatherV2(params, indices, axis); Gather (v1) on axis 0. With batch_dims b (tf.gather of
    per-image indices, e.g. the boxes of a top-k), on axis b: GatherND with batch_dims b of the
    indices with a last axis of 1."""
    x, idx = n.input(0), n.input(1)
    axis = axis_index(n.ints(2, "axis", 1)[0] if n.op == "GatherV2" else 0, len(shape_of(x)))
    b = n.number("batch_dims", int, 0)
    if b < 0:
        b += len(shape_of(idx))
    if b == 0:
        return n.emit("Gather", [x, idx], {"axis": axis})
    if axis != b:
        raise ConversionError(f"GatherV2 with batch_dims {b} on axis {axis} is not supported "
                              "(only on the axis after the batch axes)")
    idx = n.imp.b.emit("Unsqueeze", [idx], {"axes": (len(shape_of(idx)),)}, label=n.name)
    return n.emit("GatherND", [x, idx], {"batch_dims": b})


def gather_nd(n: _Node):
    return n.emit("GatherND", [n.input(0), n.input(1)])


def reverse(n: _Node):
    """ReverseV2(tensor, axis): a Slice with step -1 on each axis."""
    x = n.input(0)
    rank = len(shape_of(x))
    axes = sorted({axis_index(a, rank) for a in n.ints(1, "axis")})
    if not axes:
        return x
    big = np.iinfo(np.int64).max
    return n.emit("Slice", [x], {"starts": (-1,) * len(axes), "ends": (-big,) * len(axes),
                                 "axes": tuple(axes), "steps": (-1,) * len(axes)})


def fill_like(value: float):
    """ZerosLike / OnesLike: a constant of the input's (static) shape and type."""
    def convert(n: _Node):
        x = n.input(0)
        dtype = x.dtype if isinstance(x, np.ndarray) else x.dtype.numpy
        return np.full(shape_of(x), value, dtype=dtype)
    return convert


def broadcast_to(n: _Node):
    x = n.input(0)
    target = tuple(n.ints(1, "shape"))
    try:
        if any(d < 0 for d in target):
            raise ValueError("negative dimensions")
        shape = tuple(np.broadcast_shapes(shape_of(x), target))
    except ValueError as e:
        raise ConversionError(f"cannot broadcast shape {list(shape_of(x))} to {list(target)}: "
                              f"{e}", False) from None
    return n.emit("Expand", [x], {"shape": shape})


def identity_n(n: _Node):
    return [n.input(i) for i in range(len(n.data_inputs))]


def einsum(n: _Node):
    return n.emit("Einsum", [n.input(i) for i in range(len(n.data_inputs))],
                  {"equation": str(n.attr("equation"))})


def top_k(n: _Node):
    """TopKV2(input, k): the k largest along the last axis, sorted; int32 indices."""
    x = n.input(0)
    k = n.ints(1, "k", 1)[0]
    last = shape_of(x)[-1] if shape_of(x) else 0
    if not 0 <= k <= last:
        raise ConversionError(f"k {k} is out of range for a last dimension of {last}", False)
    values, idx = n.imp.b.emit_all("TopK", [x], {"k": k, "axis": -1}, label=n.name,
                                   names=[n.name, None])
    return [values, n.emit("Cast", [idx], {"to": DType.from_numpy(np.int32)},
                           name=f"{n.name}:1")]


def _atrous_triple(n: _Node, block, pads):
    """(conv node, BatchToSpaceND node, conv pads) when SpaceToBatchND `n` opens TF1's atrous
    convolution: its sole reader a VALID, stride-1, undilated NHWC Conv2D / depthwise conv, whose
    sole reader is a BatchToSpaceND with the same 2-D block and crops within the paddings (the
    dilated conv's pads are paddings - crops); else None."""
    readers = n.imp.readers(n.name)
    conv = readers[0] if len(readers) == 1 else None
    if conv is None or conv.op not in ("Conv2D", "DepthwiseConv2dNative") or len(block) != 2 \
            or not conv.input or conv.input[0] not in (n.name, f"{n.name}:0"):
        return None
    after = n.imp.readers(conv.name)
    b2s = after[0] if len(after) == 1 and after[0].op == "BatchToSpaceND" else None
    if b2s is None:
        return None
    from .importer import _Node as Node

    try:
        c, b2s_node = Node(n.imp, conv), Node(n.imp, b2s)
        if (c.attr("padding", None), c.attr("strides", None), c.attr("dilations", [1] * 4),
                c.attr("data_format", "NHWC")) != ("VALID", [1] * 4, [1] * 4, "NHWC") \
                or b2s_node.ints(1, "block_shape") != block:
            return None
        _, crops = block_operands(b2s_node, n.input(0), "crops")
    except ConversionError:
        return None
    conv_pads = [p - c for pair_p, pair_c in zip(pads, crops) for p, c in zip(pair_p, pair_c)]
    if min(conv_pads) < 0:
        return None
    (t, b_), (lft, r) = conv_pads[:2], conv_pads[2:]
    return conv, b2s, (t, lft, b_, r)


def space_to_batch_nd(n: _Node):
    """SpaceToBatchND: folded into the convolution when it opens TF1's atrous convolution
    (SpaceToBatchND -> Conv2D VALID -> BatchToSpaceND: one Conv with dilations = the block);
    else imported as the data movement it is."""
    x = n.input(0)
    block, pads = block_operands(n, x, "paddings")
    triple = _atrous_triple(n, block, pads)
    if triple is not None:
        conv, b2s, conv_pads = triple
        n.imp.atrous[conv.name] = (tuple(block), conv_pads)
        n.imp.atrous[b2s.name] = None  # passes the conv's result through
        return x
    return space_to_batch(n.imp.b, x, block, pads, label=n.name, name=n.name)


def batch_to_space_nd(n: _Node):
    x = n.input(0)
    if n.name in n.imp.atrous:  # the dilated conv's result, already in space
        return x
    block, crops = block_operands(n, x, "crops")
    return batch_to_space(n.imp.b, x, block, crops, label=n.name, name=n.name)


CONVERTERS = {
    "Split": split, "SplitV": split_v, "Unpack": unpack,
    "BatchMatMul": batch_matmul, "BatchMatMulV2": batch_matmul, "BatchMatMulV3": batch_matmul,
    "GatherV2": gather, "Gather": gather, "GatherNd": gather_nd, "ReverseV2": reverse,
    "ZerosLike": fill_like(0), "OnesLike": fill_like(1), "BroadcastTo": broadcast_to,
    "IdentityN": identity_n, "Einsum": einsum, "TopKV2": top_k,
    "SpaceToBatchND": space_to_batch_nd, "BatchToSpaceND": batch_to_space_nd,
}
