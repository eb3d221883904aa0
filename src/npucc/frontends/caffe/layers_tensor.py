"""Caffe layers that combine, reshape, slice, resize or reduce tensors."""

from __future__ import annotations

import math

import numpy as np

from ...ir import DType
from .importer import caffe_layer
from .layers import _FILLERS, _affine, _axis


# ---- combining / shape ----
@caffe_layer("Eltwise", param="eltwise_param", fields=("operation", "coeff"),
             ignored=("stable_prod_grad",))
def eltwise(ctx, p):
    """SUM (with coeff: a Mul per non-unit coefficient, then Adds), PROD (Muls), MAX (Maxes)."""
    ins = ctx.inputs
    if len(ins) < 2:
        raise ctx.error(f"takes at least 2 bottoms, got {len(ins)}")
    if p.operation == p.SUM:
        coeffs = list(p.coeff) or [1.0] * len(ins)
        if len(coeffs) != len(ins):
            raise ctx.error(f"{len(coeffs)} coeff values for {len(ins)} bottoms")
        terms = [x if c == 1 else ctx.op("Mul", x, ctx.const(c, "coeff"))
                 for x, c in zip(ins, coeffs)]
        op = "Add"
    else:
        if len(p.coeff):
            raise ctx.error("coeff is only valid with operation SUM")
        terms, op = ins, ("Mul" if p.operation == p.PROD else "Max")
    y = terms[0]
    for t in terms[1:]:
        y = ctx.op(op, y, t)
    return y


@caffe_layer("Concat", param="concat_param", fields=("axis", "concat_dim"))
def concat(ctx, p):
    """Concat along axis (or the deprecated concat_dim)."""
    ins = ctx.inputs
    if not ins:
        raise ctx.error("takes at least 1 bottom, got 0")
    axis = p.concat_dim if p.HasField("concat_dim") and not p.HasField("axis") else p.axis
    axis = _axis(ctx, axis, ins[0].type.rank)
    if len(ins) == 1:
        return ctx.op("Identity", ins[0])
    return ctx.op("Concat", *ins, axis=axis)


@caffe_layer("Slice", param="slice_param", fields=("axis", "slice_point", "slice_dim"))
def slice_layer(ctx, p):
    """Split at slice_point (or into equal parts, one per top)."""
    (x,) = ctx.expect_inputs(1)
    axis = p.slice_dim if p.HasField("slice_dim") and not p.HasField("axis") else p.axis
    axis = _axis(ctx, axis, x.type.rank)
    n, tops = x.shape[axis], len(ctx.layer.top)
    points = list(p.slice_point)
    if points:
        if len(points) != tops - 1:
            raise ctx.error(f"{len(points)} slice points for {tops} tops")
        bounds = [0] + points + [n]
        sizes = [b - a for a, b in zip(bounds, bounds[1:])]
        if any(s <= 0 for s in sizes):
            raise ctx.error(f"slice points {points} do not increase within the axis size {n}")
    else:
        if n % tops:
            raise ctx.error(f"axis size {n} does not split into {tops} equal parts")
        sizes = [n // tops] * tops
    outs = ctx.op("Split", x, axis=axis, split=sizes)
    return [outs] if tops == 1 else list(outs)


@caffe_layer("Flatten", param="flatten_param", fields=("axis", "end_axis"))
def flatten(ctx, p):
    """Reshape merging axes axis..end_axis."""
    (x,) = ctx.expect_inputs(1)
    rank = x.type.rank
    a, e = _axis(ctx, p.axis, rank), _axis(ctx, p.end_axis, rank)
    shape = tuple(x.shape[:a]) + (math.prod(x.shape[a:e + 1]),) + tuple(x.shape[e + 1:])
    return ctx.op("Reshape", x, shape=shape)


@caffe_layer("Reshape", param="reshape_param", fields=("shape", "axis", "num_axes"))
def reshape(ctx, p):
    """Reshape with Caffe's rules: dims [axis, axis + num_axes) are replaced by `shape`, where
    0 copies the input dim at that position and one -1 is inferred."""
    (x,) = ctx.expect_inputs(1)
    rank = x.type.rank
    start = p.axis if p.axis >= 0 else rank + 1 + p.axis
    end = rank if p.num_axes == -1 else start + p.num_axes
    if not 0 <= start <= end <= rank:
        raise ctx.error(f"axis {p.axis} / num_axes {p.num_axes} do not fit rank {rank}")
    spec = list(p.shape.dim)
    dims = []
    for i, d in enumerate(spec):
        if d == 0:
            if start + i >= rank:
                raise ctx.error(f"shape dim {i} is 0 (copy) but the input has no dim "
                                f"{start + i}")
            dims.append(x.shape[start + i])
        else:
            dims.append(d)
    shape = list(x.shape[:start]) + dims + list(x.shape[end:])
    if shape.count(-1) > 1:
        raise ctx.error(f"shape {spec} has more than one -1")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        total = math.prod(x.shape)
        if known == 0 or total % known:
            raise ctx.error(f"cannot infer the -1 in {spec} for input shape {list(x.shape)}")
        shape[shape.index(-1)] = total // known
    if math.prod(shape) != math.prod(x.shape):
        raise ctx.error(f"shape {shape} has a different size from the input {list(x.shape)}")
    return ctx.op("Reshape", x, shape=tuple(shape))


@caffe_layer("Permute", param="permute_param", fields=("order",))
def permute(ctx, p):
    """Transpose; axes missing from `order` follow in their original order (SSD's rule)."""
    (x,) = ctx.expect_inputs(1)
    rank = x.type.rank
    order = [_axis(ctx, a, rank) for a in p.order]
    if len(set(order)) != len(order):
        raise ctx.error(f"order {list(p.order)} repeats an axis")
    perm = order + [a for a in range(rank) if a not in order]
    if perm == list(range(rank)):
        return ctx.op("Identity", x)
    return ctx.op("Transpose", x, perm=tuple(perm))


@caffe_layer("Softmax", param="softmax_param", fields=("axis",), ignored=("engine",))
def softmax(ctx, p):
    """Softmax along axis (default 1, the channels)."""
    (x,) = ctx.expect_inputs(1)
    return ctx.op("Softmax", x, axis=_axis(ctx, p.axis, x.type.rank))


_SEGNET_UPSAMPLE = ("pad_out_h", "pad_out_w", "upsample_h", "upsample_w")


@caffe_layer("Upsample", param="upsample_param",
             fields=("scale", "scale_h", "scale_w") + _SEGNET_UPSAMPLE)
def upsample(ctx, p):
    """One bottom (the YOLO ports): nearest-neighbour upsampling by integer factors. Two
    (SegNet: values and a Pooling layer's max positions): max-unpooling, each value put at
    its position in a zero map of upsample_h x upsample_w (else the size times the scale, less
    1 with pad_out), as ScatterElements."""
    ins = ctx.expect_inputs(1, 2, rank=4)
    x = ins[0]
    sh = p.scale_h if p.HasField("scale_h") else p.scale
    sw = p.scale_w if p.HasField("scale_w") else p.scale
    ctx.positive(scale=(sh, sw))
    n, c, h, w = x.shape
    if len(ins) == 1:
        if any(p.HasField(f) for f in _SEGNET_UPSAMPLE):
            raise ctx.error(f"{', '.join(_SEGNET_UPSAMPLE)} are SegNet's: they need a second "
                            "bottom (the pooling mask)")
        return ctx.op("Resize", x, sizes=(n, c, h * sh, w * sw), mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    mask = ins[1]
    if tuple(mask.shape) != tuple(x.shape):
        raise ctx.error(f"the mask {list(mask.shape)} and the values {list(x.shape)} differ "
                        "in shape")
    if p.HasField("upsample_h") or p.HasField("upsample_w"):
        oh, ow = p.upsample_h, p.upsample_w
        ctx.positive(upsample_h=oh, upsample_w=ow)
    else:
        oh, ow = h * sh - p.pad_out_h, w * sw - p.pad_out_w
    zeros = ctx.op("Expand", ctx.const(np.zeros(1), "zero"), shape=(n, c, oh * ow))
    pos = ctx.op("Cast", ctx.op("Reshape", mask, shape=(n, c, h * w)), to=DType.i64)
    y = ctx.op("ScatterElements", zeros, pos, ctx.op("Reshape", x, shape=(n, c, h * w)), axis=2)
    return ctx.op("Reshape", y, shape=(n, c, oh, ow))


@caffe_layer("Interp", param="interp_param",
             fields=("height", "width", "zoom_factor", "shrink_factor", "pad_beg", "pad_end"))
def interp(ctx, p):
    """Bilinear resize with aligned corners (PSPNet/DeepLab Interp): to height x width, or
    zoomed/shrunk by integer factors."""
    (x,) = ctx.expect_inputs(1, rank=4)
    ctx.positive(zoom_factor=p.zoom_factor, shrink_factor=p.shrink_factor)
    if p.pad_beg or p.pad_end:
        raise ctx.error("pad_beg/pad_end other than 0 are not supported")
    n, c, h, w = x.shape
    if p.height and p.width:
        oh, ow = p.height, p.width
    else:
        oh, ow = h, w
        if p.shrink_factor != 1:
            oh, ow = (oh - 1) // p.shrink_factor + 1, (ow - 1) // p.shrink_factor + 1
        if p.zoom_factor != 1:
            oh, ow = oh + (oh - 1) * (p.zoom_factor - 1), ow + (ow - 1) * (p.zoom_factor - 1)
    return ctx.op("Resize", x, sizes=(n, c, oh, ow), mode="linear",
                  coordinate_transformation_mode="align_corners")


@caffe_layer("Crop", param="crop_param", fields=("axis", "offset"))
def crop(ctx, p):
    """Slice of the first bottom to the shape of the second from `axis` on, starting at
    `offset` (none: 0; one: every cropped axis; else one per cropped axis)."""
    x, ref = ctx.expect_inputs(2)
    rank = x.type.rank
    if ref.type.rank != rank:
        raise ctx.error(f"bottoms {list(x.shape)} and {list(ref.shape)} differ in rank")
    axis = _axis(ctx, p.axis, rank)
    axes = list(range(axis, rank))
    offsets = list(p.offset)
    if len(offsets) not in (0, 1, len(axes)):
        raise ctx.error(f"{len(offsets)} offsets for {len(axes)} cropped axes")
    offsets = offsets * len(axes) if len(offsets) == 1 else offsets or [0] * len(axes)
    for a, off in zip(axes, offsets):
        if off + ref.shape[a] > x.shape[a]:
            raise ctx.error(f"offset {off} + size {ref.shape[a]} exceed the size "
                            f"{x.shape[a]} of axis {a}")
    return ctx.op("Slice", x, starts=tuple(offsets),
                  ends=tuple(o + ref.shape[a] for a, o in zip(axes, offsets)), axes=tuple(axes))


@caffe_layer("Tile", param="tile_param", fields=("axis", "tiles"))
def tile(ctx, p):
    """Tile: `tiles` copies of the blob along `axis`."""
    (x,) = ctx.expect_inputs(1)
    axis = _axis(ctx, p.axis, x.type.rank)
    if not p.HasField("tiles"):
        raise ctx.error("tile_param gives no tiles")
    ctx.positive(tiles=p.tiles)
    return ctx.op("Tile", x, repeats=tuple(p.tiles if i == axis else 1
                                           for i in range(x.type.rank)))


@caffe_layer("ShuffleChannel", param="shuffle_channel_param", fields=("group",))
def shuffle_channel(ctx, p):
    """ShuffleNet's channel shuffle: Reshape to (N, group, C / group, rest), Transpose the
    two channel axes, Reshape back."""
    (x,) = ctx.expect_inputs(1, min_rank=2)
    n, c, g = x.shape[0], x.shape[1], p.group
    ctx.positive(group=g)
    if c % g:
        raise ctx.error(f"group {g} does not divide the {c} channels")
    y = ctx.op("Reshape", x, shape=(n, g, c // g, math.prod(x.shape[2:])))
    y = ctx.op("Transpose", y, perm=(0, 2, 1, 3))
    return ctx.op("Reshape", y, shape=tuple(x.shape))


@caffe_layer("Axpy", param=None)
def axpy(ctx, p):
    """SENet's Axpy (bottoms a, x, y): a * x + y, with a (N, C) or (N, C, 1, 1) scaling
    each channel of x."""
    a, x, y = ctx.expect_inputs(3)
    n_c = tuple(x.shape[:2])
    if x.type.rank < 2 or tuple(a.shape[:2]) != n_c or any(d != 1 for d in a.shape[2:]):
        raise ctx.error(f"the scale {list(a.shape)} is not (N, C[, 1, 1]) of x "
                        f"{list(x.shape)}")
    if tuple(x.shape) != tuple(y.shape):
        raise ctx.error(f"x {list(x.shape)} and y {list(y.shape)} differ in shape")
    shape = n_c + (1,) * (x.type.rank - 2)
    a = ctx.op("Reshape", a, shape=shape) if tuple(a.shape) != shape else a
    return ctx.op("Add", ctx.op("Mul", x, a), y)


_REDUCTIONS = {1: "ReduceSum", 2: "ReduceL1", 3: "ReduceSumSquare", 4: "ReduceMean"}


@caffe_layer("Reduction", param="reduction_param", fields=("operation", "axis", "coeff"))
def reduction(ctx, p):
    """SUM / ASUM / SUMSQ / MEAN over all axes from `axis` on (they are dropped; axis 0 gives
    a scalar), times coeff."""
    (x,) = ctx.expect_inputs(1)
    axis = _axis(ctx, p.axis, x.type.rank)
    y = ctx.op(_REDUCTIONS[p.operation], x, axes=tuple(range(axis, x.type.rank)),
               keepdims=False)
    return _affine(ctx, y, p.coeff, 0)


@caffe_layer("ArgMax", param="argmax_param", fields=("out_max_val", "top_k", "axis"))
def argmax(ctx, p):
    """The top_k largest values along `axis` (or over all axes after the first): their
    indices as floats, or with out_max_val their values (with an axis) or indices then values
    (without). Equal values come largest index first, as Caffe's sort of (value, index)
    pairs: TopK of the axis reversed, indices mapped back."""
    (x,) = ctx.expect_inputs(1)
    rank, k = x.type.rank, p.top_k
    has_axis = p.HasField("axis")
    if has_axis:
        axis = _axis(ctx, p.axis, rank)
    else:  # Caffe's output is (N, 1 or 2, top_k) padded to the input's rank (3 at least)
        axis, x = 1, ctx.op("Flatten", x, axis=1)
    n = x.shape[axis]
    if not 1 <= k <= n:
        raise ctx.error(f"top_k {k} is not in [1, {n}], the size of the searched axis")
    flipped = ctx.op("Slice", x, starts=(-1,), ends=(-n - 1,), axes=(axis,), steps=(-1,))
    values, rev_idx = ctx.op("TopK", flipped, k=k, axis=axis)
    idx = ctx.op("Sub", ctx.const(n - 1, "last"), ctx.op("Cast", rev_idx, to=DType.f32))
    if has_axis:
        return values if p.out_max_val else idx
    y = ctx.op("Concat", idx, values, axis=1) if p.out_max_val else idx
    pad = (1,) * (max(rank, 3) - 3)
    return ctx.op("Reshape", y, shape=(x.shape[0], 2 if p.out_max_val else 1, k) + pad)


@caffe_layer("MVN", param="mvn_param", fields=("normalize_variance", "across_channels", "eps"))
def mvn(ctx, p):
    """x - mean, then / (std + eps) if normalize_variance, over each channel's spatial
    positions (over C, H, W with across_channels); Caffe adds eps to the std."""
    (x,) = ctx.expect_inputs(1, min_rank=2)
    axes = tuple(range(1 if p.across_channels else 2, x.type.rank))
    if not axes:
        raise ctx.error(f"no axes to normalize over in a {list(x.shape)} bottom")
    y = ctx.op("Sub", x, ctx.op("ReduceMean", x, axes=axes, keepdims=True))
    if not p.normalize_variance:
        return y
    std = ctx.op("Sqrt", ctx.op("ReduceMean", ctx.op("Mul", y, y), axes=axes, keepdims=True))
    return ctx.op("Div", y, ctx.op("Add", std, ctx.const(p.eps, "eps")))


@caffe_layer("Embed", param="embed_param", fields=("num_output", "input_dim", "bias_term"),
             ignored=_FILLERS)
def embed(ctx, p):
    """Row lookup: the bottom's values (truncated to integers) index the (input_dim,
    num_output) blob; Gather, then Add the bias blob. The top has a num_output axis more."""
    (x,) = ctx.expect_inputs(1)
    ctx.positive(num_output=p.num_output, input_dim=p.input_dim)
    w = ctx.const(ctx.blob(0, (p.input_dim, p.num_output)), "weight")
    y = ctx.op("Gather", w, ctx.op("Cast", x, to=DType.i64), axis=0)
    if p.bias_term:
        y = ctx.op("Add", y, ctx.const(ctx.blob(1, (p.num_output,), "small"), "bias"))
    return y


@caffe_layer("Parameter", param="parameter_param", fields=("shape",))
def parameter(ctx, p):
    """No bottom: the layer's blob, of parameter_param.shape, as a constant."""
    if ctx.layer.bottom:
        raise ctx.error(f"takes no bottom, got {len(ctx.layer.bottom)}")
    shape = tuple(p.shape.dim)
    ctx.positive(shape=shape)
    return ctx.const(ctx.blob(0, shape), "blob")


@caffe_layer("BatchReindex", param=None)
def batch_reindex(ctx, p):
    """Gather along the batch axis by the second bottom (a 1-D blob of indices as floats)."""
    x, idx = ctx.expect_inputs(2)
    if idx.type.rank != 1:
        raise ctx.error(f"the indices {list(idx.shape)} are not 1-D")
    return ctx.op("Gather", x, ctx.op("Cast", idx, to=DType.i64), axis=0)
