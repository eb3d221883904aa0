"""Text form of the IR (printer and parser). See docs/IR_TEXT.md for the grammar."""

from __future__ import annotations

from .types import QuantScheme, TensorType


def _fmt_floats(xs):
    return "[" + ", ".join(repr(float(x)) for x in xs) + "]" if len(xs) != 1 else repr(float(xs[0]))


def format_type(t: TensorType) -> str:
    """`f32[1,3,224,224]`, with quantization as `u8[1,8]<affine scale=0.5 zp=3>`,
    `i8[16,3,3,3]<affine axis=0 scale=[..] zp=[..]>` or `i8[4]<dfp fl=5>` (bits=N when not 8)."""
    s = f"{t.dtype.value}[{','.join(str(d) for d in t.shape)}]"
    q = t.quant
    if q is None:
        return s
    parts = [q.scheme.value]
    if q.scheme is QuantScheme.affine:
        if q.axis is not None:
            parts.append(f"axis={q.axis}")
        parts.append(f"scale={_fmt_floats(q.scale)}")
        zp = q.zero_point
        parts.append("zp=" + (str(zp[0]) if len(zp) == 1 else "[" + ", ".join(map(str, zp)) + "]"))
    else:
        parts.append(f"fl={q.frac_length}")
    if q.bits != 8:
        parts.append(f"bits={q.bits}")
    return f"{s}<{' '.join(parts)}>"
