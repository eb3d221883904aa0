"""Value types of the IR: element types, quantization parameters and tensor types.

All three are immutable values: equal when their fields are equal, hashable, validated on creation.
"""

from __future__ import annotations

import enum
import math

import attrs
import numpy as np

from ..errors import IRError


class DType(enum.Enum):
    """Element type of a tensor. The value is the short name used in the text form."""

    f32 = "f32"
    f16 = "f16"
    bf16 = "bf16"
    i64 = "i64"
    i32 = "i32"
    i16 = "i16"
    i8 = "i8"
    u8 = "u8"
    bool = "bool"

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype that stores this type. bf16 has no numpy type: it is stored as float32
        holding values rounded to bf16 precision."""
        return _TO_NUMPY[self]

    @classmethod
    def from_numpy(cls, dtype) -> DType:
        dtype = np.dtype(dtype)
        try:
            return _FROM_NUMPY[dtype]
        except KeyError:
            raise IRError(f"numpy dtype {dtype} has no npucc DType") from None

    @property
    def is_float(self) -> bool:
        return self in (DType.f32, DType.f16, DType.bf16)

    @property
    def is_int(self) -> bool:
        return self in (DType.i64, DType.i32, DType.i16, DType.i8, DType.u8)

    @property
    def bits(self) -> int:
        return _BITS[self]

    @property
    def int_range(self) -> tuple[int, int]:
        """(min, max) representable by an integer type."""
        if not self.is_int:
            raise IRError(f"{self.value} is not an integer type")
        info = np.iinfo(self.numpy)
        return int(info.min), int(info.max)

    def __repr__(self) -> str:
        return f"DType.{self.name}"


_TO_NUMPY = {
    DType.f32: np.dtype(np.float32),
    DType.f16: np.dtype(np.float16),
    DType.bf16: np.dtype(np.float32),
    DType.i64: np.dtype(np.int64),
    DType.i32: np.dtype(np.int32),
    DType.i16: np.dtype(np.int16),
    DType.i8: np.dtype(np.int8),
    DType.u8: np.dtype(np.uint8),
    DType.bool: np.dtype(np.bool_),
}
_FROM_NUMPY = {v: k for k, v in _TO_NUMPY.items() if k is not DType.bf16}
_BITS = {DType.f32: 32, DType.f16: 16, DType.bf16: 16, DType.i64: 64, DType.i32: 32,
         DType.i16: 16, DType.i8: 8, DType.u8: 8, DType.bool: 8}


class QuantScheme(enum.Enum):
    """How stored integers map to real numbers."""

    affine = "affine"  # real = scale * (q - zero_point), per tensor or per axis
    dfp = "dfp"  # dynamic fixed point: real = q * 2**-frac_length


def _as_float_tuple(v):
    return tuple(float(x) for x in np.atleast_1d(np.asarray(v, dtype=np.float64)))


def _as_int_tuple(v):
    return tuple(int(x) for x in np.atleast_1d(np.asarray(v, dtype=np.int64)))


@attrs.frozen
class QuantParams:
    """Quantization parameters of a tensor: what its stored integers mean.

    Use the constructors `QuantParams.affine(...)` and `QuantParams.dfp(...)`.
    - affine: real = scale * (q - zero_point); per tensor (one scale and zero point, `axis=None`)
      or per axis (one of each per index of `axis`). `narrow_range` marks symmetric narrow-range
      params (every zero point 0, q in [-(2**(bits-1) - 1), 2**(bits-1) - 1], as int8 weights).
    - dfp, dynamic fixed point: real = q * 2**-frac_length, symmetric and always narrow-range;
      bits 8 or 16 for tensors, 32 or 64 for biases and accumulators (at fl_x + fl_w).
    `bits` is the width of the integers (at most the storage type's). Checks that need the
    storage type and shape (zero point ranges, axis size) happen in `TensorType`.
    """

    scheme: QuantScheme
    scale: tuple[float, ...] = attrs.field(default=(), converter=_as_float_tuple)
    zero_point: tuple[int, ...] = attrs.field(default=(), converter=_as_int_tuple)
    axis: int | None = None
    frac_length: int | None = None
    bits: int = 8
    narrow_range: bool = False

    def __attrs_post_init__(self):
        if self.scheme is QuantScheme.affine:
            self._check_affine()
        else:
            self._check_dfp()

    def _check_affine(self):
        if not self.scale or len(self.scale) != len(self.zero_point):
            raise IRError(f"affine quantization needs as many scales as zero points, "
                          f"got {len(self.scale)} and {len(self.zero_point)}")
        if any(not (s > 0 and math.isfinite(s)) for s in self.scale):
            raise IRError(f"quantization scales must be finite and > 0, got {self.scale}")
        if self.axis is None and len(self.scale) != 1:
            raise IRError(f"per-tensor quantization takes one scale, got {len(self.scale)}; "
                          "give axis= for per-axis quantization")
        if self.frac_length is not None:
            raise IRError("frac_length belongs to dynamic fixed point, not affine quantization")
        if self.bits not in (4, 8, 16, 32):
            raise IRError(f"affine quantization bit width must be 4, 8, 16 or 32, got {self.bits}")
        if self.narrow_range and any(self.zero_point):
            raise IRError(f"symmetric narrow-range quantization has zero points 0, got "
                          f"{self.zero_point}")

    def _check_dfp(self):
        if self.frac_length is None or isinstance(self.frac_length, bool) \
                or int(self.frac_length) != self.frac_length:
            raise IRError(f"dynamic fixed point quantization needs an integer frac_length, "
                          f"got {self.frac_length!r}")
        if not DFP_FRAC_LENGTHS[0] <= self.frac_length <= DFP_FRAC_LENGTHS[1]:
            raise IRError(f"frac_length {self.frac_length} is outside {DFP_FRAC_LENGTHS[0]}.."
                          f"{DFP_FRAC_LENGTHS[1]} (2**-fl must be a normal float32 scale)")
        if self.scale or self.zero_point or self.axis is not None:
            raise IRError("dynamic fixed point quantization takes only frac_length and bits")
        if self.bits not in (8, 16, 32, 64):
            raise IRError(f"dynamic fixed point bit width must be 8 or 16 (32 or 64 for biases), "
                          f"got {self.bits}")
        if self.narrow_range:
            raise IRError("dynamic fixed point is always symmetric narrow-range: leave "
                          "narrow_range unset")

    @classmethod
    def affine(cls, scale, zero_point=0, *, axis=None, bits=8, narrow_range=False
               ) -> QuantParams:
        scale_t = _as_float_tuple(scale)
        zp_t = _as_int_tuple(zero_point)
        if len(zp_t) == 1 and len(scale_t) > 1:
            zp_t = zp_t * len(scale_t)
        return cls(QuantScheme.affine, scale_t, zp_t, axis, None, bits, bool(narrow_range))

    @classmethod
    def dfp(cls, frac_length: int, *, bits=8) -> QuantParams:
        if isinstance(frac_length, (int, np.integer)) and not isinstance(frac_length, bool):
            frac_length = int(frac_length)
        return cls(QuantScheme.dfp, (), (), None, frac_length, bits)

    @property
    def per_axis(self) -> bool:
        return self.axis is not None

    @property
    def narrow(self) -> bool:
        """Symmetric narrow range: the lowest integer of the width is not used."""
        return self.narrow_range or self.scheme is QuantScheme.dfp

    @property
    def power_of_two(self) -> bool:
        """Every scale is a power of two and every zero point 0 (dynamic fixed point always)."""
        if self.scheme is QuantScheme.dfp:
            return True
        return not any(self.zero_point) and all(math.frexp(s)[0] == 0.5 for s in self.scale)

    def real_scale(self) -> np.ndarray:
        """Scale(s) as a float64 array (2**-frac_length for dynamic fixed point)."""
        return np.array(self.as_affine()[0])

    def as_affine(self) -> tuple[tuple[float, ...], tuple[int, ...], int | None]:
        """(scales, zero points, axis) of the affine view: dfp is scale 2**-fl, zero point 0."""
        if self.scheme is QuantScheme.dfp:
            return (2.0 ** -self.frac_length,), (0,), None
        return self.scale, self.zero_point, self.axis

    def int_range(self, dtype: DType) -> tuple[int, int]:
        """The integers a tensor of these params stored in `dtype` may hold: the `bits`-wide
        range of the dtype's signedness, without its lowest value when narrow."""
        signed = dtype.int_range[0] < 0
        if not signed:
            return 0, (1 << self.bits) - 1
        hi = (1 << (self.bits - 1)) - 1
        return (-hi if self.narrow else -hi - 1), hi

    def check_against(self, shape: tuple[int, ...], dtype: DType) -> None:
        """Raise IRError if these params cannot describe a tensor of this shape and dtype."""
        if not dtype.is_int:
            raise IRError(f"quantization params on a {dtype.value} tensor; quantized tensors "
                          "are stored in integer types")
        if self.bits > dtype.bits:
            raise IRError(f"{self.bits}-bit quantization does not fit in {dtype.value}")
        signed = dtype.int_range[0] < 0
        if self.narrow and not signed:
            what = "dynamic fixed point" if self.scheme is QuantScheme.dfp else "narrow-range"
            raise IRError(f"{what} quantization is symmetric: it needs a signed type, "
                          f"got {dtype.value}")
        lo, hi = self.int_range(dtype)
        bad = [z for z in self.zero_point if not lo <= z <= hi]
        if bad:
            width = f" ({self.bits}-bit)" if self.bits < dtype.bits else ""
            raise IRError(f"zero point {bad[0]} outside the {dtype.value} range {lo}..{hi}"
                          f"{width}")
        if self.axis is not None:
            if not -len(shape) <= self.axis < len(shape):
                raise IRError(f"quantization axis {self.axis} out of range for rank {len(shape)}")
            n = shape[self.axis]
            if len(self.scale) != n:
                raise IRError(f"per-axis quantization on axis {self.axis} of size {n} "
                              f"has {len(self.scale)} scales")


DFP_FRAC_LENGTHS = (-127, 126)  # 2**-fl stays a normal float32 (QDQ export writes float32 scales)


def _as_shape(v):
    try:
        shape = tuple(int(d) for d in v)
    except TypeError:
        raise IRError(f"a shape is a sequence of ints, got {v!r}") from None
    if any(d < 0 for d in shape):
        raise IRError(f"shape dimensions must be >= 0, got {shape}")
    return shape


def _as_dtype(v):
    if isinstance(v, DType):
        return v
    if isinstance(v, str):
        try:
            return DType(v)
        except ValueError:
            raise IRError(f"unknown dtype {v!r}; known: "
                          f"{', '.join(d.value for d in DType)}") from None
    return DType.from_numpy(v)


@attrs.frozen
class TensorType:
    """Static shape, element type and (for quantized tensors) quantization params."""

    shape: tuple[int, ...] = attrs.field(converter=_as_shape)
    dtype: DType = attrs.field(converter=_as_dtype)
    quant: QuantParams | None = None

    def __attrs_post_init__(self):
        if self.quant is not None:
            self.quant.check_against(self.shape, self.dtype)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.numpy.itemsize

    def with_shape(self, shape) -> TensorType:
        return TensorType(shape, self.dtype)

    def without_quant(self) -> TensorType:
        return self if self.quant is None else TensorType(self.shape, self.dtype)

    @classmethod
    def of(cls, array: np.ndarray) -> TensorType:
        """The type of a numpy array."""
        return cls(array.shape, DType.from_numpy(array.dtype))

    def __str__(self) -> str:
        from .text import format_type  # text form is the one place that spells types

        return format_type(self)
