"""Integer execution of quantized nodes, computed the way TFLite's reference kernels compute them.

A node is *quantized* when any of its inputs or outputs has a TensorType with QuantParams. There is
one op set: a quantized Conv is a core `Conv` whose X/W/Y types are int8 with affine params and
whose bias is int32 with scale = x_scale * w_scale. The float kernel in the op registry stays the
float semantics; this module holds the integer kernel for the same op, and `select_kernel(node)`
is the one place that picks between them. The interpreter and the simulator's plan both call it.

Arithmetic (all bit-exact with TFLite's reference_ops / reference_integer_ops):
- accumulation of (x - x_zp) * (w - w_zp) is exact: it is done in float32 BLAS when a static
  bound on every partial sum stays below 2**24, else in float64 (exact below 2**53); with constant
  weights it runs on the raw integers and the zero point returns as a per-channel constant;
- requantization is `multiply_by_quantized_multiplier` with the (int32 multiplier, shift) pair of
  `quantize_multiplier` (gemmlowp's saturating rounding doubling high mul, then a rounding right
  shift), plus the output zero point, then saturation to the activation range. FULLY_CONNECTED
  requantizes with one rounding instead (see multiply_by_quantized_multiplier_single_round).
  `_requantizer` computes either as a single float64 floor when that is exact (checked per node),
  else with the int64 primitives;
- elementwise kernels of 8-bit inputs are tabulated once over every input value (`_elementwise`):
  the exact formula runs at preparation, the kernel is a gather.

A quantized node with no integer kernel here, or with parameters the kernel cannot reproduce
exactly, raises QuantizedExecutionError naming the node: it never falls back to float.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import NpuccError
from .graph import Node, Value
from .types import QuantScheme

Kernel = Callable[[Sequence[np.ndarray | None]], list[np.ndarray]]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


class QuantizedExecutionError(NpuccError):
    """A quantized node cannot be run exactly in integer arithmetic."""


# ---------------------------------------------------------------- fixed-point primitives

def tflite_round(x):
    """std::round: halves away from zero (TfLiteRound). In float64, so that x + 0.5 is exact for
    float32 x (in float32, 0.49999997 + 0.5 would round up to 1)."""
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_multiplier(real) -> tuple[np.ndarray, np.ndarray]:
    """TFLite QuantizeMultiplier, elementwise: real ~= m * 2**(shift - 31) with m an int32 in
    [2**30, 2**31) (0 for real == 0). Returns int64 arrays (m, shift)."""
    real = np.atleast_1d(np.asarray(real, dtype=np.float64))
    q, shift = np.frexp(real)
    m = tflite_round(q * float(1 << 31)).astype(np.int64)
    carry = m == (1 << 31)
    m = np.where(carry, m // 2, m)
    shift = np.where(carry, shift + 1, shift).astype(np.int64)
    tiny = shift < -31
    m = np.where(tiny | (real == 0), 0, m)
    shift = np.where(tiny | (real == 0), 0, shift)
    return m, shift


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64 arrays."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2**exponent rounded to nearest, ties away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite MultiplyByQuantizedMultiplier (double rounding): x * m * 2**(shift - 31)."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = np.asarray(x, np.int64) * (np.int64(1) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


def multiply_by_quantized_multiplier_single_round(x, multiplier, shift):
    """The single-rounding form (TFLITE_SINGLE_ROUNDING): (x * m + 2**(30 - shift)) >> (31 - shift),
    one rounding, ties toward +inf. LiteRT's reference FULLY_CONNECTED requantizes this way
    (measured bit-exact against ai-edge-litert 2.3; conv, add, mul... use double rounding)."""
    total = 31 - np.asarray(shift, np.int64)
    return (np.asarray(x, np.int64) * np.asarray(multiplier, np.int64)
            + (np.int64(1) << (total - 1))) >> total


# ---------------------------------------------------------------- quantization params of values

def affine_params(v: Value, what: str, node: Node) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(scales float64, zero points int64, axis) of an affine-quantized value."""
    q = v.type.quant
    if q is None:
        raise QuantizedExecutionError(f"{node.describe()}: {what} %{v.name} ({v.type}) is not "
                                      "quantized, but the node's other tensors are")
    if q.scheme is not QuantScheme.affine:
        raise QuantizedExecutionError(f"{node.describe()}: {what} %{v.name} uses {q.scheme.value} "
                                      "quantization; the integer kernels take affine params")
    return (np.asarray(q.scale, np.float64), np.asarray(q.zero_point, np.int64), q.axis)


def per_tensor(v: Value, what: str, node: Node) -> tuple[float, int]:
    s, z, axis = affine_params(v, what, node)
    if axis is not None:
        raise QuantizedExecutionError(f"{node.describe()}: {what} %{v.name} is quantized per "
                                      f"axis {axis}; this kernel needs per-tensor params")
    return float(s[0]), int(z[0])


def quantize_real(value: float, scale: float, zero_point: int) -> int:
    """zero_point + round(value / scale) in float32, as TFLite quantizes activation bounds."""
    return zero_point + int(tflite_round(np.float32(value) / np.float32(scale)))


def storage_range(v: Value) -> tuple[int, int]:
    return v.dtype.int_range


def activation_range(node: Node, out: Value) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for the node's fused activation."""
    lo, hi = storage_range(out)
    kind = node.attrs.get("activation", "none")
    if kind == "none":
        return lo, hi
    s, z = per_tensor(out, "output", node)
    if kind == "relu":
        return max(lo, quantize_real(0.0, s, z)), hi
    if kind == "clip":
        a, b = node.attrs["activation_params"]
        if np.isfinite(a):
            lo = max(lo, quantize_real(a, s, z))
        if np.isfinite(b):
            hi = min(hi, quantize_real(b, s, z))
        return lo, hi
    raise QuantizedExecutionError(f"{node.describe()}: fused activation {kind} has no integer "
                                  "form (TFLite fuses only relu, relu6 and relu_n1_to_1)")


def same_params(node: Node, values: Sequence[Value]) -> None:
    """Raise unless all values carry the same quantization params (data movement ops)."""
    ref = values[0].type.quant
    for v in values[1:]:
        if v.type.quant != ref:
            raise QuantizedExecutionError(
                f"{node.describe()}: %{values[0].name} ({values[0].type}) and %{v.name} "
                f"({v.type}) have different quantization params; {node.op} moves integers "
                "unchanged, so they must be equal")


def _out(v: Value, acc) -> np.ndarray:
    lo, hi = storage_range(v)
    return np.clip(acc, lo, hi).astype(v.dtype.numpy)


# ---------------------------------------------------------------- the kernel registry

# op name -> prepare(node) -> Kernel. A preparer reads the node's types once (multipliers,
# activation ranges) and returns the function that runs it on integer arrays.
INT_KERNELS: dict[str, Callable[[Node], Kernel]] = {}


def int_kernel(*ops: str):
    """Decorator: register an integer-kernel preparer for ops."""
    def register(prepare):
        for op in ops:
            INT_KERNELS[op] = prepare
        return prepare
    return register


def is_quantized(node: Node) -> bool:
    return any(v is not None and v.type.quant is not None
               for v in (*node.inputs, *node.outputs))


def select_kernel(node: Node) -> Kernel:
    """The kernel that runs `node`: its registry (float) kernel, or for a quantized node its
    integer kernel prepared for the node's params. Raises QuantizedExecutionError for a quantized
    node without an exact integer kernel."""
    if not is_quantized(node):
        opdef, attrs_ = node.opdef, node.attrs
        return lambda args: opdef.evaluate(args, attrs_)
    prepare = INT_KERNELS.get(node.op)
    if prepare is None:
        raise QuantizedExecutionError(
            f"{node.describe()}: quantized {node.op} has no integer kernel, so it cannot run "
            f"bit-exactly (integer kernels: {', '.join(sorted(INT_KERNELS))})")
    return prepare(node)


def evaluate_node(node: Node, args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Run one node with the kernel `select_kernel` picks."""
    return select_kernel(node)(args)


# ---------------------------------------------------------------- kernels

def _float_kernel_on(node: Node, **override) -> Callable:
    """The op's float reference kernel with some attributes replaced, for exact integer math
    carried in float64 or on integer arrays."""
    opdef = node.opdef
    attrs_ = {**node.attrs, **override}
    return lambda *arrays: opdef.kernel(*arrays, **attrs_)


def _channel_shape(ndim: int, axis: int) -> tuple[int, ...]:
    shape = [1] * ndim
    shape[axis] = -1
    return tuple(shape)


def _exact_accumulator(node: Node, x: Value, w: Value, zx: int, wz) -> np.dtype:
    """float32 when every partial sum of the dot products is an integer below 2**24 (then BLAS
    sgemm sums exactly, in any order), else float64 (exact below 2**53)."""
    lo, hi = x.dtype.int_range
    x_max = max(abs(lo - zx), abs(hi - zx))
    if w.is_constant:
        wd = np.abs(np.asarray(w.const, np.float64) - wz)
        k = int(np.prod(w.shape[1:])) if node.op != "ConvTranspose" else int(np.prod(w.shape))
        bound = x_max * float(wd.max()) * k
    else:
        wlo, whi = w.dtype.int_range
        bound = x_max * max(abs(wlo), abs(whi)) * float(np.prod(w.shape))
    return _float_for(bound)


def _float_for(bound) -> np.dtype:
    """The float type whose sums of integers bounded by `bound` are exact."""
    return np.dtype(np.float32) if np.max(bound) < 2 ** 24 else np.dtype(np.float64)


# ---------------------------------------------------------------- requantization of accumulators

def _requantizer(mult, shift, *, single_round: bool, offset, raw_bound, total_bound, zy: int,
                 lo: int, hi: int, dtype) -> Callable[[np.ndarray], np.ndarray]:
    """acc -> clamp(requantize(acc + offset) + zy, lo, hi) as `dtype`, for accumulators holding
    exact integers (float or int arrays) with |acc| <= raw_bound and |acc + offset| <=
    total_bound; mult, shift, offset and the bounds broadcast against acc (per channel).

    Both roundings of multiply_by_quantized_multiplier fold into one floor: with M = m * 2**left,
    r = max(-shift, 0), t = SRDHM(a, m) = floor((a*M + 2**30) / 2**31) and RoundingDivideByPOT
    (half away from zero) = floor((t + 2**(r-1) - [t < 0]) / 2**r) for r >= 1, and
    floor((floor(u) + n) / d) = floor((u + n) / d) for integers n, d > 0, so
        out = floor((a*M + 2**30 + 2**(30+r) - [a*M + 2**30 < 0] * 2**31) / 2**(31+r)).
    The single-rounding form is floor((a*m + 2**(s-1)) / 2**s) with s = 31 - shift. When every
    numerator stays below 2**53 that is computed in float64 on acc * (M / 2**S) + const, all
    terms exact multiples of 2**-S; otherwise in int64 with the gemmlowp primitives."""
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64)
    offset = np.asarray(offset, np.int64)
    if single_round:
        s = 31 - shift
        big_m = mult.astype(np.float64)
        rnd = np.where(s >= 1, np.ldexp(1.0, s - 1), 0.0)
        corr = None
    else:
        r = np.maximum(-shift, 0)
        s = 31 + r
        big_m = np.ldexp(mult.astype(np.float64), np.maximum(shift, 0))
        rnd = np.ldexp(1.0, 30) + np.where(r >= 1, np.ldexp(1.0, 30 + r), 0.0)
        corr = np.where(r >= 1, np.ldexp(1.0, -r), 0.0)  # 2**31 / 2**S
    unit = np.ldexp(1.0, s)  # 2**S: one output step in numerator units
    limit = 2.0 ** 53
    exact = bool(np.all(s >= 1)
                 and np.all(np.asarray(raw_bound, np.float64) * big_m < limit)
                 and np.all(np.abs(offset) * big_m + rnd + (abs(zy) + 2) * unit < limit)
                 and np.all(np.asarray(total_bound, np.float64) * big_m + rnd
                            + (abs(zy) + 2) * unit < limit))
    requant = multiply_by_quantized_multiplier_single_round if single_round \
        else multiply_by_quantized_multiplier
    if not exact:
        def run_int(acc):
            if acc.dtype.kind == "f":
                acc = np.rint(acc).astype(np.int64)
            out = requant(acc.astype(np.int64) + offset, mult, shift) + zy
            return np.clip(out, lo, hi).astype(dtype)
        return run_int

    scale = np.ldexp(big_m, -s)  # exact: a power-of-two scaling
    const = np.ldexp(offset * big_m + rnd, -s) + zy
    # the sign correction only matters for results that can land above the clamp's low end
    fix = corr is not None and lo < zy and bool(np.any(corr > 0))
    threshold = zy + 0.5  # z < zy + 1/2  <=>  a*M + 2**30 < 0 (channels with r >= 1)

    def run(acc):
        z = np.multiply(acc, scale, dtype=np.float64)
        z += const
        if fix:
            np.subtract(z, corr, out=z, where=z < threshold)
        np.floor(z, out=z)
        np.clip(z, lo, hi, out=z)
        return z.astype(dtype)
    return run


# ---------------------------------------------------------------- accumulators of constant weights

def _storage_centre(v: Value) -> int:
    """The integer subtracted from raw values before the GEMM (0 for int8/int16, 128 for uint8),
    so their magnitudes, and the exactness bounds, stay small."""
    lo, hi = storage_range(v)
    return (lo + hi + 1) // 2


def _load_into(buf: np.ndarray, centre: int) -> Callable[[np.ndarray], None]:
    if centre == 0:
        return lambda xa: np.copyto(buf, xa.reshape(buf.shape), casting="unsafe")
    c = buf.dtype.type(centre)
    return lambda xa: np.subtract(xa.reshape(buf.shape), c, out=buf, dtype=buf.dtype)


def _conv_accumulator(node: Node, wq: np.ndarray, pad: int, centre: int, dtype: np.dtype):
    """Sum over taps of (x - centre) * wq for a Conv with constant weights, x padded with `pad`
    (= x_zero_point - centre): returns acc(xa) -> (N, M, *out) array of exact integers in
    `dtype`, or None for shapes this path does not take (3-D convs, fused pooling).

    Depthwise (group == C == M): one multiply-add per tap over the whole tensor. Otherwise
    im2col into a buffer prepared once (skipped for 1x1 stride-1 unpadded convs) and one
    batched GEMM per group."""
    x, y = node.inputs[0], node.outputs[0]
    at = node.attrs
    if x.type.rank not in (3, 4) or at.get("pool_kernel"):
        return None
    if x.type.rank == 3:
        (n, c, h, wd), (m, cg, kh, kw), (oh, ow) = (x.shape[0], x.shape[1], 1, x.shape[2]), \
            (*wq.shape[:2], 1, wq.shape[2]), (1, y.shape[2])
        (sh, sw), (dh, dw) = (1, at["strides"][0]), (1, at["dilations"][0])
        pt, pl, pb, pr = 0, at["pads"][0], 0, at["pads"][1]
    else:
        (n, c, h, wd), (m, cg, kh, kw), (oh, ow) = x.shape, wq.shape, y.shape[2:]
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = at["strides"], at["dilations"], at["pads"]
    g = at["group"]
    padded = any((pt, pl, pb, pr))
    xp = np.full((n, c, h + pt + pb, wd + pl + pr), pad, dtype)
    load = _load_into(xp[:, :, pt:pt + h, pl:pl + wd], centre)
    out_shape = y.shape

    if g == c == m and kh * kw > 1:
        wt = wq.reshape(m, kh * kw).astype(dtype)
        taps = [(xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                     j * dw:j * dw + sw * (ow - 1) + 1:sw],
                 np.ascontiguousarray(wt[:, i * kw + j]).reshape(1, m, 1, 1))
                for i in range(kh) for j in range(kw)]
        acc = np.empty((n, m, oh, ow), dtype)
        tmp = np.empty_like(acc)
        (v0, w0), rest = taps[0], taps[1:]

        def depthwise(xa):
            load(xa)
            np.multiply(v0, w0, out=acc)
            for v, wv in rest:
                np.multiply(v, wv, out=tmp)
                np.add(acc, tmp, out=acc)
            return acc.reshape(out_shape)
        return depthwise

    k = cg * kh * kw
    wg = np.ascontiguousarray(wq.reshape(g, m // g, k).astype(dtype))
    acc = np.empty((n, g, m // g, oh * ow), dtype)
    if (kh, kw, sh, sw) == (1, 1, 1, 1) and not padded:
        cols = xp.reshape(n, g, cg, h * wd)

        def pointwise(xa):
            load(xa)
            np.matmul(wg, cols, out=acc)
            return acc.reshape(out_shape)
        return pointwise

    st = xp.strides
    windows = as_strided(xp, (n, c, kh, kw, oh, ow),
                         (st[0], st[1], dh * st[2], dw * st[3], sh * st[2], sw * st[3]),
                         writeable=False)
    cols = np.empty((n, c, kh, kw, oh, ow), dtype)
    cols_mat = cols.reshape(n, g, k, oh * ow)

    def im2col(xa):
        load(xa)
        np.copyto(cols, windows)
        np.matmul(wg, cols_mat, out=acc)
        return acc.reshape(out_shape)
    return im2col


def _matmul_accumulator(node: Node, wkn: np.ndarray, centre: int, dtype: np.dtype):
    """(x - centre) @ wkn for a Gemm / 2-D MatMul with constant (K, N) weights."""
    x, y = node.inputs[0], node.outputs[0]
    xbuf = np.empty(x.shape, dtype)
    load = _load_into(xbuf, centre)
    w = np.ascontiguousarray(wkn.astype(dtype))
    acc = np.empty(y.shape, dtype)

    def run(xa):
        load(xa)
        return np.matmul(xbuf, w, out=acc)
    return run


@int_kernel("Conv", "ConvTranspose", "Gemm", "MatMul")
def _linear(node: Node) -> Kernel:
    """TFLite CONV_2D / DEPTHWISE_CONV_2D / TRANSPOSE_CONV / FULLY_CONNECTED (int8, uint8; per
    tensor or per output channel): acc = sum((x - zx) * (w - zw)) + bias, then per-channel
    requantization and the fused activation's clamp.

    With constant weights (and bias) the GEMM runs on x - centre (raw int8 values) and the zero
    point comes back as a per-channel constant: sum((x - zx) w') = sum((x - c) w') - (zx - c)
    * sum(w'), padding with zx - c. The accumulator is float32 when the bound on every partial
    sum, max|x - c| * sum|w'| per channel, is below 2**24 (float64 otherwise), so BLAS sums
    exactly in any order; `_requantizer` then rescales it exactly."""
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    y = node.outputs[0]
    if node.op == "Gemm" and (node.attrs["alpha"] != 1.0 or node.attrs["beta"] != 1.0
                              or node.attrs["transA"]):
        raise QuantizedExecutionError(f"{node.describe()}: quantized Gemm takes alpha=beta=1 "
                                      "and transA=0")
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    sw, zw, w_axis = affine_params(w, "weights", node)
    if b is not None:
        if not b.dtype.is_int:
            raise QuantizedExecutionError(f"{node.describe()}: bias %{b.name} is {b.dtype.value}; "
                                          "a quantized layer takes an integer (int32) bias")
    if node.op == "Gemm" and w_axis is None:
        # FULLY_CONNECTED per tensor: the scale product is taken in float (GetQuantizedConvolution
        # Multipler), then divided in double
        real = np.float64(np.float32(sx) * np.float32(sw)) / np.float64(sy)
    else:
        real = np.float64(sx) * sw / np.float64(sy)
    mult, shift = quantize_multiplier(real)
    lo, hi = activation_range(node, y)
    ch_axis = y.type.rank - 1 if node.op in ("Gemm", "MatMul") else 1
    bshape = _channel_shape(y.type.rank, ch_axis)
    mult, shift = mult.reshape(bshape), shift.reshape(bshape)
    wz = zw.astype(np.float64)
    if w_axis is not None and len(zw) > 1:
        wz = wz.reshape(_channel_shape(w.type.rank, w_axis))
    else:
        wz = wz.reshape(()) if wz.size == 1 else wz
    single_round = node.op in ("Gemm", "MatMul")
    fast = _constant_weight_kernel(node, x, w, b, zx, wz, bshape, mult, shift, single_round,
                                   zy, lo, hi)
    if fast is not None:
        return fast

    correlate = _float_kernel_on(node, activation="none", activation_params=())
    acc_dtype = _exact_accumulator(node, x, w, zx, wz)
    requant = _requantizer(mult, shift, single_round=single_round, offset=0,
                           raw_bound=np.inf, total_bound=np.inf, zy=zy, lo=lo, hi=hi,
                           dtype=y.dtype.numpy)

    def run(args):
        xa, wa = args[0], args[1]
        ba = args[2] if len(args) > 2 else None
        acc = correlate(xa.astype(acc_dtype) - acc_dtype.type(zx), wa.astype(acc_dtype) - wz)
        acc = np.rint(acc).astype(np.int64)
        if ba is not None:
            acc = acc + ba.astype(np.int64).reshape(bshape)
        return [requant(acc)]
    return run


def _constant_weight_kernel(node, x, w, b, zx, wz, bshape, mult, shift, single_round, zy, lo,
                            hi) -> Kernel | None:
    """The fast path of `_linear` (constant weights and bias, static shapes), or None."""
    if not w.is_constant or (b is not None and not b.is_constant) or node.op == "ConvTranspose":
        return None
    if not all(isinstance(d, int) for d in (*x.shape, *node.outputs[0].shape)):
        return None
    wq = np.asarray(w.const, np.float64) - wz  # w - zw, exact integers
    if node.op == "Gemm":
        wkn = wq.T if node.attrs["transB"] else wq
    elif node.op == "MatMul":
        if w.type.rank != 2:
            return None
        wkn = wq
    else:
        wkn = None
    # per output channel: sum of |w'| and of w' over the reduction
    if wkn is not None:
        w_abs, w_sum = np.abs(wkn).sum(axis=0), wkn.sum(axis=0)
    else:
        w_abs = np.abs(wq).reshape(wq.shape[0], -1).sum(axis=1)
        w_sum = wq.reshape(wq.shape[0], -1).sum(axis=1)
    n_out = node.outputs[0].shape[bshape.index(-1)]
    if w_abs.size != n_out:
        return None
    bias = np.zeros(n_out, np.int64)
    if b is not None:
        bc = np.asarray(b.const, np.int64)
        if bc.size != n_out:
            return None
        bias = bc.reshape(-1)
    c = _storage_centre(x)
    lo_x, hi_x = storage_range(x)
    raw_max = max(abs(lo_x - c), abs(hi_x - c), abs(zx - c))
    dev_max = max(abs(lo_x - zx), abs(hi_x - zx))
    raw_bound = raw_max * w_abs
    dtype = _float_for(raw_bound)
    w_sum = np.rint(w_sum).astype(np.int64)
    offset = bias - (zx - c) * w_sum
    if wkn is not None:
        accumulate = _matmul_accumulator(node, wkn, c, dtype)
    else:
        accumulate = _conv_accumulator(node, wq, zx - c, c, dtype)
    if accumulate is None:
        return None
    y = node.outputs[0]
    requant = _requantizer(mult, shift, single_round=single_round,
                           offset=offset.reshape(bshape),
                           raw_bound=raw_bound.reshape(bshape),
                           total_bound=(dev_max * w_abs + np.abs(bias)).reshape(bshape),
                           zy=zy, lo=lo, hi=hi, dtype=y.dtype.numpy)
    return lambda args: [requant(accumulate(args[0]))]


def _bit_patterns(v: Value) -> np.ndarray:
    """Every value of v's 8-bit integer type as int64, at the index of its bit pattern."""
    return np.arange(256, dtype=np.uint8).view(v.dtype.numpy).astype(np.int64)


def _elementwise(node: Node, f: Callable[..., np.ndarray]) -> Kernel:
    """Kernel of an elementwise integer function `f` of the node's one or two inputs (int64
    arrays of their integer values -> the output's integers before the storage clamp;
    broadcasting). With 8-bit inputs `f` runs once, at preparation, over every input value (a
    256 or 256 x 256 table), and the kernel is one gather indexed by the inputs' bit patterns."""
    xs, y = node.inputs, node.outputs[0]
    if not all(v.dtype.bits == 8 for v in xs):
        return lambda args: [_out(y, f(*(a.astype(np.int64) for a in args)))]
    if len(xs) == 1:
        table = _out(y, f(_bit_patterns(xs[0])))
        return lambda args: [table[args[0].view(np.uint8)]]
    a, b = xs
    table = _out(y, f(_bit_patterns(a)[:, None], _bit_patterns(b)[None, :])).reshape(-1)

    def run(args):
        index = args[0].view(np.uint8).astype(np.uint16) << 8
        return [table[index | args[1].view(np.uint8)]]
    return run


@int_kernel("Add", "Sub")
def _add(node: Node) -> Kernel:
    """TFLite ADD / SUB int8: both inputs rescaled to a common scale with 20 bits of headroom,
    added, rescaled to the output."""
    a, b = node.inputs
    y = node.outputs[0]
    sa, za = per_tensor(a, "input 0", node)
    sb, zb = per_tensor(b, "input 1", node)
    sy, zy = per_tensor(y, "output", node)
    left_shift = 15 if y.dtype.bits == 16 else 20
    twice_max = 2.0 * float(max(np.float32(sa), np.float32(sb)))
    ma, sha = quantize_multiplier(sa / twice_max)
    mb, shb = quantize_multiplier(sb / twice_max)
    my, shy = quantize_multiplier(twice_max / ((1 << left_shift) * sy))
    sign = -1 if node.op == "Sub" else 1

    def add(va, vb):
        xa = multiply_by_quantized_multiplier((va - za) << left_shift, ma, sha)
        xb = multiply_by_quantized_multiplier((vb - zb) << left_shift, mb, shb)
        return multiply_by_quantized_multiplier(xa + sign * xb, my, shy) + zy
    return _elementwise(node, add)


@int_kernel("Mul")
def _mul(node: Node) -> Kernel:
    """TFLite MUL int8: (a - za) * (b - zb) rescaled by sa * sb / sy."""
    a, b = node.inputs
    y = node.outputs[0]
    sa, za = per_tensor(a, "input 0", node)
    sb, zb = per_tensor(b, "input 1", node)
    sy, zy = per_tensor(y, "output", node)
    m, sh = quantize_multiplier(np.float64(sa) * np.float64(sb) / np.float64(sy))
    return _elementwise(
        node, lambda va, vb: multiply_by_quantized_multiplier((va - za) * (vb - zb), m, sh) + zy)


@int_kernel("Identity")
def _requantize(node: Node) -> Kernel:
    """Identity between two quantized tensors: TFLite QUANTIZE (int -> int) requantization."""
    x, y = node.inputs[0], node.outputs[0]
    if x.type.quant == y.type.quant and x.dtype == y.dtype:
        return lambda args: [args[0]]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    m, sh = quantize_multiplier(np.float64(sx) / np.float64(sy))
    return _elementwise(node, lambda v: multiply_by_quantized_multiplier(v - zx, m, sh) + zy)


@int_kernel("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Slice", "Concat", "Split",
            "MaxPool", "GlobalMaxPool", "ReduceMax", "DepthToSpace", "SpaceToDepth", "Tile",
            "Gather", "Expand")
def _move(node: Node) -> Kernel:
    """Data movement (and max): integers move unchanged when all params are equal."""
    same_params(node, [v for v in (*node.inputs, *node.outputs) if v is not None])
    kernel = _float_kernel_on(node)
    dtypes = [v.dtype.numpy for v in node.outputs]

    def run(args):
        out = kernel(*args)
        outs = [out] if isinstance(out, np.ndarray) else list(out)
        return [np.asarray(o).astype(d, copy=False) for o, d in zip(outs, dtypes)]
    return run


@int_kernel("Resize")
def _resize(node: Node) -> Kernel:
    """Nearest-neighbour resize moves integers unchanged; bilinear int8 has its own rounding."""
    if node.attrs["mode"] != "nearest":
        return _resize_bilinear(node)
    return _move(node)


@int_kernel("Pad")
def _pad(node: Node) -> Kernel:
    """Pad in the integer domain: the fill value is quantized (0.0 becomes the zero point)."""
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    s, z = per_tensor(x, "input", node)
    lo, hi = storage_range(x)
    fill = min(max(quantize_real(node.attrs["value"], s, z), lo), hi)
    kernel = _float_kernel_on(node, value=float(fill))
    return lambda args: [kernel(args[0])]


@int_kernel("Relu", "Clip")
def _clamp(node: Node) -> Kernel:
    """Relu / Clip with equal in/out params: a clamp of the integers (TFLite fuses it)."""
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    s, z = per_tensor(y, "output", node)
    lo, hi = storage_range(y)
    if node.op == "Relu":
        lo = max(lo, quantize_real(0.0, s, z))
    else:
        if np.isfinite(node.attrs["min"]):
            lo = max(lo, quantize_real(node.attrs["min"], s, z))
        if np.isfinite(node.attrs["max"]):
            hi = min(hi, quantize_real(node.attrs["max"], s, z))
    return lambda args: [np.clip(args[0], lo, hi).astype(y.dtype.numpy)]


@int_kernel("LeakyRelu")
def _leaky_relu(node: Node) -> Kernel:
    """TFLite LEAKY_RELU int8: identity and alpha branches with their own multipliers."""
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    alpha = np.float32(node.attrs["alpha"])
    m_id, sh_id = quantize_multiplier(np.float64(np.float32(sx) / np.float32(sy)))
    m_a, sh_a = quantize_multiplier(np.float64(np.float32(sx) * alpha / np.float32(sy)))

    def leaky(v):
        v = v - zx
        return np.where(v >= 0, multiply_by_quantized_multiplier(v, m_id, sh_id),
                        multiply_by_quantized_multiplier(v, m_a, sh_a)) + zy
    return _elementwise(node, leaky)


def _table_only(node: Node) -> None:
    """TFLite defines these kernels for 8-bit tensors only (as 256-entry tables)."""
    for v in (node.inputs[0], node.outputs[0]):
        if v.dtype.bits != 8:
            raise QuantizedExecutionError(f"{node.describe()}: quantized {node.op} is defined "
                                          f"for int8/uint8 tensors, %{v.name} is {v.type}")


@functools.cache
def _c_float_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The C library's float function `name` (expf, tanhf) on a float32 array: the function
    TFLite's table kernels call through std::exp / std::tanh. numpy's own float32 tanh, or
    float64 rounded to float32, differ from glibc's tanhf by an ulp on some inputs, which moves
    a table entry by one (seen against LiteRT). Without a loadable C math library, float64
    rounded to float32 is used."""
    path = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    fn = getattr(ctypes.CDLL(path), name, None) if path else None
    if fn is None:
        exact = {"expf": np.exp, "tanhf": np.tanh}[name]
        return lambda v: exact(np.asarray(v, np.float64)).astype(np.float32)
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
    return lambda v: np.array([fn(float(t)) for t in np.ravel(v)], np.float32).reshape(
        np.shape(v))


_F32_TRANSFORMS = {  # the float32 transforms of TFLite's LOGISTIC / TANH tables
    "Sigmoid": lambda v: np.float32(1) / (np.float32(1) + _c_float_function("expf")(-v)),
    "Tanh": lambda v: _c_float_function("tanhf")(v),
}


@int_kernel("Sigmoid", "Tanh")
def _float_table(node: Node) -> Kernel:
    """TFLite LOGISTIC / TANH int8 (reference kernel: LUTPopulate): each input value is
    dequantized in float32, transformed, scaled by 1 / output scale, rounded half away from
    zero and offset by the output zero point, then saturated."""
    _table_only(node)
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    transform = _F32_TRANSFORMS[node.op]
    inverse = np.float32(1) / np.float32(sy)

    def table(v):
        real = np.float32(sx) * (v - zx).astype(np.float32)
        rescaled = tflite_round(transform(real) * inverse).astype(np.float32)
        return (rescaled + np.float32(zy)).astype(np.int64)  # C float -> int truncates
    return _elementwise(node, table)


def _int16_srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int16 values (int64 arrays)."""
    ab = np.asarray(a, np.int64) * b
    s = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    q = np.where(s >= 0, s >> 15, -((-s) >> 15))  # C division truncates toward zero
    return np.where((a == -(1 << 15)) & (b == -(1 << 15)), (1 << 15) - 1, q)


def _int16_sdhm(a, b):
    """TFLite SaturatingDoublingHighMul (int16, rounding toward zero, like SQDMULH)."""
    ab = np.asarray(a, np.int64) * b
    q = np.where(ab >= 0, ab >> 15, -((-ab) >> 15))
    return np.where((a == -(1 << 15)) & (b == -(1 << 15)), (1 << 15) - 1, q)


def _int16_saturating_left_shift(v, amount: int):
    return np.clip(np.asarray(v, np.int64) << amount, -(1 << 15), (1 << 15) - 1)


def _int16_multiplier(real) -> tuple[int, int]:
    """QuantizeMultiplier, then TFLite DownScaleInt32ToInt16Multiplier: (int16 m, exponent)."""
    m, shift = quantize_multiplier(real)
    m, shift = int(m[0]), int(shift[0])
    m16 = (1 << 15) - 1 if m >= INT32_MAX - (1 << 15) else (m + (1 << 15)) >> 16
    return m16, shift


@int_kernel("HardSwish")
def _hard_swish(node: Node) -> Kernel:
    """TFLite HARD_SWISH int8 (reference_ops::HardSwish): int16 fixed point. The input on a
    hi-res scale (x - zx) * 2**7 is rescaled once to the output scale and once to a 'relu-ish'
    value on the scale where 3.0 is 2**15, saturated to [-1, 1) and mapped to [0, 1); their
    doubling high product (rounded toward zero) is shifted to the output scale."""
    _table_only(node)
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    hires = np.float32(1.0 / 128.0) * np.float32(sx)
    out_m, out_exp = _int16_multiplier(np.float64(hires / np.float32(sy)))
    relu_m, relu_exp = _int16_multiplier(np.float64(hires / np.float32(3.0 / 32768.0)))
    if out_exp > 0:
        raise QuantizedExecutionError(f"{node.describe()}: quantized HardSwish needs an output "
                                      "multiplier below 1 (TFLite rejects this model too)")

    def hard_swish(v):
        hires_v = (v - zx) << 7
        pre_out = _int16_srdhm(hires_v, out_m)
        relu = hires_v
        if relu_exp > 0:
            relu = _int16_saturating_left_shift(relu, relu_exp - 1)
        relu = _int16_srdhm(relu, relu_m)
        if relu_exp > 0:
            relu = _int16_saturating_left_shift(relu, 1)
        elif relu_exp < 0:
            relu = rounding_divide_by_pot(relu, -relu_exp)
        relu = (relu + (1 << 15)) >> 1
        return rounding_divide_by_pot(_int16_sdhm(relu, pre_out), -out_exp) + zy
    return _elementwise(node, hard_swish)


@int_kernel("AveragePool", "GlobalAveragePool")
def _average_pool(node: Node) -> Kernel:
    """TFLite AVERAGE_POOL_2D int8: the integer sum of the valid (unpadded) window elements
    divided by their count, rounding half away from zero; in/out params must be equal.

    The sums are one int32 add per window tap over a zero-padded copy prepared once; the
    counts of valid elements are the same sums over a ones mask, computed at preparation."""
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    sr = x.type.rank - 2
    spatial, out = x.shape[2:], y.shape[2:]
    if node.op == "GlobalAveragePool":
        kernel, strides, pads = spatial, (1,) * sr, (0,) * (2 * sr)
    else:
        if node.attrs["count_include_pad"]:
            raise QuantizedExecutionError(f"{node.describe()}: quantized average pool counts "
                                          "only valid elements (count_include_pad=0)")
        kernel, strides, pads = (node.attrs[k] for k in ("kernel_shape", "strides", "pads"))
    # padded extent: the pads, plus whatever the last window needs beyond them (ceil mode)
    ends = [max(pads[i + sr], (out[i] - 1) * strides[i] + kernel[i] - spatial[i] - pads[i])
            for i in range(sr)]
    xp = np.zeros((*x.shape[:2], *(s + p + e for s, p, e in zip(spatial, pads, ends))),
                  np.int32)
    inner = xp[(..., *(slice(p, p + s) for p, s in zip(pads, spatial)))]
    taps = [xp[(..., *(slice(k, k + st * (o - 1) + 1, st)
                       for k, st, o in zip(offset, strides, out)))]
            for offset in itertools.product(*(range(k) for k in kernel))]

    def window_sums():
        acc = taps[0].copy()
        for v in taps[1:]:
            acc += v
        return acc

    inner[...] = 1
    counts = window_sums()[:1, :1]
    half = counts // 2
    xp[...] = 0

    def run(args):
        np.copyto(inner, args[0])
        sums = window_sums()
        q = np.where(sums > 0, (sums + half) // counts, -((half - sums) // counts))
        return [_out(y, q)]
    return run


@int_kernel("ReduceMean")
def _mean(node: Node) -> Kernel:
    """TFLite MEAN int8 (reference QuantizedMeanOrSum): integer sum minus n * zp, rescaled by
    x_scale / y_scale folded with 1/n into one fixed-point multiplier."""
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    axes = node.attrs["axes"]
    axes = tuple(range(x.type.rank)) if axes is None else tuple(a % x.type.rank for a in axes)
    n = int(np.prod([x.shape[a] for a in axes]))
    m, sh = quantize_multiplier(np.float64(sx) / np.float64(sy))
    m, sh = int(m[0]), int(sh[0])
    k = min(n.bit_length() - 1, 32, 31 + sh)
    m = (m << k) // n
    sh -= k
    keep = node.attrs["keepdims"]

    def run(args):
        total = args[0].astype(np.int64).sum(axis=axes, keepdims=keep) - zx * n
        return [_out(y, multiply_by_quantized_multiplier(total, m, sh) + zy)]
    return run


def _bilinear_taps(out_size: int, in_size: int, mode: str):
    """TFLite ComputeInterpolationValuesInteger along one axis: (lower index, upper index,
    lower weight, upper weight), weights in units of 2**-10."""
    if mode == "align_corners" and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = ((1 << 10) * in_size + out_size // 2) // out_size
    pos = np.arange(out_size, dtype=np.int64) * scale
    if mode == "half_pixel":
        pos = pos + scale // 2 - (1 << 9)
    lower = np.maximum(np.trunc(pos / 1024).astype(np.int64), 0)  # C division truncates
    upper = np.minimum(np.trunc((pos + 1023) / 1024).astype(np.int64), in_size - 1)
    frac = pos - (lower << 10)
    return lower, upper, (1 << 10) - frac, frac


def _resize_bilinear(node: Node) -> Kernel:
    """TFLite RESIZE_BILINEAR int8 (reference_ops::ResizeBilinearInteger): 10-bit fixed-point
    source positions and weights per axis, the four corner products summed in int64 (2**-20
    units) and divided by 2**20 rounding half away from zero; in/out params must be equal."""
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    mode = node.attrs["coordinate_transformation_mode"]
    if mode not in ("half_pixel", "align_corners", "asymmetric") or x.type.rank != 4 or \
            tuple(x.shape[:2]) != tuple(y.shape[:2]):
        raise QuantizedExecutionError(f"{node.describe()}: quantized bilinear Resize takes a "
                                      "4-D tensor resized over its last two axes with TFLite's "
                                      "half_pixel, align_corners or asymmetric coordinates, got "
                                      f"{mode} from {list(x.shape)} to {list(y.shape)}")
    y0, y1, wy0, wy1 = (a[:, None] for a in _bilinear_taps(y.shape[2], x.shape[2], mode))
    x0, x1, wx0, wx1 = _bilinear_taps(y.shape[3], x.shape[3], mode)
    corners = [(y0, x0, wy0 * wx0), (y1, x0, wy1 * wx0), (y0, x1, wy0 * wx1),
               (y1, x1, wy1 * wx1)]

    def run(args):
        xa = args[0].astype(np.int64)
        acc = sum(xa[:, :, ya, xb] * w for ya, xb, w in corners)
        half = np.int64(1 << 19)
        q = np.where(acc > 0, (acc + half) >> 20, -((half - acc) >> 20))
        return [_out(y, q)]
    return run


@int_kernel("QuantizeLinear", "DequantizeLinear", "Cast")
def _boundary(node: Node) -> Kernel:
    """Ops that convert between real and integer values: their reference kernels are the
    integer semantics (QuantizeLinear rounds ties as its `rounding` attribute says)."""
    opdef, attrs_ = node.opdef, node.attrs
    return lambda args: opdef.evaluate(args, attrs_)


# ---------------------------------------------------------------- softmax (gemmlowp fixed point)

def _srdhm(a, b):
    return saturating_rounding_doubling_high_mul(a, b)


def _sat_shl(x, e: int):
    """gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent (int32)."""
    threshold = (1 << (31 - e)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << e))


_EXP_BARREL = [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242)]


def _exp_on_negative_values(a):
    """gemmlowp exp_on_negative_values for Q5.26 input (raw int64 arrays), Q0.31 output."""
    frac = 26
    quarter = 1 << (frac - 2)
    a_mod = (a & (quarter - 1)) - quarter
    x = _sat_shl(a_mod, 5) + (1 << 28)  # Rescale<0>, then + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(_srdhm(x4_over_4 + x3, 715827883) + x2, 1)
    result = 1895147668 + _srdhm(1895147668, x + poly)
    remainder = a_mod - a
    for exponent, multiplier in _EXP_BARREL:
        bit = (remainder & (1 << (frac + exponent))) != 0
        result = np.where(bit, _srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def _reciprocal(x, integer_digits: int):
    """TFLite GetReciprocal: (Q0.31 1/x scaled, num_bits_over_unit) of a positive Q(digits)."""
    x = np.asarray(x, np.int64)
    headroom = 32 - np.floor(np.log2(np.maximum(x, 1))).astype(np.int64) - 1  # clz(uint32)
    bits_over_unit = integer_digits - headroom
    shifted = ((x << headroom) & 0xFFFFFFFF) - (1 << 31)
    shifted = np.where(shifted >= (1 << 31), shifted - (1 << 32), shifted)
    # one_over_one_plus_x_for_x_in_0_1
    s = shifted + INT32_MAX
    half_den = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2))
    xq = 1515870810 + _srdhm(half_den, -1010580540)
    one_f2 = 1 << 29
    for _ in range(3):
        t = one_f2 - _srdhm(half_den, xq)
        xq = xq + _sat_shl(_srdhm(xq, t), 2)
    return _sat_shl(xq, 1), bits_over_unit


@int_kernel("Softmax")
def _softmax(node: Node) -> Kernel:
    """TFLite SOFTMAX int8/uint8 (reference_ops::Softmax): fixed-point exp of the scaled
    differences to the row max, summed in Q12.19, times the fixed-point reciprocal."""
    x, y = node.inputs[0], node.outputs[0]
    sx, _ = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    lo, hi = storage_range(y)
    if sy != 1.0 / 256 or zy != lo:
        raise QuantizedExecutionError(f"{node.describe()}: quantized Softmax needs output scale "
                                      f"1/256 and zero point {lo}, got {sy} and {zy}")
    real = min(np.float64(sx) * float(1 << 26), float((1 << 31) - 1))  # beta = 1
    m, shift = quantize_multiplier(real)
    m, shift = int(m[0]), int(shift[0])
    radius = int(np.floor(((1 << 5) - 1) * float(1 << 26) / float(1 << shift)))
    diff_min = -radius
    axis = node.attrs["axis"] % x.type.rank
    out_bits = y.dtype.bits

    def run(args):
        v = np.moveaxis(args[0].astype(np.int64), axis, -1)
        diff = v - v.max(axis=-1, keepdims=True)
        ok = diff >= diff_min
        scaled = _srdhm(diff * (1 << shift), m)
        e = np.where(ok, _exp_on_negative_values(scaled), 0)
        total = rounding_divide_by_pot(e, 12).sum(axis=-1, keepdims=True)
        recip, over = _reciprocal(total, 12)
        out = rounding_divide_by_pot(_srdhm(recip, e), over + 31 - out_bits) + lo
        out = np.where(ok, np.clip(out, lo, hi), lo)
        return [np.moveaxis(out, -1, axis).astype(y.dtype.numpy)]
    return run
