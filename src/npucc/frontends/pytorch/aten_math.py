"""ATen converters of arithmetic, activations, convolution, normalization, pooling, matrix
products, softmax and resizing."""

from __future__ import annotations

import math

import numpy as np

from ...ir import Value
from ...ir.types import DType
from .context import ATEN, _Invalid, _np_dtype, _Unsupported, aten


def _unary(core_op, **attrs):
    return lambda cx, x, *rest, **kw: cx.emit(core_op, [x], **attrs)


for _aten, _core in [("relu", "Relu"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"),
                     ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"), ("neg", "Neg"),
                     ("abs", "Abs"), ("erf", "Erf"), ("reciprocal", "Reciprocal"),
                     ("floor", "Floor"), ("ceil", "Ceil"), ("round", "Round"), ("sin", "Sin"),
                     ("cos", "Cos"), ("hardswish", "HardSwish"), ("mish", "Mish"),
                     ("sign", "Sign"), ("logical_not", "Not"), ("tan", "Tan"),
                     ("asin", "Asin"), ("acos", "Acos"), ("atan", "Atan"), ("sinh", "Sinh"),
                     ("cosh", "Cosh"), ("asinh", "Asinh"), ("acosh", "Acosh"),
                     ("atanh", "Atanh")]:
    ATEN[f"aten.{_aten}.default"] = _unary(_core)
ATEN["aten.hardsigmoid.default"] = _unary("HardSigmoid", alpha=1 / 6, beta=0.5)


@aten("aten.log1p.default")
def _log1p(cx, x):
    """log(1 + x) without losing small x: with u = 1 + x rounded, log(u) * x / (u - 1), and x
    where u == 1 (Goldberg's correction); log(u) itself above 1, where nothing cancels."""
    one = np.ones((), cx.np_dtype(x))
    u = cx.emit("Add", [x, one])
    log_u = cx.emit("Log", [u])
    d = cx.emit("Sub", [u, one])
    exact = cx.emit("Equal", [d, np.zeros((), cx.np_dtype(x))])
    small = cx.emit("Where", [exact, x, cx.emit("Mul", [log_u, cx.emit(
        "Div", [x, cx.emit("Where", [exact, one, d])])])])
    return cx.emit("Where", [cx.emit("Greater", [x, one]), log_u, small])


@aten("aten.expm1.default")
def _expm1(cx, x):
    """exp(x) - 1 without losing small x: with u = exp(x), (u - 1) * x / log(u), and x where
    u == 1 (Kahan's correction); u - 1 itself for |x| > 1, where nothing cancels."""
    one = np.ones((), cx.np_dtype(x))
    u = cx.emit("Exp", [x])
    d = cx.emit("Sub", [u, one])
    tiny = cx.emit("Equal", [u, one])
    log_u = cx.emit("Where", [tiny, one, cx.emit("Log", [u])])
    small = cx.emit("Where", [tiny, x, cx.emit("Div", [cx.emit("Mul", [d, x]), log_u])])
    return cx.emit("Where", [cx.emit("Greater", [cx.emit("Abs", [x]), one]), d, small])


@aten("aten.log2.default", "aten.exp2.default")
def _log2_exp2(cx, x):
    ln2 = np.asarray(np.log(2.0), cx.np_dtype(x))
    if cx.lowering.current_target == "aten.log2.default":
        return cx.emit("Div", [cx.emit("Log", [x]), ln2])
    return cx.emit("Exp", [cx.emit("Mul", [x, ln2])])


@aten("aten.isnan.default", "aten.isinf.default")
def _isnan_isinf(cx, x):
    core_op = "IsNaN" if cx.lowering.current_target == "aten.isnan.default" else "IsInf"
    if not np.issubdtype(cx.np_dtype(x), np.floating):
        return cx.emit("Cast", [cx.emit("Mul", [x, np.zeros((), cx.np_dtype(x))])],
                       to=DType.bool)  # an integer is neither
    return cx.emit(core_op, [x])


@aten("aten.bitwise_and.Tensor", "aten.bitwise_or.Tensor", "aten.bitwise_xor.Tensor",
      "aten.bitwise_not.default")
def _bitwise(cx, a, b=None):
    """On bool tensors (masks), the logical ops; bitwise_not on integers too."""
    name = cx.lowering.current_target.split(".")[1]
    if name == "bitwise_not":
        return cx.emit("Not" if cx.np_dtype(a) == np.bool_ else "BitwiseNot", [a])
    if cx.np_dtype(a) != np.bool_ or cx.np_dtype(b) != np.bool_:
        raise _Unsupported(f"{name} on {cx.np_dtype(a)} / {cx.np_dtype(b)} tensors (npucc "
                           "takes bool masks)")
    return cx.emit({"bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor"}[name], [a, b])


@aten("aten.rsqrt.default")
def _rsqrt(cx, x):
    return cx.emit("Reciprocal", [cx.emit("Sqrt", [x])])


@aten("aten.silu.default")
def _silu(cx, x):
    return cx.emit("Mul", [x, cx.emit("Sigmoid", [x])])


@aten("aten.gelu.default")
def _gelu(cx, x, approximate="none"):
    return cx.emit("Gelu", [x], approximate=approximate)


@aten("aten.leaky_relu.default")
def _leaky_relu(cx, x, negative_slope=0.01):
    return cx.emit("LeakyRelu", [x], alpha=negative_slope)


@aten("aten.elu.default")
def _elu(cx, x, alpha=1.0, scale=1.0, input_scale=1.0):
    if scale != 1 or input_scale != 1:
        raise _Unsupported(f"elu with scale={scale}, input_scale={input_scale}")
    return cx.emit("Elu", [x], alpha=alpha)


@aten("aten.hardtanh.default", "aten.clamp.default")
def _clamp(cx, x, min=None, max=None):  # noqa: A002 - torch's argument names
    if isinstance(min, (Value, np.ndarray)) or isinstance(max, (Value, np.ndarray)):
        raise _Unsupported("clamp with tensor bounds")
    if cx.lowering.current_target.startswith("aten.hardtanh"):
        min = -1.0 if min is None else min
        max = 1.0 if max is None else max
    dtype = cx.np_dtype(x)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        min = info.min if min is None else min
        max = info.max if max is None else max
    return cx.emit("Clip", [x], min=float("-inf") if min is None else float(min),
                   max=float("inf") if max is None else float(max))


@aten("aten.clamp.Tensor")
def _clamp_tensor(cx, x, min=None, max=None):  # noqa: A002 - torch's argument names
    """Bounds that are tensors: max(x, min), then min(., max) (so max wins where min > max)."""
    if min is not None:
        x = cx.emit("Max", list(cx.promoted(x, min)))
    if max is not None:
        x = cx.emit("Min", list(cx.promoted(x, max)))
    return x


@aten("aten.clamp_min.default")
def _clamp_min(cx, x, min):  # noqa: A002
    return _clamp(cx, x, min=min)


@aten("aten.clamp_max.default")
def _clamp_max(cx, x, max):  # noqa: A002
    return _clamp(cx, x, max=max)


def _binary(core_op):
    def convert(cx, a, b, alpha=1, **kw):
        a, b = cx.promoted(a, b)
        if core_op == "Div" and not np.issubdtype(cx.np_dtype(a), np.floating):
            a, b = cx.cast(a, np.float32), cx.cast(b, np.float32)  # true division, as torch
        if alpha != 1:
            b = cx.emit("Mul", [b, cx.like(alpha, b)])
        return cx.emit(core_op, [a, b])
    return convert


for _aten, _core in [("add", "Add"), ("sub", "Sub"), ("mul", "Mul"), ("div", "Div"),
                     ("maximum", "Max"), ("minimum", "Min"), ("eq", "Equal"), ("gt", "Greater"),
                     ("lt", "Less"), ("ge", "GreaterOrEqual"), ("le", "LessOrEqual"),
                     ("pow", "Pow"), ("logical_and", "And"), ("logical_or", "Or")]:
    for _overload in ("Tensor", "Scalar", "default", "Tensor_Scalar", "Tensor_Tensor"):
        ATEN[f"aten.{_aten}.{_overload}"] = _binary(_core)


@aten("aten.ne.Tensor", "aten.ne.Scalar")
def _ne(cx, a, b):
    return cx.emit("Not", [_binary("Equal")(cx, a, b)])


@aten("aten.div.Tensor_mode", "aten.div.Scalar_mode")
def _div_mode(cx, a, b, rounding_mode=None):
    """torch.div with rounding. 'floor' is (a - a mod b) / b with Python's mod: exact for
    integers, and for floats a whole number up to rounding, which Round removes (as torch does).
    'trunc' rounds the quotient toward zero (integer Div already does)."""
    if rounding_mode is None:
        return _binary("Div")(cx, a, b)
    a, b = cx.promoted(a, b)
    dtype = cx.np_dtype(a)
    integer = np.issubdtype(dtype, np.integer)
    if rounding_mode == "floor":
        q = cx.emit("Div", [cx.emit("Sub", [a, cx.emit("Mod", [a, b])]), b])
        return q if integer else cx.emit("Round", [q])
    if rounding_mode == "trunc":
        q = cx.emit("Div", [a, b])
        if integer:
            return q
        negative = cx.emit("Less", [q, np.zeros((), dtype)])
        return cx.emit("Where", [negative, cx.emit("Ceil", [q]), cx.emit("Floor", [q])])
    raise _Invalid(f"div with rounding_mode={rounding_mode!r}")


@aten("aten.remainder.Tensor", "aten.remainder.Scalar", "aten.fmod.Tensor", "aten.fmod.Scalar")
def _remainder(cx, a, b):
    """remainder: the sign of b (Python's %); fmod: the sign of a (C's fmod)."""
    return cx.emit("Mod", list(cx.promoted(a, b)),
                   fmod=cx.lowering.current_target.startswith("aten.fmod"))


@aten("aten.trunc.default", "aten.frac.default")
def _trunc(cx, x):
    """Rounding toward zero; frac is x minus it."""
    zero = np.zeros((), cx.np_dtype(x))
    if not np.issubdtype(cx.np_dtype(x), np.floating):
        return x if cx.lowering.current_target == "aten.trunc.default" else \
            cx.emit("Mul", [x, zero])
    t = cx.emit("Where", [cx.emit("Less", [x, zero]), cx.emit("Ceil", [x]),
                          cx.emit("Floor", [x])])
    return t if cx.lowering.current_target == "aten.trunc.default" else cx.emit("Sub", [x, t])


@aten("aten.atan2.default")
def _atan2(cx, y, x):
    """The angle of (x, y): atan(y / x), moved by +-pi when x < 0 (+pi for y >= 0), and
    +-pi/2 or 0 on the y axis."""
    y, x = cx.promoted(y, x)
    dtype = cx.np_dtype(y)
    zero, pi = np.zeros((), dtype), np.asarray(np.pi, dtype)
    base = cx.emit("Atan", [cx.emit("Div", [y, cx.emit("Where", [cx.emit(
        "Equal", [x, zero]), np.ones((), dtype), x])])])
    up = cx.emit("GreaterOrEqual", [y, zero])
    left = cx.emit("Where", [up, cx.emit("Add", [base, pi]), cx.emit("Sub", [base, pi])])
    r = cx.emit("Where", [cx.emit("Less", [x, zero]), left, base])
    axis = cx.emit("Mul", [cx.emit("Sign", [y]), np.asarray(np.pi / 2, dtype)])
    return cx.emit("Where", [cx.emit("Equal", [x, zero]), axis, r])


@aten("aten.hypot.default")
def _hypot(cx, a, b):
    a, b = cx.promoted(a, b)
    return cx.emit("Sqrt", [cx.emit("Add", [cx.emit("Mul", [a, a]), cx.emit("Mul", [b, b])])])


@aten("aten.linalg_vector_norm.default")
def _vector_norm(cx, x, ord=2, dim=None, keepdim=False, dtype=None):  # noqa: A002
    """The p-norm over `dim` (all dims when None): 2, 1, inf, -inf, 0 (the count of nonzeros)
    and any other p as (sum |x|**p)**(1/p)."""
    rank = len(cx.shape(x))
    dims = sorted({d % rank for d in ([dim] if isinstance(dim, int) else
                                      (dim or range(rank)))}) if rank else []
    if dtype is not None:
        x = cx.cast(x, _np_dtype(dtype))
    kw = dict(axes=dims, keepdims=bool(keepdim))
    a = cx.emit("Abs", [x])
    if ord == 2:
        return cx.emit("Sqrt", [cx.emit("ReduceSum", [cx.emit("Mul", [x, x])], **kw)])
    if ord == 1:
        return cx.emit("ReduceSum", [a], **kw)
    if ord in (np.inf, -np.inf):
        return cx.emit("ReduceMax" if ord > 0 else "ReduceMin", [a], **kw)
    if ord == 0:
        nonzero = cx.emit("Not", [cx.emit("Equal", [x, np.zeros((), cx.np_dtype(x))])])
        return cx.emit("ReduceSum", [cx.cast(nonzero, cx.np_dtype(x))], **kw)
    p = np.asarray(ord, cx.np_dtype(x))
    total = cx.emit("ReduceSum", [cx.emit("Pow", [a, p])], **kw)
    return cx.emit("Pow", [total, np.asarray(1 / ord, cx.np_dtype(x))])


@aten("aten.sort.default", "aten.sort.stable")
def _sort(cx, x, *args, stable=None, dim=-1, descending=False):
    """Values and indices along `dim`, equal values by increasing index (a stable sort): a TopK
    of the whole axis."""
    if args:  # sort.default's positional (dim, descending)
        dim, descending = (*args, descending)[:2]
    axis = dim % len(cx.shape(x))
    return cx.emit("TopK", [x], k=int(cx.shape(x)[axis]), axis=axis,
                   largest=bool(descending), sorted=True)


@aten("aten.rsub.Scalar", "aten.rsub.Tensor")
def _rsub(cx, a, b, alpha=1):
    """b - alpha * a"""
    return _binary("Sub")(cx, b, a, alpha=alpha)


@aten("aten.where.self")
def _where(cx, cond, a, b):
    return cx.emit("Where", [cond, *cx.promoted(a, b)])


@aten("aten._prelu_kernel.default")
def _prelu(cx, x, weight):
    rank, wshape = len(cx.shape(x)), cx.shape(weight)
    slope = weight if rank < 2 or len(wshape) != 1 else \
        cx.emit("Reshape", [weight], shape=[wshape[0]] + [1] * (rank - 2))
    return cx.emit("PRelu", [x, slope])


# ---- convolution, pooling, normalization, linear ----
def _pair(v, n):
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


@aten("aten.convolution.default")
def _convolution(cx, x, w, b, stride, padding, dilation, transposed, output_padding, groups):
    sr = len(cx.shape(x)) - 2
    if sr not in (1, 2):
        raise _Unsupported(f"{sr}-D convolution")
    pads = _pair(padding, sr) * 2
    attrs = dict(strides=_pair(stride, sr), pads=pads, dilations=_pair(dilation, sr),
                 group=groups)
    if transposed:
        return cx.emit("ConvTranspose", [x, w, b], output_padding=_pair(output_padding, sr),
                       **attrs)
    return cx.emit("Conv", [x, w, b], **attrs)


@aten("aten._native_batch_norm_legit_no_training.default")
def _batch_norm(cx, x, weight, bias, mean, var, momentum, eps):
    c = cx.shape(x)[1]
    dtype = cx.np_dtype(x)
    weight = np.ones(c, dtype) if weight is None else weight
    bias = np.zeros(c, dtype) if bias is None else bias
    return cx.emit("BatchNorm", [x, weight, bias, mean, var], epsilon=eps), None, None


@aten("aten.native_layer_norm.default")
def _layer_norm(cx, x, normalized_shape, weight, bias, eps):
    """Normalizes over the trailing len(normalized_shape) dims; mean and rstd are not given."""
    shape, n = cx.shape(x), len(normalized_shape)
    if list(shape[len(shape) - n:]) != list(normalized_shape):
        raise _Unsupported(f"layer norm over {list(normalized_shape)} of a {list(shape)} tensor")
    scale = np.ones(normalized_shape, cx.np_dtype(x)) if weight is None else weight
    return cx.emit("LayerNorm", [x, scale, bias], axis=len(shape) - n, epsilon=eps), None, None


@aten("aten.native_group_norm.default")
def _group_norm(cx, x, weight, bias, n, c, hw, group, eps):
    """Each of `group` channel groups normalized over its channels and positions (an
    InstanceNorm of the [N, group, C / group * HxW] view), then the per-channel affine."""
    shape, dtype = list(cx.shape(x)), cx.np_dtype(x)
    if len(shape) < 2 or group < 1 or shape[1] % group:
        raise _Invalid(f"{group} groups do not divide the channels of {shape}")
    grouped = cx.emit("Reshape", [x], shape=[shape[0], group, math.prod(shape[1:]) // group])
    y = cx.emit("InstanceNorm", [grouped, np.ones(group, dtype), np.zeros(group, dtype)],
                epsilon=float(eps))
    y = cx.emit("Reshape", [y], shape=shape)
    per_channel = [shape[1]] + [1] * (len(shape) - 2)
    if weight is not None:
        y = cx.emit("Mul", [y, cx.emit("Reshape", [weight], shape=per_channel)])
    if bias is not None:
        y = cx.emit("Add", [y, cx.emit("Reshape", [bias], shape=per_channel)])
    return y, None, None


@aten("aten.grid_sampler_2d.default")
def _grid_sample(cx, x, grid, interpolation, padding, align_corners):
    """torch's integer modes: bilinear / nearest (half to even) / bicubic (A = -0.75) and
    zeros / border / reflection padding, as ONNX GridSample defines them."""
    modes, paddings = ("linear", "nearest", "cubic"), ("zeros", "border", "reflection")
    if interpolation not in range(3) or padding not in range(3):
        raise _Invalid(f"grid_sampler_2d mode {interpolation} / padding {padding}")
    return cx.emit("GridSample", [x, grid], mode=modes[interpolation],
                   padding_mode=paddings[padding], align_corners=bool(align_corners))


def _pool_pads(cx, x, kernel, stride, padding):
    sr = len(cx.shape(x)) - 2
    if sr not in (1, 2):
        raise _Unsupported(f"{sr}-D pooling")
    kernel = _pair(kernel, sr)
    stride = _pair(stride, sr) if stride else kernel
    return sr, kernel, stride, _pair(padding, sr) * 2


@aten("aten.max_pool2d_with_indices.default", "aten.max_pool2d.default")
def _max_pool(cx, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    sr, kernel, stride, pads = _pool_pads(cx, x, kernel_size, stride, padding)
    out = cx.emit("MaxPool", [x], kernel_shape=kernel, strides=stride, pads=pads,
                  dilations=_pair(dilation, sr), ceil_mode=ceil_mode)
    return (out, None) if cx.lowering.current_target.endswith("with_indices.default") else out


@aten("aten.avg_pool2d.default")
def _avg_pool(cx, x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None):
    if divisor_override is not None:
        raise _Unsupported("avg_pool2d with divisor_override")
    _, kernel, stride, pads = _pool_pads(cx, x, kernel_size, stride, padding)
    return cx.emit("AveragePool", [x], kernel_shape=kernel, strides=stride, pads=pads,
                   ceil_mode=ceil_mode, count_include_pad=count_include_pad)


@aten("aten._adaptive_avg_pool2d.default", "aten.adaptive_avg_pool2d.default")
def _adaptive_avg_pool(cx, x, output_size):
    spatial = cx.shape(x)[2:]
    out = _pair(output_size, len(spatial))
    if all(o == 1 for o in out):
        return cx.emit("GlobalAveragePool", [x])
    if any(s % o for s, o in zip(spatial, out)):
        raise _Unsupported(f"adaptive average pooling of {list(spatial)} to {out} (sizes not "
                           "divisible)")
    k = [s // o for s, o in zip(spatial, out)]
    return cx.emit("AveragePool", [x], kernel_shape=k, strides=k, pads=[0] * 2 * len(k))


@aten("aten.addmm.default")
def _addmm(cx, bias, a, b, beta=1, alpha=1):
    return cx.emit("Gemm", [a, b, bias], alpha=alpha, beta=beta)


@aten("aten.mm.default", "aten.bmm.default", "aten.matmul.default")
def _mm(cx, a, b):
    return cx.emit("MatMul", [a, b])


@aten("aten._softmax.default", "aten._log_softmax.default")
def _softmax(cx, x, dim, half_to_float=False):
    op = "LogSoftmax" if "log" in cx.lowering.current_target else "Softmax"
    return cx.emit(op, [x], axis=dim)


# ---- resizing ----
def _resize_sizes(cx, x, output_size, scale_factors):
    shape = list(cx.shape(x))
    if output_size is not None:
        return shape[:2] + list(output_size)
    out = [int(math.floor(d * s)) for d, s in zip(shape[2:], scale_factors)]
    for d, s, o in zip(shape[2:], scale_factors, out):
        if d and not math.isclose(o / d, s, rel_tol=1e-6):
            raise _Unsupported(f"scale factor {s} does not give a whole output size from {d}")
    return shape[:2] + out


@aten("aten.upsample_nearest2d.vec")
def _upsample_nearest(cx, x, output_size, scale_factors):
    return cx.emit("Resize", [x], sizes=_resize_sizes(cx, x, output_size, scale_factors),
                   mode="nearest", coordinate_transformation_mode="asymmetric",
                   nearest_mode="floor")


@aten("aten.upsample_bilinear2d.vec")
def _upsample_bilinear(cx, x, output_size, align_corners, scale_factors):
    return cx.emit("Resize", [x], sizes=_resize_sizes(cx, x, output_size, scale_factors),
                   mode="linear", coordinate_transformation_mode="align_corners"
                   if align_corners else "pytorch_half_pixel")


@aten("aten.pixel_shuffle.default")
def _pixel_shuffle(cx, x, upscale_factor):
    return cx.emit("DepthToSpace", [x], blocksize=upscale_factor, mode="CRD")


# ---- attention ----
@aten("aten._native_multi_head_attention.default")
def _native_mha(cx, q, k, v, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                mask=None, need_weights=True, average_attn_weights=True, mask_type=None):
    """nn.MultiheadAttention's fast path (batch-first, eval, no autograd: what torch.jit.trace
    records under torch.no_grad) as matrix products and a softmax."""
    if mask is not None:
        raise _Unsupported("multi-head attention with a mask")
    (batch, n_q, e), n_kv = cx.shape(q), cx.shape(k)[1]
    if e != embed_dim or embed_dim % num_heads:
        raise _Invalid(f"embed_dim {embed_dim} with {num_heads} heads for a {list(cx.shape(q))} "
                       "query")
    head = embed_dim // num_heads

    def linear(x, w, b):
        y = cx.emit("MatMul", [x, cx.emit("Transpose", [w], perm=[1, 0])])
        return y if b is None else cx.emit("Add", [y, b])

    def heads(x, i, n):
        """Projection i (q, k, v) of x as [batch, heads, n, head]."""
        rows = dict(starts=[i * e], ends=[(i + 1) * e], axes=[0], steps=[1])
        w = cx.emit("Slice", [qkv_weight], **rows)
        b = None if qkv_bias is None else cx.emit("Slice", [qkv_bias], **rows)
        y = cx.emit("Reshape", [linear(x, w, b)], shape=[batch, n, num_heads, head])
        return cx.emit("Transpose", [y], perm=[0, 2, 1, 3])

    scale = np.asarray(1 / math.sqrt(head), cx.np_dtype(q))
    qh = cx.emit("Mul", [heads(q, 0, n_q), scale])
    kt = cx.emit("Transpose", [heads(k, 1, n_kv)], perm=[0, 1, 3, 2])
    attn = cx.emit("Softmax", [cx.emit("MatMul", [qh, kt])], axis=-1)
    y = cx.emit("Transpose", [cx.emit("MatMul", [attn, heads(v, 2, n_kv)])], perm=[0, 2, 1, 3])
    out = linear(cx.emit("Reshape", [y], shape=[batch, n_q, e]), proj_weight, proj_bias)
    if not need_weights:
        return out, None
    if average_attn_weights:
        attn = cx.emit("ReduceMean", [attn], axes=[1], keepdims=False)
    return out, attn
