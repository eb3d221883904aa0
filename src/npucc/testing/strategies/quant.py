"""Appliers of casts and quantization (discontinuous: drawn only when named in `ops=`)."""

from __future__ import annotations

from npucc.ir import DType, Value

from .appliers import ANY, any_rank, applier
from .builder import GraphBuilder

# ---- casts and quantization (discontinuous: not in the default mix) ----

@applier("Cast", accepts=any_rank, kinds=ANY)
def _cast(b: GraphBuilder, v: Value):
    to = b.pick([v.dtype] + [d for d in b.dtypes if d is not v.dtype])
    b.emit("Cast", [v], to=to, layout=b.layout_of(v))


@applier("QuantizeLinear", accepts=lambda b, v: b.room(2), uses=("DequantizeLinear",))
def _quant_round_trip(b: GraphBuilder, v: Value):
    """QuantizeLinear then DequantizeLinear (what a QDQ model looks like). The quantized value is
    read only by its DequantizeLinear: an op reading it would have to run in integer arithmetic
    (npucc.numerics), whose kernels require consistently quantized operands and outputs."""
    dtype = b.pick([DType.u8, DType.i8])
    lo, hi = dtype.int_range
    scale = b.pick([0.05, 0.02, 0.1])
    zp = b.int_(lo + 64, hi - 64) if dtype is DType.u8 else b.int_(-8, 8)
    q = b.emit("QuantizeLinear", [v], scale=(scale,), zero_point=(zp,), dtype=dtype, hidden=True)
    b.emit("DequantizeLinear", [q], scale=(scale,), zero_point=(zp,), layout=b.layout_of(v))
