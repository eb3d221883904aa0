"""Parsing the IR text form back into a Graph (the inverse of `format_graph`)."""

from __future__ import annotations

import difflib
import json
import re
import warnings
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from npucc import limits
from npucc.errors import IRError, LimitError, ParseError

from ..registry import OPS, _parse_slot
from ..types import DType, QuantParams, TensorType
from .printer import _UINT_OF_SIZE, format_type, payload_digest

# ---------------------------------------------------------------------------------------------

_SKIP = re.compile(r"(?:\s+|#[^\n]*)*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_BARE = re.compile(r"[A-Za-z0-9_.]+")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_INT = re.compile(r"[-+]?\d{1,100}(?![\w.])")  # longer: not an int (Python parses 4300 digits)
_REAL = r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|inf|nan"
_FLOAT = re.compile(rf"[-+]?(?:{_REAL})(?![\w.])")
_HEX = re.compile(r"[0-9a-fA-F]+")

# payload elements; a float may also be a NaN spelled by its bits
_ELEMENT = {"float": rf"[-+]?(?:nan\(0x[0-9a-fA-F]+\)|{_REAL})", "int": r"[-+]?\d+",
            "bool": r"true|false"}
_ELEMENTS = {k: re.compile(rf"\s*(?:{p})\s*(?:,\s*(?:{p})\s*)*") for k, p in _ELEMENT.items()}
_ONE_ELEMENT = {k: re.compile(rf"\s*(?:{p})\s*\Z") for k, p in _ELEMENT.items()}
_NAN_BITS = re.compile(r"[-+]?nan\(0x([0-9a-fA-F]+)\)")


_PLAIN_REALS = re.compile(r"[^0-9eE+\-.,\s]")  # a character beyond plain decimal numbers
_PLAIN_INTS = re.compile(r"[^0-9+\-,\s]")
_EMPTY = re.compile(r"\A\s*,|,\s*,|,\s*\Z|\A\s*\Z")  # an element missing between commas


def _fast_numbers(body: str, t: TensorType) -> np.ndarray | None:
    """The elements of a large dense payload of plain decimal numbers (no inf, nan or NaN bit
    patterns), parsed by numpy in C; None (the validating parser then reads it, and reports
    any error) when the body holds anything else, or numpy reads a different count of elements
    or integers outside the type's range. Small payloads take the validating parser."""
    if t.size < 4096 or t.dtype is DType.bool or (not t.dtype.is_float and t.dtype.bits > 32):
        return None
    if (_PLAIN_REALS if t.dtype.is_float else _PLAIN_INTS).search(body) or _EMPTY.search(body):
        return None  # numpy would read an empty element as -1
    try:
        with warnings.catch_warnings():  # numpy warns or raises when it stops before the end
            warnings.simplefilter("ignore", DeprecationWarning)
            # integers too (exact below 2**53): numpy's int64 reader takes a lone sign as 0
            arr = np.fromstring(body, dtype=np.float64, sep=",")
    except ValueError:
        return None
    if arr.size != t.size:
        return None
    if not t.dtype.is_float:
        lo, hi = t.dtype.int_range
        if arr.min() < lo or arr.max() > hi:
            return None
    return arr.astype(t.dtype.numpy)


def _kind_of(dtype: DType) -> str:
    return "bool" if dtype is DType.bool else "float" if dtype.is_float else "int"


class _Parser:
    def __init__(self, text: str, constants, source: str):
        if not (constants is None or isinstance(constants, Mapping)
                or (isinstance(constants, str) and constants in ("zeros", "random"))):
            raise IRError(f"parse: constants must be None, a mapping name -> array, 'zeros' or "
                          f"'random', got {constants!r}")
        self.text = text
        self.pos = 0
        self.constants = constants
        self.source = source
        self.defined: dict[str, int] = {}  # value name -> position of its definition

    # ---- error reporting ----
    def line_col(self, pos: int) -> tuple[int, int]:
        return self.text.count("\n", 0, pos) + 1, pos - self.text.rfind("\n", 0, pos)

    def error(self, message: str, pos: int | None = None) -> ParseError:
        pos = self.pos if pos is None else pos
        start = self.text.rfind("\n", 0, pos) + 1
        end = self.text.find("\n", pos)
        line_text = self.text[start:end if end >= 0 else len(self.text)]
        line, col = self.line_col(pos)
        caret = "".join(c if c == "\t" else " " for c in line_text[:pos - start]) + "^"
        return ParseError(f"{self.source}:{line}:{col}: {message}\n    {line_text}\n    {caret}")

    # ---- scanning ----
    def skip(self) -> int:
        self.pos = _SKIP.match(self.text, self.pos).end()
        return self.pos

    def peek(self, literal: str) -> bool:
        self.skip()
        return self.text.startswith(literal, self.pos)

    def accept(self, literal: str) -> bool:
        if self.peek(literal):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str, context: str = "") -> int:
        pos = self.skip()
        if not self.text.startswith(literal, pos):
            raise self.error(f"expected '{literal}'{context}, found {self.found(pos)}")
        self.pos += len(literal)
        return pos

    def found(self, pos: int) -> str:
        snippet = self.text[pos:pos + 12].split("\n")[0]
        return repr(snippet) if snippet else "the end of the input"

    def match(self, regex: re.Pattern, what: str) -> tuple[str, int]:
        pos = self.skip()
        m = regex.match(self.text, pos)
        if not m:
            raise self.error(f"expected {what}, found {self.found(pos)}")
        self.pos = m.end()
        return m.group(), pos

    def string(self) -> str:
        tok, pos = self.match(_STRING, "a quoted string")
        try:
            return json.loads(tok)
        except json.JSONDecodeError as e:
            raise self.error(f"bad string literal: {e.msg}", pos) from None

    def ident(self, what: str) -> tuple[str, int]:
        """A bare name ([A-Za-z0-9_.]+) or a quoted string."""
        pos = self.skip()
        if self.text.startswith('"', pos):
            return self.string(), pos
        return self.match(_BARE, what)

    def value_ref(self) -> tuple[str, int]:
        pos = self.expect("%", " (a value name)")
        if self.text[self.pos:self.pos + 1].isspace():
            raise self.error("no space allowed between '%' and the value name")
        name, _ = self.ident("a value name after '%'")
        return name, pos

    def integer(self, what: str = "an integer") -> int:
        tok, _ = self.match(_INT, what)
        return int(tok)

    def number(self) -> float:
        tok, _ = self.match(_FLOAT, "a number")
        return float(tok)

    def comma_list(self, item, close: str) -> list:
        """Items separated by commas up to (not including) `close`, or none."""
        out = []
        if self.peek(close):
            return out
        out.append(item())
        while self.accept(","):
            out.append(item())
        return out

    # ---- types ----
    def type_(self) -> tuple[TensorType, int]:
        tok, pos = self.match(_IDENT, "a type like f32[1,3,8,8]")
        try:
            dtype = DType(tok)
        except ValueError:
            near = difflib.get_close_matches(tok, [d.value for d in DType], n=3)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            raise self.error(f"unknown dtype {tok!r}{hint} (known: "
                             f"{', '.join(d.value for d in DType)})", pos) from None
        self.expect("[", " after the dtype (a shape like [1,3,8,8], [] for a scalar)")
        dims = self.comma_list(lambda: self.integer("a dimension"), "]")
        self.expect("]", " to close the shape")
        if len(dims) > limits.MAX_RANK:
            raise self.error(f"a shape of rank {len(dims)}; npucc takes at most "
                             f"{limits.MAX_RANK} (npucc.limits.MAX_RANK)", pos)
        quant = self.quant() if self.peek("<") else None
        try:
            return TensorType(dims, dtype, quant), pos
        except IRError as e:
            raise self.error(f"invalid type: {e}", pos) from None

    def quant(self) -> QuantParams:
        self.expect("<")
        tok, pos = self.match(_IDENT, "a quantization scheme (affine or dfp)")
        fields: dict[str, Any] = {}
        keys = {"affine": ("axis", "scale", "zp", "bits", "narrow"), "dfp": ("fl", "bits")}.get(tok)
        if keys is None:
            raise self.error(f"unknown quantization scheme {tok!r}; known: affine, dfp", pos)
        while not self.accept(">"):
            key, kpos = self.match(_IDENT, "a quantization field or '>'")
            if key not in keys:
                raise self.error(f"{tok} quantization has fields {', '.join(keys)}, "
                                 f"not {key!r}", kpos)
            if key == "narrow":  # a flag
                fields[key] = True
                continue
            self.expect("=")
            if key == "scale":
                fields[key] = self.number_or_list(self.number)
            elif key == "zp":
                fields[key] = self.number_or_list(self.integer)
            else:
                fields[key] = self.integer()
        try:
            if tok == "affine":
                if "scale" not in fields:
                    raise IRError("affine quantization needs scale=")
                return QuantParams.affine(fields["scale"], fields.get("zp", 0),
                                          axis=fields.get("axis"), bits=fields.get("bits", 8),
                                          narrow_range=fields.get("narrow", False))
            if "fl" not in fields:
                raise IRError("dfp quantization needs fl= (the fractional length)")
            return QuantParams.dfp(fields["fl"], bits=fields.get("bits", 8))
        except IRError as e:
            raise self.error(f"invalid quantization params: {e}", pos) from None

    def number_or_list(self, item):
        if self.accept("["):
            xs = self.comma_list(item, "]")
            self.expect("]")
            return xs
        return item()

    # ---- attributes ----
    def attr_value(self):
        pos = self.skip()
        if self.text.startswith("graph", pos) and not _BARE.match(self.text, pos + 5):
            return self.nested_graph()
        c = self.text[pos:pos + 1]
        if c == '"':
            return self.string()
        if c == "[":
            self.pos += 1
            xs = self.comma_list(self.attr_value, "]")
            self.expect("]", " to close the list")
            return tuple(xs)
        m = _INT.match(self.text, pos)
        if m:
            self.pos = m.end()
            return int(m.group())
        m = _FLOAT.match(self.text, pos)
        if m:
            self.pos = m.end()
            return float(m.group())
        m = _IDENT.match(self.text, pos)
        if m:
            word = m.group()
            words = {"true": True, "false": False, "none": None}
            if word in words:
                self.pos = m.end()
                return words[word]
            if word in {d.value for d in DType}:
                self.pos = m.end()
                return DType(word)
        raise self.error("expected an attribute value: an int, a float (1.0, 1e-5, inf, nan), "
                         "true/false, none, a quoted string, a dtype name or a [list]")

    def attrs(self) -> tuple[dict, dict]:
        values, where = {}, {}
        while not self.accept("}"):
            if values:
                self.expect(",", " or '}' between attributes")
            key, pos = self.ident("an attribute name")
            if key in values:
                raise self.error(f"attribute '{key}' is given twice", pos)
            self.expect("=", f" after attribute name '{key}'")
            values[key], where[key] = self.attr_value(), pos
        return values, where

    # ---- payloads ----
    def payload(self, t: TensorType, name: str, pos: int) -> np.ndarray:
        try:  # a splat or a filled elided payload allocates what the type declares: bound it
            limits.check_shape(t.shape, np.dtype(t.dtype.numpy).itemsize, f"constant %{name}")
        except LimitError as e:
            raise self.error(str(e), pos) from None
        word, wpos = self.match(_IDENT, "a payload: dense<...> or elided")
        if word == "dense":
            self.expect("<")
            arr = self.dense(t)
            self.expect(">", " to close dense<...>")
            return arr
        if word == "elided":
            digest = None
            if self.accept("<"):
                self.expect("sha256:")
                digest, _ = self.match(_HEX, "hex digits of a sha256")
                self.expect(">")
            return self.elided(t, name, digest.lower() if digest else None, pos)
        raise self.error(f"expected a payload, dense<...> or elided, found {word!r}", wpos)

    def dense(self, t: TensorType) -> np.ndarray:
        kind = _kind_of(t.dtype)
        start = self.skip()
        if self.text.startswith("[", start):
            end = self.text.find("]", start)
            if end < 0:
                raise self.error("unclosed '[' in dense payload", start)
            body_start, body = start + 1, self.text[start + 1:end]
            self.pos = end + 1
            fast = _fast_numbers(body, t)
            if fast is not None:
                return fast.reshape(t.shape)
            if not body.strip():
                tokens = []
            else:
                if not _ELEMENTS[kind].fullmatch(body):
                    raise self._bad_element(body, body_start, kind, t)
                tokens = [s.strip() for s in body.split(",")]
            if len(tokens) != t.size:
                raise self.error(f"dense payload has {len(tokens)} elements, "
                                 f"{format_type(t)} has {t.size}", start)
            return self.elements(tokens, t, start).reshape(t.shape)
        end = self.text.find(">", start)
        tok = self.text[start:end if end >= 0 else len(self.text)]
        if end < 0 or not _ONE_ELEMENT[kind].match(tok):
            raise self._bad_element(tok, start, kind, t)
        self.pos = end
        one = self.elements([tok.strip()], t, start).reshape(())
        return np.broadcast_to(one, t.shape).copy()

    def _bad_element(self, body: str, body_start: int, kind: str, t: TensorType) -> ParseError:
        offset = 0
        for piece in body.split(","):
            if not _ONE_ELEMENT[kind].match(piece):
                lead = len(piece) - len(piece.lstrip())
                return self.error(f"bad {t.dtype.value} element {piece.strip()!r} in dense "
                                  f"payload (expected {kind} values)", body_start + offset + lead)
            offset += len(piece) + 1
        return self.error(f"bad dense payload for {format_type(t)}", body_start)

    def elements(self, tokens: list[str], t: TensorType, pos: int) -> np.ndarray:
        dtype, store = t.dtype, t.dtype.numpy
        if dtype is DType.bool:
            return np.array([s == "true" for s in tokens], dtype=np.bool_)
        if dtype.is_float:
            nan_bits = {i: int(m.group(1), 16) for i, s in enumerate(tokens)
                        if (m := _NAN_BITS.fullmatch(s))}
            for i in nan_bits:
                tokens[i] = "nan"
            arr = np.array(tokens, dtype=str).astype(np.float64).astype(store)
            if nan_bits:
                raw = arr.view(_UINT_OF_SIZE[store.itemsize])
                for i, bits in nan_bits.items():
                    fits = bits < 1 << (8 * store.itemsize)
                    if not fits or not np.isnan(np.array([bits], raw.dtype).view(store)[0]):
                        raise self.error(f"nan(0x{bits:x}) is not a NaN bit pattern of "
                                         f"{dtype.value}", pos)
                    raw[i] = bits
            return arr
        if any(len(s) > 100 for s in tokens):
            raise self.error(f"an integer of more than 100 digits in a {dtype.value} payload", pos)
        ints = [int(s) for s in tokens]
        lo, hi = dtype.int_range
        bad = [x for x in ints if not lo <= x <= hi]
        if bad:
            raise self.error(f"value {bad[0]} is outside the {dtype.value} range {lo}..{hi}", pos)
        return np.array(ints, dtype=store)

    def elided(self, t: TensorType, name: str, digest: str | None, pos: int) -> np.ndarray:
        src = self.constants
        if isinstance(src, Mapping) and name in src:
            arr = np.asarray(src[name])
            if arr.shape != t.shape:
                raise self.error(f"payload given for elided constant %{name} has shape "
                                 f"{list(arr.shape)}, its type is {format_type(t)}", pos)
            cast = arr.astype(t.dtype.numpy)
            if not np.array_equal(cast.astype(arr.dtype), arr, equal_nan=arr.dtype.kind in "fc"):
                raise self.error(f"payload given for elided constant %{name} has dtype "
                                 f"{arr.dtype} whose values do not fit {t.dtype.value}", pos)
            if digest and not payload_digest(cast).startswith(digest):
                raise self.error(f"payload given for elided constant %{name} does not match its "
                                 f"recorded sha256:{digest}", pos)
            return cast
        if src == "zeros":
            return np.zeros(t.shape, t.dtype.numpy)
        if src == "random":
            return random_payload(t, seed=zlib.crc32(name.encode()))
        raise self.error(f"constant %{name} is elided; give its payload with "
                         f"parse(text, constants={{{name!r}: array}}), or constants='zeros' or "
                         f"'random' for hand-written test IR", pos)

    # ---- statements ----
    def use(self, graph):
        """An operand: `%name` (must already be defined) or `_` (an absent optional input)."""
        pos = self.skip()
        if self.text.startswith("_", pos) and not _BARE.match(self.text, pos + 1):
            self.pos += 1
            return None
        name, pos = self.value_ref()
        return self.lookup(graph, name, pos)

    def lookup(self, graph, name: str, pos: int):
        if graph.has_value(name):
            return graph.value(name)
        near = difflib.get_close_matches(name, list(self.defined), n=3)
        hint = f"; did you mean {', '.join('%' + n for n in near)}?" if near else ""
        raise self.error(f"undefined value %{name} (a value must be defined before it is "
                         f"used){hint}", pos)

    def define(self, name: str, pos: int) -> None:
        if name in self.defined:
            line, col = self.line_col(self.defined[name])
            raise self.error(f"value %{name} is already defined (at {line}:{col}); "
                             "SSA values are defined once", pos)
        self.defined[name] = pos

    def statement(self, graph) -> bool:
        """Parse one statement into `graph`; False after `return`."""
        pos = self.skip()
        if self.text.startswith("return", pos) and not _BARE.match(self.text, pos + 6):
            self.pos += 6
            if self.peek("}"):
                self.returned = []
            else:
                self.returned = self.comma_list(self.value_ref, "}")
            return False
        if pos == len(self.text):
            raise self.error("the graph body ends without 'return ...' and '}'")
        names = []
        if self.text.startswith("%", pos):
            names = self.comma_list(self.value_ref, "=")
            self.expect("=", " after the defined value names")
        opos = self.skip()
        if self.text.startswith("const", opos) and not _BARE.match(self.text, opos + 5):
            self.pos += 5
            self.constant(graph, names, opos)
        else:
            self.node(graph, names)
        return True

    def constant(self, graph, names, pos) -> None:
        if len(names) != 1:
            raise self.error(f"a constant defines one value, got {len(names)}", pos)
        name, npos = names[0]
        self.define(name, npos)
        t, _ = self.type_()
        arr = self.payload(t, name, npos)
        graph.add_constant(arr, name, dtype=t.dtype, quant=t.quant)

    def node(self, graph, names) -> None:
        op, opos = self.match(_IDENT, "an op name, 'const' or 'return'")
        opdef = OPS.get(op)
        if opdef is None:
            raise self.error(OPS.unknown(op), opos)
        ppos = self.expect("(", f" after op name {op}")
        inputs = self.comma_list(lambda: self.use(graph), ")")
        self.expect(")", " to close the operand list")
        attrs, where = self.attrs() if self.accept("{") else ({}, {})
        types = []
        if self.accept(":"):
            types = [self.type_()]
            while self.accept(","):
                types.append(self.type_())
        provenance = []
        if self.accept("loc"):
            self.expect("(")
            provenance = self.comma_list(self.string, ")")
            self.expect(")", " to close loc(...)")
        try:
            opdef.check_arity(len(inputs))
        except IRError as e:
            raise self.error(str(e), ppos) from None
        for i, (v, slot) in enumerate(zip(inputs, opdef.inputs)):
            name, kind = _parse_slot(slot)
            if v is None and kind != "optional":
                raise self.error(f"{op}: input {i} ({name}) is required; '_' marks only an "
                                 f"absent optional input", ppos)
        try:
            norm = opdef.normalize_attrs(attrs)
        except IRError as e:
            apos = next((p for k, p in where.items() if f"'{k}'" in str(e) or
                         (k not in opdef.attrs and "unknown attribute" in str(e))), opos)
            raise self.error(str(e), apos) from None
        try:
            inferred = opdef.infer_types([None if v is None else v.type for v in inputs], norm)
        except IRError as e:
            raise self.error(f"{op}: {e}", opos) from None
        if len(names) != len(inferred):
            raise self.error(f"{op} defines {len(inferred)} value(s) here, "
                             f"{len(names)} name(s) given", opos)
        if types and len(types) != len(inferred):
            raise self.error(f"{op} has {len(inferred)} output(s), {len(types)} type(s) given",
                             types[0][1])
        for (name, npos), (given, tpos), want in zip(names, types, inferred):
            if (given.shape, given.dtype) != (want.shape, want.dtype):
                raise self.error(f"type mismatch: %{name} is written {format_type(given)} but "
                                 f"{op} infers {format_type(want)} from its operands", tpos)
        for name, npos in names:
            self.define(name, npos)
        graph.add_node(op, inputs, norm, output_names=[n for n, _ in names],
                       output_types=[t for t, _ in types] if types else None,
                       provenance=provenance)

    def nested_graph(self):
        """A graph as an attribute value: its own scope of value names."""
        outer = self.defined, getattr(self, "returned", None)
        self.defined = {}
        g = self.graph_body()
        self.defined, self.returned = outer
        return g

    def graph(self):
        g = self.graph_body()
        if self.skip() != len(self.text):
            raise self.error("unexpected text after the graph")
        return g

    def graph_body(self):
        from ..graph import Graph

        self.expect("graph", " (a graph starts with 'graph NAME(...)')")
        name, _ = self.ident("a graph name")
        g = Graph(name)
        self.expect("(", " after the graph name")

        def graph_input():
            vname, pos = self.value_ref()
            self.expect(":", f" and a type after input %{vname}")
            t, _ = self.type_()
            self.define(vname, pos)
            g.add_input(vname, t)
        self.comma_list(graph_input, ")")
        self.expect(")", " to close the input list")
        header = None
        if self.accept("->"):
            self.expect("(", " before the output names")
            header = self.comma_list(self.value_ref, ")")
            self.expect(")", " to close the output names")
        if self.accept("numerics"):
            self.expect("=", " after numerics")
            g.numerics, _ = self.ident("the name of the graph's numerics (tflite or affine)")
        self.expect("{", " to open the graph body")
        while self.statement(g):
            pass
        self.expect("}", " to close the graph body (nothing may follow 'return')")
        outs = [self.lookup(g, n, p) for n, p in self.returned]
        if header is not None:
            for n, p in header:
                self.lookup(g, n, p)
            if [n for n, _ in header] != [n for n, _ in self.returned]:
                raise self.error(f"the header lists outputs {[n for n, _ in header]} but return "
                                 f"gives {[n for n, _ in self.returned]}",
                                 header[0][1] if header else self.returned[0][1])
        g.set_outputs(outs)
        return g


def random_payload(t: TensorType, seed: int) -> np.ndarray:
    """A deterministic random payload for a type: standard normal floats (bf16 rounded to bf16),
    integers in the intersection of the type's range and -128..127, random bools."""
    rng = np.random.default_rng(seed)
    if t.dtype is DType.bool:
        return rng.integers(0, 2, t.shape).astype(np.bool_)
    if t.dtype.is_int:
        lo, hi = t.dtype.int_range
        return rng.integers(max(lo, -128), min(hi, 127) + 1, t.shape).astype(t.dtype.numpy)
    arr = rng.standard_normal(t.shape).astype(t.dtype.numpy)
    if t.dtype is DType.bf16:  # round to nearest even on the upper 16 bits
        u = arr.view(np.uint32).astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
        arr = u.astype(np.uint32).view(np.float32)
    return arr


def parse(text: str, constants=None, *, source: str = "<ir>"):
    """Parse the text form into a Graph (inverse of `format_graph`).

    `constants` supplies the payloads of elided constants: a mapping name -> array, or 'zeros' /
    'random' (seeded by the constant's name) to fill every elided payload, for hand-written
    test IR. Raises ParseError naming line:column with a caret under the problem.
    """
    try:
        return _Parser(text, constants, source).graph()
    except RecursionError:
        raise ParseError(f"{source}: lists or graphs nested too deeply") from None


# ---------------------------------------------------------------------------------------------
# Equality
