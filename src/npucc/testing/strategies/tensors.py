"""Strategies for arrays, tensor types and quantization parameters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from npucc.compare import INPUT_RANGE, int_input_range
from npucc.ir import DType, Graph, QuantParams, TensorType

from .builder import MAX_SIDE


def _elements(dtype: DType) -> st.SearchStrategy:
    if dtype.is_float:
        width = 16 if dtype is DType.f16 else 32
        return st.floats(-INPUT_RANGE, INPUT_RANGE, width=width, allow_subnormal=False)
    if dtype is DType.bool:
        return st.booleans()
    return st.integers(*int_input_range(dtype))


def inputs_for(graph: Graph) -> st.SearchStrategy[list[np.ndarray]]:
    """Strategy drawing one array per graph input (same value ranges as `random_inputs`), so
    hypothesis can shrink a failing input too."""
    return st.tuples(*(hnp.arrays(v.dtype.numpy, v.shape, elements=_elements(v.dtype))
                       for v in graph.inputs)).map(list)


def quant_params(dtype: str | DType = "u8", *, shape: Sequence[int] | None = None,
                 schemes: Sequence[str] = ("affine", "dfp"),
                 per_axis: bool | None = None) -> st.SearchStrategy[QuantParams]:
    """Strategy drawing QuantParams valid for an integer `dtype` (and for `shape` when given:
    per-axis params then pick an axis of it; per_axis=None draws either). The bit width is at
    most the dtype's, and zero points lie in the range of that bit width."""
    dt = DType(dtype) if isinstance(dtype, str) else dtype
    if not dt.is_int:
        raise InvalidArgument(f"quantized tensors have an integer dtype, got {dt.value}")
    signed = dt.int_range[0] < 0
    scales = st.floats(1e-4, 1.0, allow_subnormal=False)
    axis_ok = shape is not None and len(shape) > 0 and per_axis is not False

    @st.composite
    def draw_params(draw):
        bits = draw(st.sampled_from([b for b in (8, 4, 16, 32) if b <= dt.bits]))
        scheme = draw(st.sampled_from(list(schemes)))
        if scheme == "dfp" and signed:  # symmetric: signed types, 8/16 bits (32/64: biases)
            dfp_bits = [b for b in (8, 16, 32, 64) if b <= dt.bits]
            return QuantParams.dfp(draw(st.integers(-8, 16)), bits=draw(st.sampled_from(dfp_bits)))
        # zero points inside the range of the bit width (which fits inside the storage type)
        zps = st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed \
            else st.integers(0, 2 ** bits - 1)
        if axis_ok and (per_axis or draw(st.booleans())):
            axis = draw(st.integers(0, len(shape) - 1))
            n = shape[axis]
            return QuantParams.affine(draw(st.lists(scales, min_size=n, max_size=n)),
                                      draw(st.lists(zps, min_size=n, max_size=n)),
                                      axis=axis, bits=bits)
        return QuantParams.affine(draw(scales), draw(zps), bits=bits)

    return draw_params()


def tensor_types(dtypes: Sequence[str | DType] = ("f32",), *, min_rank: int = 0,
                 max_rank: int = 4, max_side: int = MAX_SIDE,
                 quantized: bool | None = False) -> st.SearchStrategy[TensorType]:
    """Strategy drawing TensorTypes. quantized=True attaches QuantParams to integer types (float
    types stay unquantized), None draws either."""
    dts = [d if isinstance(d, DType) else DType(d) for d in dtypes]

    @st.composite
    def draw_type(draw):
        dt = draw(st.sampled_from(dts))
        shape = tuple(draw(st.lists(st.integers(1, max_side), min_size=min_rank,
                                    max_size=max_rank)))
        quant = None
        want_quant = quantized if quantized is not None else draw(st.booleans())
        if want_quant and dt.is_int:
            quant = draw(quant_params(dt, shape=shape))
        return TensorType(shape, dt, quant)

    return draw_type()
