"""The section mappers: one function a Darknet section type, each declaring the keys it reads."""

from __future__ import annotations

import math

import numpy as np

from ...ir import Value
from .context import _TRAINING, Context, section
from .tree import read_tree_groups


def _batch_norm(ctx: Context, y: Value, n: int, biases: np.ndarray) -> Value:
    scales = ctx.params((n,), "positive")
    mean = ctx.params((n,), "small")
    var = ctx.params((n,), "positive")
    return ctx.op("BatchNorm", y, ctx.const(scales, "scale"), ctx.const(biases, "bias"),
                  ctx.const(mean, "mean"), ctx.const(var, "var"), epsilon=1e-5)


@section("convolutional", keys=("filters", "size", "stride", "stride_x", "stride_y", "pad",
                                "padding", "groups", "batch_normalize", "activation",
                                "dilation"))
def convolutional(ctx: Context):
    """Conv (groups, dilation, pad=1 meaning size/2) + BatchNorm (darknet's biases become the
    BN bias) + activation. Weights file order: biases, [scales, mean, variance], weights."""
    x = ctx.prev
    n, k = ctx.int("filters", 1, lo=1), ctx.int("size", 1, lo=1)
    s = ctx.int("stride", 1, lo=1)
    sy, sx = ctx.int("stride_y", s, lo=1), ctx.int("stride_x", s, lo=1)
    pad = ctx.int("padding", (k // 2) if ctx.int("pad", 0) else 0, lo=0)
    groups, dil = ctx.int("groups", 1, lo=1), ctx.int("dilation", 1, lo=1)
    bn = ctx.int("batch_normalize", 0)
    c = x.shape[1]
    if c % groups or n % groups:
        raise ctx.error(f"groups={groups} does not divide {c} input channels and {n} filters")
    biases = ctx.params((n,), "small")
    if bn:
        # the BN parameters precede the weights in the file
        scales, mean, var = (ctx.params((n,), i) for i in ("positive", "small", "positive"))
    w = ctx.params((n, c // groups, k, k), "weight")
    if bn:
        y = ctx.op("Conv", x, ctx.const(w, "weight"), strides=(sy, sx), pads=(pad,) * 4,
                   dilations=(dil, dil), group=groups)
        y = ctx.op("BatchNorm", y, ctx.const(scales, "scale"), ctx.const(biases, "bias"),
                   ctx.const(mean, "mean"), ctx.const(var, "var"), epsilon=1e-5)
    else:
        y = ctx.op("Conv", x, ctx.const(w, "weight"), ctx.const(biases, "bias"),
                   strides=(sy, sx), pads=(pad,) * 4, dilations=(dil, dil), group=groups)
    return ctx.activation(y, ctx.str("activation", "logistic"))


@section("connected", keys=("output", "activation", "batch_normalize"))
def connected(ctx: Context):
    """Flatten + Gemm (+ BatchNorm) + activation, output kept as (N, output, 1, 1). File order:
    biases, weights (output x input; input x output in 'transposed' files), [BN]."""
    x = ctx.prev
    n = ctx.int("output", 1, lo=1)
    k = math.prod(x.shape[1:])
    biases = ctx.params((n,), "small")
    w = ctx.params((k, n) if ctx.imp.weights.transpose else (n, k), "weight")
    if ctx.imp.weights.transpose:
        w = w.T
    flat = ctx.op("Flatten", x, axis=1)
    bn = ctx.int("batch_normalize", 0)
    y = ctx.op("Gemm", flat, ctx.const(w, "weight"), None if bn else ctx.const(biases, "bias"),
               transB=True)
    y = ctx.op("Reshape", y, shape=(x.shape[0], n, 1, 1))
    if bn:
        y = _batch_norm(ctx, y, n, biases)
    return ctx.activation(y, ctx.str("activation", "logistic"))


@section("local", keys=("filters", "size", "stride", "pad", "activation"))
def local(ctx: Context):
    """Locally connected convolution (local_layer.c): a separate size x size x C filter bank
    (and bias) per output position. im2col by two Gathers of the padded input, one batched
    MatMul over the positions, + bias + activation. pad is darknet's raw value: the output is
    (in - (pad ? 1 : size)) / stride + 1 while im2col pads by `pad` pixels; cfgs where the two
    disagree (darknet then reads its buffer out of step) are refused. File order: biases
    (filters x out_h x out_w), then per position a filters x (C x size x size) matrix."""
    x = ctx.image()
    f, k = ctx.int("filters", 1, lo=1), ctx.int("size", 1, lo=1)
    s, pad = ctx.int("stride", 1, lo=1), ctx.int("pad", 0, lo=0)
    n, c, h, w = x.shape
    oh, ow = ((d - (1 if pad else k)) // s + 1 for d in (h, w))
    if oh < 1 or ow < 1:
        raise ctx.error(f"size={k} is larger than the {h}x{w} input")
    if ((h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1) != (oh, ow):
        raise ctx.error(f"pad={pad} with size={k}, stride={s} on a {h}x{w} input: darknet's "
                        f"output is {oh}x{ow} but its im2col pads to a different size")
    kk, loc = c * k * k, oh * ow
    biases = ctx.params((f, oh, ow), "small")
    weights = ctx.params((loc * f, kk), "weight").reshape(loc, f, kk)
    ctx.check_size((n, c, k, oh, w + 2 * pad), "the im2col rows")
    ctx.check_size((n, c, k, oh, k, ow), "the im2col buffer")
    if pad:
        x = ctx.op("Pad", x, pads=(0, 0, pad, pad, 0, 0, pad, pad))
    # patch rows ky + s * oy, then columns kx + s * ox: (N, C, ky, oy, kx, ox)
    rows = ctx.op("Gather", x, ctx.const(np.arange(k)[:, None] + s * np.arange(oh), "rows",
                                         np.int64), axis=2)
    cols = ctx.op("Gather", rows, ctx.const(np.arange(k)[:, None] + s * np.arange(ow), "cols",
                                            np.int64), axis=4)
    # per position (oy, ox) a (C * ky * kx, N) matrix, darknet's im2col row order
    cols = ctx.op("Reshape", ctx.op("Transpose", cols, perm=(3, 5, 1, 2, 4, 0)),
                  shape=(loc, kk, n))
    y = ctx.op("MatMul", ctx.const(weights, "weight"), cols)  # (positions, filters, N)
    y = ctx.op("Reshape", ctx.op("Transpose", y, perm=(2, 1, 0)), shape=(n, f, oh, ow))
    y = ctx.op("Add", y, ctx.const(biases[None], "bias"))
    return ctx.activation(y, ctx.str("activation", "logistic"))


@section("maxpool", keys=("size", "stride", "stride_x", "stride_y", "padding"))
def maxpool(ctx: Context):
    """MaxPool; out = (in + padding - size) / stride + 1 with padding (default size - 1) split
    padding/2 before, the rest after (so size=2 stride=1 keeps the size)."""
    x = ctx.prev
    size = ctx.int("size", 1, lo=1)
    s = ctx.int("stride", 1, lo=1)
    sy, sx = ctx.int("stride_y", s, lo=1), ctx.int("stride_x", s, lo=1)
    p = ctx.int("padding", size - 1, lo=0)
    b, e = p // 2, p - p // 2
    return ctx.op("MaxPool", x, kernel_shape=(size, size), strides=(sy, sx), pads=(b, b, e, e))


@section("avgpool")
def avgpool(ctx: Context):
    """GlobalAveragePool."""
    return ctx.op("GlobalAveragePool", ctx.prev)


@section("route", keys=("layers", "groups", "group_id"))
def route(ctx: Context):
    """Concat of the listed layers along channels; with groups/group_id each input contributes
    its group_id-th of `groups` channel slices."""
    groups, gid = ctx.int("groups", 1, lo=1), ctx.int("group_id", 0, lo=0)
    if gid >= groups:
        raise ctx.error(f"group_id={gid} is not below groups={groups}")
    parts = []
    for ref in ctx.ints("layers"):
        v = ctx.layer(ref)
        if groups > 1:
            c = v.shape[1]
            if c % groups:
                raise ctx.error(f"groups={groups} does not divide {c} channels of layer {ref}")
            part = c // groups
            v = ctx.op("Slice", v, starts=(gid * part,), ends=((gid + 1) * part,), axes=(1,))
        parts.append(v)
    if len(parts) == 1:
        return parts[0] if groups > 1 else ctx.op("Identity", parts[0])
    return ctx.op("Concat", *parts, axis=1)


@section("shortcut", keys=("from", "activation"))
def shortcut(ctx: Context):
    """Add layer `from` to the previous layer, then the activation. Like darknet's shortcut_cpu,
    a larger `from` is sampled every (its width / ours)-th cell and only the common channels
    are added (the ResNet cfgs' projection-free downsampling)."""
    out, add = ctx.prev, ctx.layer(ctx.int("from"))
    if out.shape != add.shape:
        out, add = ctx.image(out), ctx.image(add)
        (_, c2, h2, w2), (_, c1, h1, w1) = out.shape, add.shape
        stride = max(w1 // w2, 1)
        if w2 > w1 or h1 // h2 != stride or w1 != w2 * stride:
            raise ctx.error(f"adds {list(add.shape)} to {list(out.shape)}; only equal shapes or "
                            "a larger `from` layer with an integer stride are supported")
        c = min(c1, c2)
        add = ctx.op("Slice", add, starts=(0, 0, 0), ends=(c, h2 * stride, w2 * stride),
                     axes=(1, 2, 3), steps=(1, stride, stride))
        if c < c2:
            add = ctx.op("Pad", add, pads=(0, 0, 0, 0, 0, c2 - c, 0, 0))
    return ctx.activation(ctx.op("Add", out, add), ctx.str("activation", "linear"))


@section("upsample", keys=("stride", "scale"))
def upsample(ctx: Context):
    """Nearest-neighbour Resize by `stride` (times `scale` if not 1)."""
    x = ctx.image()
    s = ctx.int("stride", 2)
    if s < 1:
        raise ctx.error(f"stride={s} (downsampling) is not supported")
    n, c, h, w = x.shape
    y = ctx.op("Resize", x, sizes=(n, c, h * s, w * s), mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    scale = ctx.float("scale", 1.0)
    return y if scale == 1 else ctx.op("Mul", y, ctx.const(scale, "scale"))


@section("reorg", keys=("stride", "extra"))
def reorg(ctx: Context):
    """Darknet's reorg (as its C code does it, a quirky space-to-depth): the input buffer read as
    (C/s^2, H*s, W*s) is rearranged by Reshape, Transpose, Reshape into (C*s^2, H/s, W/s).
    With extra=k (go.cfg) it is instead the flat input followed by k zeros, (N, C*H*W + k):
    darknet copies the input and never writes the k extra values."""
    x = ctx.prev
    s = ctx.int("stride", 2, lo=1)
    extra = ctx.int("extra", 0, lo=0)
    if extra:
        n = x.shape[0]
        ctx.check_size((n, math.prod(x.shape[1:]) + extra), "the output")
        return ctx.op("Concat", ctx.op("Flatten", x, axis=1),
                      ctx.const(np.zeros((n, extra)), "extra"), axis=1)
    n, c, h, w = ctx.image().shape
    if c % (s * s) or h % s or w % s:
        raise ctx.error(f"stride {s} does not divide the input {list(x.shape)}")
    oc = c // (s * s)
    y = ctx.op("Reshape", x, shape=(n, oc, h, s, w, s))
    y = ctx.op("Transpose", y, perm=(0, 3, 5, 1, 2, 4))
    return ctx.op("Reshape", y, shape=(n, c * s * s, h // s, w // s))


@section("crop", keys=("crop_height", "crop_width", "noadjust"),
         ignored=("flip", "angle", "saturation", "exposure", "shift"))
def crop(ctx: Context):
    """Darknet's crop layer at inference (crop_layer.c, not training): the centred
    crop_height x crop_width window (no flip, no random offset), mapped to x * 2 - 1 unless
    noadjust=1. The training-time augmentations (flip, angle, saturation...) are ignored."""
    x = ctx.image()
    _, _, h, w = x.shape
    oh, ow = ctx.int("crop_height", 1, lo=1), ctx.int("crop_width", 1, lo=1)
    if oh > h or ow > w:
        raise ctx.error(f"crop {oh}x{ow} is larger than the {h}x{w} input")
    dh, dw = (h - oh) // 2, (w - ow) // 2
    y = ctx.op("Slice", x, starts=(dh, dw), ends=(dh + oh, dw + ow), axes=(2, 3))
    if ctx.int("noadjust", 0):
        return y
    return ctx.op("Add", ctx.op("Mul", y, ctx.const(2.0, "scale")), ctx.const(-1.0, "shift"))


@section("detection", keys=("classes", "coords", "num", "side", "softmax"),
         ignored=_TRAINING + ("sqrt", "forced", "reorg"))
def detection(ctx: Context):
    """YOLOv1's detection layer at inference (detection_layer.c): its flat input passed through,
    the first side*side*classes values (class scores, per cell) soft-maxed cell by cell when
    softmax=1. The boxes are decoded by the caller, as darknet's get_detection_boxes does."""
    x = ctx.prev
    side, classes = ctx.int("side", 7, lo=1), ctx.int("classes", 1, lo=1)
    num, coords = ctx.int("num", 1, lo=1), ctx.int("coords", 1, lo=1)
    n = x.shape[0]
    size = math.prod(x.shape[1:])
    cells = side * side
    if size != cells * ((1 + coords) * num + classes):
        raise ctx.error(f"the input holds {size} values per image, side={side}, classes={classes}, "
                        f"num={num}, coords={coords} need {cells * ((1 + coords) * num + classes)}")
    flat = ctx.op("Reshape", x, shape=(n, size))
    if not ctx.int("softmax", 0):
        return flat
    k = cells * classes
    probs = ctx.op("Slice", flat, starts=(0,), ends=(k,), axes=(1,))
    rest = ctx.op("Slice", flat, starts=(k,), ends=(size,), axes=(1,))
    probs = ctx.op("Reshape", ctx.op("Softmax", ctx.op("Reshape", probs,
                                                       shape=(n, cells, classes)), axis=2),
                   shape=(n, k))
    return ctx.op("Concat", probs, rest, axis=1)


@section("dropout", ignored=("probability",))
def dropout(ctx: Context):
    """Identity at inference."""
    return ctx.prev


@section("softmax", keys=("groups", "temperature", "tree"), ignored=("noloss",))
def softmax(ctx: Context):
    """Softmax of x / temperature over each image's C*H*W values flattened: over all of them,
    over each of `groups` equal consecutive parts, or with tree= (a darknet tree file such as
    data/9k.tree, see 'Tree files' above) within each group of sibling classes, darknet's
    softmax_tree. Output (N, C*H*W)."""
    x = ctx.op("Flatten", ctx.prev, axis=1)
    n, size = x.shape
    t = ctx.float("temperature", 1.0)
    if t <= 0:
        raise ctx.error(f"temperature={t} must be above 0")
    if t != 1:
        x = ctx.op("Mul", x, ctx.const(1 / t, "temperature"))
    if "tree" in ctx.sec.options:
        sizes = read_tree_groups(ctx.path("tree"), ctx.error)
        if sum(sizes) != size:
            raise ctx.error(f"the tree file {ctx.path('tree')} has {sum(sizes)} classes, the "
                            f"input {size} values")
        return _grouped_softmax(ctx, x, sizes)
    groups = ctx.int("groups", 1, lo=1)
    if size % groups:
        raise ctx.error(f"groups={groups} does not divide the {size} input values")
    return _grouped_softmax(ctx, x, [size // groups] * groups)


def _grouped_softmax(ctx: Context, x: Value, sizes: list[int]) -> Value:
    """Softmax of (N, K) `x` within consecutive groups of `sizes`: one Softmax per distinct group
    size over the Gathered (N, groups of that size, size) values, then one Gather back into the
    original order (a tree has ~2000 groups but few distinct sizes)."""
    n, k = x.shape
    if len(sizes) == 1:
        return ctx.op("Softmax", x, axis=1)
    if len(set(sizes)) == 1:
        g = len(sizes)
        y = ctx.op("Softmax", ctx.op("Reshape", x, shape=(n, g, k // g)), axis=2)
        return ctx.op("Reshape", y, shape=(n, k))
    starts = np.cumsum([0] + sizes[:-1])
    parts, order = [], []
    for size in sorted(set(sizes)):
        idx = np.array([st + np.arange(size) for st, sz in zip(starts, sizes) if sz == size])
        part = ctx.op("Softmax", ctx.op("Gather", x, ctx.const(idx, "group", np.int64), axis=1),
                      axis=2)
        parts.append(ctx.op("Reshape", part, shape=(n, idx.size)))
        order.append(idx.ravel())
    y = ctx.op("Concat", *parts, axis=1)
    back = np.argsort(np.concatenate(order))  # where each input value went
    return ctx.op("Gather", y, ctx.const(back, "order", np.int64), axis=1)


@section("cost", ignored=("type", "scale", "ratio", "noobject_scale", "thresh"))
def cost(ctx: Context):
    """Training loss: passes its input through."""
    return ctx.prev


def _head_anchors(ctx, total_default=None):
    anchors = ctx.floats("anchors", [])
    if len(anchors) % 2:
        raise ctx.error(f"anchors has an odd number of values ({len(anchors)})")
    return [(anchors[2 * i], anchors[2 * i + 1]) for i in range(len(anchors) // 2)]


@section("yolo", keys=("mask", "anchors", "classes", "num", "scale_x_y"), ignored=_TRAINING)
def yolo(ctx: Context):
    """YOLOv3/v4 head: the raw conv output stays available; YoloDecode gives the boxes
    (anchors chosen by mask, scale_x_y)."""
    x = ctx.prev
    if ctx.sec.options.get("new_coords", "0") != "0":
        raise ctx.error("new_coords=1 (scaled-YOLOv4 decoding) is not supported")
    pairs = _head_anchors(ctx)
    mask = ctx.ints("mask", list(range(len(pairs))))
    if any(not 0 <= m < len(pairs) for m in mask):
        raise ctx.error(f"mask {mask} indexes outside the {len(pairs)} anchors")
    anchors = [v for m in mask for v in pairs[m]]
    boxes = ctx.op("YoloDecode", x, anchors=anchors, num_classes=ctx.int("classes", 20, lo=0),
                   img_w=ctx.imp.input.shape[3], img_h=ctx.imp.input.shape[2],
                   scale_x_y=ctx.float("scale_x_y", 1.0))
    ctx.imp.heads.append((ctx.index, x, boxes))
    return x


@section("region", keys=("anchors", "classes", "num", "coords", "softmax", "tree"),
         ignored=_TRAINING + ("sqrt", "map"))
def region(ctx: Context):
    """YOLOv2 head: the raw conv output stays available; RegionDecode gives the boxes (anchors
    in grid cells, softmax class probabilities; with tree= (yolo9000.cfg) a softmax within each
    group of sibling classes of the tree file, as darknet's GPU code does it). map= only changes
    which classes darknet prints as detections: ignored."""
    x = ctx.prev
    if ctx.int("coords", 4) != 4 or not ctx.int("softmax", 1):
        raise ctx.error("only coords=4 with softmax=1 is supported")
    pairs = _head_anchors(ctx)
    num = ctx.int("num", len(pairs), lo=0)
    if num != len(pairs):
        raise ctx.error(f"num={num} but {len(pairs)} anchors")
    classes = ctx.int("classes", 20, lo=0)
    groups = []
    if "tree" in ctx.sec.options:
        groups = read_tree_groups(ctx.path("tree"), ctx.error)
        if sum(groups) != classes:
            raise ctx.error(f"the tree file {ctx.path('tree')} has {sum(groups)} classes, "
                            f"classes={classes}")
    boxes = ctx.op("RegionDecode", x, anchors=[v for p in pairs for v in p],
                   num_classes=classes, class_groups=groups)
    ctx.imp.heads.append((ctx.index, x, boxes))
    return x
