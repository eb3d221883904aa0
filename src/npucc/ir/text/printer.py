"""Printing the IR text form: types, attribute values, payloads, nodes and whole graphs."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np

from npucc.errors import IRError

from ..types import DType, QuantScheme, TensorType

# ---------------------------------------------------------------------------------------------
# Printing atoms
# ---------------------------------------------------------------------------------------------

_BARE_NAME = re.compile(r"[A-Za-z0-9_.]+\Z")
_HASH_CHARS = 16  # hex digits of the sha256 printed for an elided payload


def _fmt_floats(xs):
    return "[" + ", ".join(repr(float(x)) for x in xs) + "]" if len(xs) != 1 else repr(float(xs[0]))


def format_type(t: TensorType) -> str:
    """`f32[1,3,224,224]`, with quantization as `u8[1,8]<affine scale=0.5 zp=3>`,
    `i8[16,3,3,3]<affine axis=0 scale=[..] zp=[..] narrow>` or `i8[4]<dfp fl=5>` (bits=N when
    not 8; `narrow` for symmetric narrow-range params)."""
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
        if q.narrow_range:
            parts.append("narrow")
    else:
        parts.append(f"fl={q.frac_length}")
    if q.bits != 8:
        parts.append(f"bits={q.bits}")
    return f"{s}<{' '.join(parts)}>"


def _fmt_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _fmt_ident(name: str) -> str:
    """A name as printed: bare when it is [A-Za-z0-9_.]+, else a quoted string."""
    return name if _BARE_NAME.match(name) else _fmt_string(name)


def format_value_name(name: str) -> str:
    """`%x`, or `%"conv1/w:0"` for a name that is not [A-Za-z0-9_.]+."""
    return "%" + _fmt_ident(name)


def format_attr_value(v: Any, *, max_inline: int | None = 16, indent: str = "") -> str:
    """An attribute value with its kind recoverable from the text: ints `3`, floats always with a
    '.' or exponent (`3.0`, `1e-05`, `inf`, `nan`), bools `true`/`false`, strings quoted, dtypes
    bare (`u8`), sequences `[1, 2]`, None `none`, a nested graph as `graph NAME(...) {...}` (its
    lines indented by `indent` plus two spaces)."""
    if _is_graph(v):
        return format_graph(v, max_inline=max_inline, indent=indent)
    if v is None:
        return "none"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, str):
        return _fmt_string(v)
    if isinstance(v, DType):
        return v.value
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_attr_value(x) for x in v) + "]"
    raise IRError(f"attribute value {v!r} of type {type(v).__name__} has no text form")


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------

_UINT_OF_SIZE = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _bits(arr: np.ndarray) -> np.ndarray:
    """The raw storage bits of `arr` as unsigned ints (bitwise comparisons, NaN payloads)."""
    return np.asarray(arr, order="C").view(_UINT_OF_SIZE[arr.dtype.itemsize])


def payload_digest(arr: np.ndarray) -> str:
    """The hex sha256 of a payload's bytes (C order, storage dtype)."""
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _payload_tokens(flat: np.ndarray, dtype: DType) -> list[str]:
    """One token per element. Floats use the shortest text that reads back to the same value in
    the storage type; where that would not be bit-exact (a NaN with a non-default payload or
    sign, or a rare double-rounding case) the element is spelled exactly instead."""
    if dtype is DType.bool:
        return ["true" if x else "false" for x in flat.tolist()]
    if not dtype.is_float:
        return [str(x) for x in flat.tolist()]
    tokens = flat.astype(str)
    back = tokens.astype(np.float64).astype(flat.dtype)
    (bad,) = np.nonzero(_bits(back) != _bits(flat))
    tokens = tokens.tolist()
    width = flat.dtype.itemsize * 2
    for i in bad.tolist():
        x = flat[i]
        if np.isnan(x):
            tokens[i] = f"nan(0x{int(_bits(flat[i:i + 1])[0]):0{width}x})"
        else:
            tokens[i] = repr(float(x))
    return tokens


def _format_payload(arr: np.ndarray, dtype: DType, max_inline: int | None) -> str:
    flat = arr.reshape(-1)
    if flat.size and (_bits(flat) == _bits(flat[:1])).all():
        return f"dense<{_payload_tokens(flat[:1], dtype)[0]}>"  # splat: every element equal
    if max_inline is not None and flat.size > max_inline:
        return f"elided<sha256:{payload_digest(arr)[:_HASH_CHARS]}>"
    return f"dense<[{', '.join(_payload_tokens(flat, dtype))}]>"


# ---------------------------------------------------------------------------------------------
# Printer
# ---------------------------------------------------------------------------------------------

def _is_graph(v) -> bool:
    from ..graph import Graph  # not at the top: the graph module imports this one lazily

    return isinstance(v, Graph)


def _format_node(node, max_inline: int | None = 16, indent: str = "  ") -> str:
    args = ", ".join("_" if v is None else format_value_name(v.name) for v in node.inputs)
    s = f"{node.op}({args})"
    if node.attrs:
        s += " {" + ", ".join(f"{_fmt_ident(k)}="
                              f"{format_attr_value(v, max_inline=max_inline, indent=indent)}"
                              for k, v in node.attrs.items()) + "}"
    if node.outputs:
        s = ", ".join(format_value_name(v.name) for v in node.outputs) + " = " + s
        s += " : " + ", ".join(format_type(v.type) for v in node.outputs)
    if node.provenance:
        s += " loc(" + ", ".join(_fmt_string(p) for p in sorted(node.provenance)) + ")"
    return s


def _numerics_clause(graph) -> str:
    """` numerics=NAME` when the graph has affine-quantized values (whose arithmetic it names)
    or a non-default setting."""
    from ..graph import DEFAULT_NUMERICS

    affine = any(v.type.quant is not None and v.type.quant.scheme is QuantScheme.affine
                 for v in graph.values())
    if graph.numerics == DEFAULT_NUMERICS and not affine:
        return ""
    return f" numerics={_fmt_ident(graph.numerics)}"


def _meta_comment(*items) -> str:
    parts = [f"{k}={v!r}" for item in items for k, v in item.meta.items()]
    return ("  # " + ", ".join(parts)) if parts else ""


def format_graph(graph, *, max_inline: int | None = 16, meta: bool = False,
                 indent: str = "") -> str:
    """The text form of `graph`. Constant payloads with more than `max_inline` elements are elided
    (printed as their sha256) unless `max_inline=None`; payloads whose elements are all equal are
    always printed as one splat value. `meta=True` adds Value.meta / Node.meta as comments
    (the parser skips them). `indent` prefixes every line but the first (a nested graph printed
    as an attribute value)."""
    ins = ", ".join(f"{format_value_name(v.name)}: {format_type(v.type)}" for v in graph.inputs)
    outs = ", ".join(format_value_name(v.name) for v in graph.outputs)
    inner = indent + "  "
    lines = [f"graph {_fmt_ident(graph.name)}({ins}) -> ({outs}){_numerics_clause(graph)} {{"]
    if meta:
        lines += [f"{inner}# %{v.name}{_meta_comment(v)[2:]}" for v in graph.inputs if v.meta]
    for c in graph.constants:
        lines.append(f"{inner}{format_value_name(c.name)} = const {format_type(c.type)} "
                     f"{_format_payload(c.const, c.dtype, max_inline)}"
                     f"{_meta_comment(c) if meta else ''}")
    for node in graph.nodes:
        lines.append(inner + _format_node(node, max_inline, inner)
                     + (_meta_comment(node, *node.outputs) if meta else ""))
    lines.append((f"{inner}return " + outs) if outs else f"{inner}return")
    lines.append(indent + "}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Parser
