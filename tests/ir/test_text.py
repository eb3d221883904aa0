"""The IR text form: the printer follows docs/IR_TEXT.md, the parser is its exact inverse, and
parse errors point at the problem. Payload oracles are numpy arrays compared bit for bit."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npucc.errors import IRError, ParseError
from npucc.ir import DType, Graph, QuantParams, TensorType, format_graph, parse
from npucc.ir.text import describe_difference, graphs_equal, payload_digest
from npucc.testing import graphs, tensor_types

BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(BITS[a.dtype.itemsize])


def assert_round_trip(g: Graph) -> Graph:
    """Print exactly, parse, and check the parsed graph equals g and prints the same text."""
    text = format_graph(g, max_inline=None)
    back = parse(text)
    assert describe_difference(g, back) is None, text
    assert format_graph(back, max_inline=None) == text
    return back


def body_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()[1:-1]]


def simple_graph() -> Graph:
    g = Graph("main")
    x = g.add_input("x", TensorType((1, 3, 4, 4), "f32"))
    w = g.add_constant(np.arange(9, dtype=np.float32).reshape(3, 1, 3, 1) / 8, "conv1/w:0")
    y = g.op("Conv", x, w, None, group=3, pads=[1, 0, 1, 0], provenance=["conv1", "bn1"],
             name="y")
    g.set_outputs([y])
    return g


# ---------------------------------------------------------------------------------------------
# Printer
# ---------------------------------------------------------------------------------------------

def test_printer_layout_names_absent_inputs_attrs_and_loc():
    text = format_graph(simple_graph())
    lines = text.splitlines()
    assert lines[0] == "graph main(%x: f32[1,3,4,4]) -> (%y) {"
    assert lines[-1] == "}" and lines[-2] == "  return %y"
    const, node = body_lines(text)[:2]
    # a name outside [A-Za-z0-9_.]+ is quoted; a payload of 9 elements is inline by default
    assert const.startswith('%"conv1/w:0" = const f32[3,1,3,1] dense<[0.0, 0.125, 0.25, ')
    # every schema attribute printed after defaults are filled; absent bias as _; loc sorted
    assert node == ('%y = Conv(%x, %"conv1/w:0", _) {strides=[1, 1], pads=[1, 0, 1, 0], '
                    'dilations=[1, 1], group=3, activation="none", activation_params=[], '
                    'pool_kernel=[], pool_strides=[]} '
                    ': f32[1,3,4,4] loc("bn1", "conv1")')
    assert str(simple_graph()) == text


def test_attribute_kinds_are_recoverable_from_the_text():
    g = Graph()
    x = g.add_input("x", TensorType((2, 4), "f32"))
    a = g.op("LeakyRelu", x, alpha=1)  # an int given to a float attribute is stored as 1.0
    c = g.op("Clip", a)  # defaults -inf / inf
    q = g.op("QuantizeLinear", c, scale=[0.5], zero_point=[3], dtype="i8")
    g.set_outputs([q])
    lines = body_lines(format_graph(g))
    assert "{alpha=1.0}" in lines[0]
    assert "{min=-inf, max=inf}" in lines[1]
    # floats with '.', ints bare, None as none, dtype as its bare name, quant params in the type
    assert ('{scale=[0.5], zero_point=[3], axis=none, dtype=i8, rounding="half_even", '
            'narrow=false} : i8[2,4]<affine scale=0.5 zp=3>') in lines[2]
    assert_round_trip(g)


def test_graph_outputs_may_be_inputs_constants_or_repeated():
    g = Graph("io")
    x = g.add_input("x", TensorType((2,), "f32"))
    c = g.add_constant(np.array([1.0, 2.0], np.float32), "c")
    y = g.op("Add", x, c, name="y")
    g.set_outputs([y, x, c, y])
    text = format_graph(g)
    assert text.splitlines()[0].endswith("-> (%y, %x, %c, %y) {")
    assert "  return %y, %x, %c, %y" in text.splitlines()
    back = assert_round_trip(g)
    assert [v.name for v in back.outputs] == ["y", "x", "c", "y"]
    assert back.outputs[0] is back.outputs[3]


def test_graph_without_inputs_or_outputs_and_quoted_graph_name():
    g = Graph("my graph")
    g.add_constant(np.float32(1.5), "k")
    text = format_graph(g)
    assert text.splitlines()[0] == 'graph "my graph"() -> () {'
    assert "  return" in text.splitlines()
    assert_round_trip(g)


@pytest.mark.parametrize("name", ["conv1/w:0", "", "a b", 'q"uote', "back\\slash", "tab\there",
                                  "new\nline", "ünï", "%x", "_", "1.2_x", "return", "const"])
def test_value_names_round_trip(name):
    g = Graph()
    x = g.add_input(name, TensorType((2,), "f32"))
    y = g.op("Relu", x, name=name + "!")
    g.set_outputs([y])
    text = format_graph(g)
    bare = re.fullmatch(r"[A-Za-z0-9_.]+", name) is not None
    assert (f"%{name}:" in text) == bare
    back = assert_round_trip(g)
    assert back.inputs[0].name == name and back.outputs[0].name == name + "!"


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------

def _payloads():
    f32_special = np.array([0.1, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4028235e38, 1 / 3],
                           np.float32)
    odd_nans = np.array([np.nan, np.nan, np.nan, 1.0], np.float32)
    bits(odd_nans)[:3] = [0xFFC00000, 0x7F800001, 0x7FC12345]  # -nan, signalling, payload
    f16 = np.array([0.1, 65504, 6e-8, -np.inf, np.nan, -0.0], np.float16)
    f16_nan = np.array([np.nan, 0], np.float16)
    bits(f16_nan)[0] = 0xFE01
    bf16 = (np.array([0.1, -2.5, 1e30], np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
    return [
        ("f32", f32_special), ("f32_nans", odd_nans), ("f16", f16), ("f16_nan", f16_nan),
        ("bf16", bf16),
        ("i64", np.array([np.iinfo(np.int64).min, -1, np.iinfo(np.int64).max], np.int64)),
        ("i32", np.array([-(2 ** 31), 7, 2 ** 31 - 1], np.int32)),
        ("i16", np.array([[-32768, 0], [1, 32767]], np.int16)),
        ("i8", np.array([-128, 5, 127], np.int8)),
        ("u8", np.array([0, 200, 255], np.uint8)),
        ("bool", np.array([[True, False, True]])),
        ("scalar", np.array(2.5, np.float32)),
        ("scalar_bool", np.array(False)),
        ("empty", np.zeros((0, 3), np.float16)),
        ("empty_int", np.zeros((2, 0), np.int8)),
        ("splat", np.full((2, 3, 4), -7, np.int16)),
        ("splat_nan", np.full((5,), np.nan, np.float32)),
        # 4096+ elements: plain decimal payloads take the parser's numpy fast path
        ("f32_large", _large(np.float32)), ("f16_large", _large(np.float16)),
        ("i32_large", _large(np.int32)),
        ("i8_large", _large(np.int8)), ("u8_large", _large(np.uint8)),
        ("i64_large", _large(np.int64)), ("f32_large_special", np.tile(f32_special, 600)),
    ]


def _large(dtype) -> np.ndarray:
    """5000 values over the type's whole range (subnormal and extreme floats, integer bounds)."""
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        info = np.finfo(dtype)
        a = rng.standard_normal(5000) * 10.0 ** rng.integers(-8, 8, 5000)
        a[:4] = [info.max, -info.max, info.tiny, info.smallest_subnormal]
        return a.astype(dtype).reshape(50, 100)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, 5000, dtype=dtype, endpoint=True)
    a[:2] = [info.min, info.max]
    return a.reshape(50, 100)


@pytest.mark.parametrize("name,array", _payloads(), ids=[n for n, _ in _payloads()])
def test_constant_payloads_round_trip_bit_for_bit(name, array):
    g = Graph()
    dtype = DType.bf16 if name == "bf16" else None
    c = g.add_constant(array, name, dtype=dtype)
    g.set_outputs([c])
    back = assert_round_trip(g)
    got = back.value(name)
    assert got.type == c.type
    assert got.const.dtype == array.dtype and got.const.shape == array.shape
    np.testing.assert_array_equal(bits(got.const), bits(array))


def test_special_floats_are_spelled_as_documented():
    g = Graph()
    a = np.array([np.inf, -np.inf, np.nan, -0.0, 0.1, np.nan], np.float32)
    bits(a)[5] = 0xFFC00000
    g.add_constant(a, "a")
    g.add_constant(np.array([True, False]), "b")
    g.add_constant(np.float16(0.1), "h")
    lines = body_lines(format_graph(g))
    assert lines[0] == "%a = const f32[6] dense<[inf, -inf, nan, -0.0, 0.1, nan(0xffc00000)]>"
    assert lines[1] == "%b = const bool[2] dense<[true, false]>"
    assert lines[2] == "%h = const f16[] dense<0.1>"


def test_quantized_constants_round_trip():
    g = Graph()
    g.add_constant(np.array([[1, 2], [3, 4], [5, 6]], np.int8), "per_axis",
                   quant=QuantParams.affine([0.5, 0.25, 1e-3], [0, -1, 3], axis=0))
    g.add_constant(np.array([0, 255], np.uint8), "per_tensor",
                   quant=QuantParams.affine(0.1, 128))
    g.add_constant(np.array([1, -1], np.int16), "dfp", quant=QuantParams.dfp(12, bits=16))
    g.add_constant(np.array([3, 4], np.int8), "narrow",
                   quant=QuantParams.affine([0.5, 0.25], 0, axis=-1, bits=4))
    text = format_graph(g)
    assert "i8[3,2]<affine axis=0 scale=[0.5, 0.25, 0.001] zp=[0, -1, 3]>" in text
    assert "u8[2]<affine scale=0.1 zp=128>" in text
    assert "i16[2]<dfp fl=12 bits=16>" in text
    back = assert_round_trip(g)
    assert back.value("per_axis").type.quant == g.value("per_axis").type.quant


def test_large_payloads_are_elided_and_splats_stay_inline():
    g = Graph()
    big = np.arange(17, dtype=np.float32)
    g.add_constant(big, "big")
    g.add_constant(np.arange(16, dtype=np.float32), "fits")
    g.add_constant(np.zeros((64, 3, 3, 3), np.float32), "zeros")
    lines = body_lines(format_graph(g))
    digest = payload_digest(big)[:16]
    assert lines[0] == f"%big = const f32[17] elided<sha256:{digest}>"
    assert lines[1].startswith("%fits = const f32[16] dense<[0.0, 1.0")
    assert lines[2] == "%zeros = const f32[64,3,3,3] dense<0.0>"
    assert "elided" not in format_graph(g, max_inline=None)
    assert "dense<[0.0" not in body_lines(format_graph(g, max_inline=4))[1]


def test_elided_payloads_come_from_the_constants_argument():
    g = Graph()
    w = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    g.add_constant(w, "w")
    g.set_outputs([g.value("w")])
    text = format_graph(g)
    back = parse(text, constants={"w": w})
    assert graphs_equal(g, back)
    # a payload of another dtype is cast when its values fit
    back64 = parse(text, constants={"w": w.astype(np.float64)})
    np.testing.assert_array_equal(back64.value("w").const, w)
    with pytest.raises(ParseError, match=r"constant %w is elided; give its payload"):
        parse(text)
    with pytest.raises(ParseError, match=r"does not match its recorded sha256"):
        parse(text, constants={"w": w + 1})
    with pytest.raises(ParseError, match=r"has shape \[5, 4\]"):
        parse(text, constants={"w": w.T})
    with pytest.raises(ParseError, match=r"do not fit f32"):
        parse(text, constants={"w": w.astype(np.float64) + 1e-12})


def test_zeros_and_random_fill_hand_written_constants():
    text = """
    graph t(%x: f32[1,3,8,8]) {
      %w = const f32[4,3,3,3] elided   # no hash in hand-written IR
      %v = const f32[4,3,3,3] elided
      %q = const u8[16] elided
      %h = const bf16[8] elided
      %y = Conv(%x, %w) {pads=[1, 1, 1, 1]}
      return %y
    }"""
    zeros = parse(text, constants="zeros")
    assert not zeros.value("w").const.any()
    r1, r2 = parse(text, constants="random"), parse(text, constants="random")
    assert graphs_equal(r1, r2)  # seeded
    w, v = r1.value("w").const, r1.value("v").const
    assert w.std() > 0.5 and not np.array_equal(w, v)  # seeded by name: different constants
    assert r1.value("q").const.dtype == np.uint8
    h = r1.value("h").const
    assert not (h.view(np.uint32) & 0xFFFF).any()  # bf16 payloads hold bf16 values
    with pytest.raises(IRError, match="constants must be"):
        parse(text, constants="ones")


def test_hand_written_ir_fills_defaults_and_infers_types():
    text = """
    # a comment line
    graph g(%x: f32[1,4,6,6]) -> (%a, %b) {
      %a, %b = Split(%x) {split=[1, 3], axis=1}    # attributes in any order
      return %a, %b
    }
    """
    g = parse(text)
    node = next(iter(g.nodes))
    assert node.attrs == {"axis": 1, "split": (1, 3)}
    assert [v.shape for v in node.outputs] == [(1, 1, 6, 6), (1, 3, 6, 6)]
    assert format_graph(g).splitlines()[1] == \
        "  %a, %b = Split(%x) {axis=1, split=[1, 3]} : f32[1,1,6,6], f32[1,3,6,6]"


def test_output_types_may_add_quant_params():
    text = """graph g(%x: u8[4]) {
      %y = Relu(%x) : u8[4]<affine scale=0.25 zp=7>
      return %y
    }"""
    g = parse(text)
    assert g.value("y").type.quant == QuantParams.affine(0.25, 7)
    assert_round_trip(g)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

def parse_error(text: str, **kw) -> str:
    with pytest.raises(ParseError) as e:
        parse(text, **kw)
    return str(e.value)


def caret_column(message: str) -> int:
    """1-based column of the caret in an error excerpt."""
    caret_line = message.splitlines()[-1]
    return caret_line.index("^") - 3


@pytest.mark.parametrize("line,at,pattern", [
    ("%y = Reluu(%x)", "Reluu", r"unknown op 'Reluu'; did you mean Relu"),
    ("%y = relu(%x)", "relu", r"unknown op 'relu'; did you mean Relu"),
    ("%y = Relu(%z)", "%z", r"undefined value %z .*defined before"),
    ("%y = Relu(%xx)", "%xx", r"undefined value %xx.*did you mean %x\?"),
    ("%y = Relu(%x) : f32[3]", "f32[3]",
     r"type mismatch: %y is written f32\[3\] but Relu infers f32\[2\]"),
    ("%y = Relu(%x) : i8[2]", "i8", r"type mismatch"),
    ('%y = LeakyRelu(%x) {alpha="a"}', "alpha", r"LeakyRelu: attribute 'alpha' must be float"),
    ("%y = LeakyRelu(%x) {alpha=0.1, beta=2}", "beta",
     r"unknown attribute\(s\) beta \(known: alpha"),
    ("%y = Split(%x) {split=[1.0, 1.0]}", "split", r"attribute 'split' must be ints"),
    ("%y = Split(%x) {split=[1, 1]}", "Split", r"Split defines 2 value\(s\) here, 1 name"),
    ("%y = Add(%x)", "(", r"Add takes 2 inputs \(A, B\), got 1"),
    ("%y = Add(%x, _)", "(", r"input 1 \(B\) is required"),
    ("%x = Relu(%x)", "%x =", r"value %x is already defined \(at 1:9\)"),
    ("%w = const f32[3] dense<[1.0, 2.0, x]>", "x]", r"bad f32 element 'x'"),
    ("%w = const f32[3] dense<[1.0, 2.0]>", "[1.0",
     r"dense payload has 2 elements, f32\[3\] has 3"),
    ("%w = const u8[2] dense<[1, 300]>", "[1", r"value 300 is outside the u8 range 0..255"),
    ("%w = const i8[2] dense<[1, 2.5]>", "2.5", r"bad i8 element '2.5'"),
    ("%w = const u8[2]<affine scale=0.5 zp=300> dense<[1, 2]>", "u8",
     r"zero point 300 outside the u8 range"),
    ("%w = const f33[2] dense<[1, 2]>", "f33", r"unknown dtype 'f33'; did you mean f32\?"),
    ("%w = const f32[2] dense<[nan(0x1), 2]>", "[nan", r"nan\(0x1\) is not a NaN bit pattern"),
    ("%w = const f32[2] dense<[1, 2]> extra", "extra", r"unknown op 'extra'"),
])
def test_parse_errors_name_line_column_and_what_is_wrong(line, at, pattern):
    text = f"graph g(%x: f32[2]) {{\n  {line}\n  return %x\n}}"
    msg = parse_error(text)
    assert re.search(pattern, msg), msg
    column = 2 + line.index(at) + 1
    assert msg.startswith(f"<ir>:2:{column}: "), msg
    assert msg.splitlines()[1].strip() == line  # the excerpt is the offending line
    assert caret_column(msg) == column, msg


def test_structural_parse_errors():
    assert "expected '{' to open the graph body" in parse_error("graph g(%x: f32[2]) return %x")
    assert "ends without 'return" in parse_error("graph g(%x: f32[2]) {\n %y = Relu(%x)\n")
    assert "unexpected text after the graph" in parse_error("graph g() {\n return\n} extra")
    msg = parse_error("graph g(%x: f32[2]) -> (%x, %x) {\n return %x\n}")
    assert "the header lists outputs ['x', 'x'] but return gives ['x']" in msg
    msg = parse_error("graph g(%x: f32[2]) {\n  return %nope\n}", source="model.ir")
    assert msg.startswith("model.ir:2:10: undefined value %nope")
    assert "unknown quantization scheme 'lin'" in parse_error(
        "graph g(%x: u8[2]<lin scale=1.0>) {\n return %x\n}")


# ---------------------------------------------------------------------------------------------
# Equality and round trips
# ---------------------------------------------------------------------------------------------

def test_graphs_equal_sees_payload_bits_names_attrs_and_provenance():
    def build(payload=(0.0, 1.0), name="y", alpha=0.5, prov=("a",)):
        g = Graph()
        x = g.add_input("x", TensorType((2,), "f32"))
        c = g.add_constant(np.array(payload, np.float32), "c")
        y = g.op("LeakyRelu", g.op("Add", x, c), alpha=alpha, name=name, provenance=prov)
        g.set_outputs([y])
        return g

    base = build()
    assert graphs_equal(base, build()) and graphs_equal(base, base.copy())
    assert not graphs_equal(base, build(payload=(-0.0, 1.0)))  # -0.0 == 0.0 but bits differ
    assert not graphs_equal(base, build(name="z"))
    assert not graphs_equal(base, build(alpha=0.25))
    assert not graphs_equal(base, build(prov=("b",)))
    nan1, nan2 = build(alpha=float("nan")), build(alpha=float("nan"))
    assert graphs_equal(nan1, nan2)  # NaN attributes compare equal to themselves
    assert "payloads of constant %c differ" in describe_difference(base, build(payload=(0, 2)))


def test_real_model_shaped_graph_round_trips():
    g = simple_graph()
    x = g.outputs[0]
    a, b = g.op("Split", x, axis=1, split=[1, 2])
    cat = g.op("Concat", b, a, axis=1, provenance=["cat"])
    q = g.op("QuantizeLinear", cat, scale=[0.5, 0.25, 0.125], zero_point=[1, 2, 3], axis=1)
    dq = g.op("DequantizeLinear", q, scale=[0.5, 0.25, 0.125], zero_point=[1, 2, 3], axis=1)
    g.set_outputs([dq, a, q])
    assert_round_trip(g)


# Extra constants with every dtype and special float values, to decorate drawn graphs with.
_ELEMENTS = {
    "float": st.one_of(st.sampled_from([np.nan, np.inf, -np.inf, -0.0]),
                       st.floats(allow_nan=True, allow_infinity=True, width=32)),
    "int": st.integers(-128, 127),
    "bool": st.booleans(),
}
_NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)


@st.composite
def decorated_graphs(draw):
    """A graph from npucc.testing.graphs(), with weird value names, extra constants of every
    dtype (quantized, 0-d, empty, NaN/inf) and outputs that repeat or are inputs/constants."""
    g = draw(graphs(max_nodes=8, layout=None, dtypes=draw(st.sampled_from(
        [("f32",), ("f16",), ("u8",), ("i8",), ("f32", "i32")]))))
    for v in list(g.values()):
        if draw(st.booleans()):
            new = draw(_NAMES)
            if not g.has_value(new):
                g.rename(v, new)
    extras = []
    for _ in range(draw(st.integers(0, 3))):
        t = draw(tensor_types(dtypes=[d.value for d in DType], min_rank=0, max_rank=3,
                              max_side=3, quantized=None))
        kind = "bool" if t.dtype is DType.bool else "float" if t.dtype.is_float else "int"
        if draw(st.booleans()) and t.rank:
            t = TensorType((0,) + t.shape[1:], t.dtype)  # an empty array
        elems = draw(st.lists(_ELEMENTS[kind], min_size=t.size, max_size=t.size))
        arr = np.array(elems, dtype=np.float64 if kind == "float" else None).reshape(t.shape)
        with np.errstate(over="ignore"):  # large floats become inf in f16: wanted
            arr = arr.astype(t.dtype.numpy) if t.size else np.zeros(t.shape, t.dtype.numpy)
        name = g.unique_name(draw(_NAMES) or "k")
        extras.append(g.add_constant(arr, name, dtype=t.dtype, quant=t.quant))
    pool = list(g.outputs) + list(g.inputs) + extras
    outs = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=5))
    g.set_outputs(outs)
    return g


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(decorated_graphs())
def test_round_trip_property(g):
    back = assert_round_trip(g)
    for c in g.constants:
        np.testing.assert_array_equal(bits(back.value(c.name).const), bits(c.const))
    # the default (elided) text round-trips too when the payloads are supplied
    supplied = {c.name: c.const for c in g.constants}
    assert graphs_equal(parse(str(g), constants=supplied), g)


@pytest.mark.parametrize("bad, message", [
    ("1.5x", "bad f32 element '1.5x'"), ("1e", "bad f32 element '1e'"), ("", "bad f32 element"),
    ("0x10", "bad f32 element '0x10'"), ("infinity", "bad f32 element 'infinity'")])
def test_large_payloads_report_bad_elements_like_small_ones(bad, message):
    """A large dense payload is parsed by numpy when it is plain decimal numbers; anything else
    (here the last of 5000 elements) falls back to the validating parser and its message."""
    body = ", ".join(["0.5"] * 4999 + [bad])
    text = f"graph g() -> (%c) {{\n  %c = const f32[5000] dense<[{body}]>\n  return %c\n}}\n"
    with pytest.raises(ParseError, match=re.escape(message)):
        parse(text)
    ints = ", ".join(["1"] * 4999 + ["300"])
    text = f"graph g() -> (%c) {{\n  %c = const i8[5000] dense<[{ints}]>\n  return %c\n}}\n"
    with pytest.raises(ParseError, match="value 300 is outside the i8 range -128..127"):
        parse(text)


@pytest.mark.parametrize("text, message", [
    # an integer past Python's 4300-digit limit: a parse error, not a raw ValueError
    ("graph g(%x: f32[" + "9" * 5000 + "]) -> (%x) {\n  return %x\n}\n",
     "x.npuir:1:17: expected a dimension"),
    ("graph g(%x: f32[2]) -> (%y) {\n  %c = const i64[2] dense<[1, " + "9" * 5000 + "]>\n"
     "  %y = Add(%x, %c)\n  return %y\n}\n", "an integer of more than 100 digits"),
    # nesting past the recursion limit: lists in an attribute, graphs in graphs
    ("graph g(%x: f32[1]) -> (%y) {\n  %y = Relu(%x) {a=" + "[" * 50000 + "]" * 50000 + "}\n"
     "  return %y\n}\n", "x.npuir: lists or graphs nested too deeply"),
])
def test_hostile_text_is_a_parse_error_naming_the_source(text, message):
    with pytest.raises(ParseError, match=re.escape(message)):
        parse(text, source="x.npuir")


def test_a_shape_past_the_rank_limit_is_a_parse_error_naming_the_line():
    """Rank is checked where the type is read (the plan would refuse it later, less precisely)."""
    dims = ",".join(["1"] * 17)
    text = f"graph g(%x: f32[1]) -> (%y) {{\n  %y = Relu(%x) : f32[{dims}]\n  return %y\n}}\n"
    with pytest.raises(ParseError, match=r"<ir>:2:\d+: a shape of rank 17; npucc takes at most 16"):
        parse(text)
