"""Numerics profiles: how a node's profile is read off its types and graph, the kernel registry's
refusals, the affine / dfp arithmetic on hand-computed cases, and the IR additions they rely on
(Graph.numerics in the text form, QuantParams validation, Value.meta / Node.meta)."""

from __future__ import annotations

import numpy as np
import pytest

from npucc.backends.simulator import compile_plan
from npucc.errors import IRError
from npucc.ir import DType, Graph, QuantParams, TensorType
from npucc.ir import run_graph as float_run_graph
from npucc.ir.interpreter import InterpreterError
from npucc.ir.text import format_graph, graphs_equal, parse
from npucc.numerics import QuantizedExecutionError, profile_of, run_graph, select_kernel
from npucc.numerics.fixed_point import (
    multiply_round_half_even,
    quantize_multiplier,
    shift_round_half_even,
)
from npucc.numerics.integer.requantize import requantizer

U8 = QuantParams.affine(0.5, 10)


def _unary(op, x_type, y_type, numerics="tflite", **attrs):
    g = Graph("g", numerics)
    x = g.add_input("x", x_type)
    node = g.add_node(op, [x], attrs, output_types=[y_type])
    g.set_outputs(node.outputs)
    return g, node


def test_profile_is_read_off_types_and_the_graph_setting():
    _, node = _unary("Relu", TensorType((4,), "f32"), TensorType((4,), "f32"))
    assert profile_of(node) == "float"
    _, node = _unary("Relu", TensorType((4,), "f16"), TensorType((4,), "f16"))
    assert profile_of(node) == "fp16"
    q = TensorType((4,), "u8", U8)
    assert profile_of(_unary("Relu", q, q)[1]) == "tflite"
    g, node = _unary("Relu", q, q, numerics="affine")
    assert profile_of(node) == "affine"
    d = TensorType((4,), "i16", QuantParams.dfp(3, bits=16))
    assert profile_of(_unary("Requantize", q, d, to=DType.i16)[1]) == "dfp"
    text = format_graph(g)
    assert text.startswith("graph g(%x: u8[4]<affine scale=0.5 zp=10>) -> (%relu) "
                           "numerics=affine {")
    assert graphs_equal(parse(text), g)
    assert "numerics=" not in format_graph(Graph("plain"))


def test_a_quantized_node_without_a_kernel_names_node_op_and_profile():
    q = TensorType((1, 4), "u8", U8)
    g, node = _unary("Mish", TensorType((1, 4), "u8", U8), q, numerics="tflite")
    with pytest.raises(QuantizedExecutionError,
                       match=r"Mish %mish: quantized Mish has no integer kernel in "
                             "the tflite profile"):
        run_graph(g, [np.zeros((1, 4), np.uint8)])


def test_float_interpreter_refuses_quantized_compute_but_runs_conversions():
    g, _ = _unary("Relu", TensorType((4,), "u8", U8), TensorType((4,), "u8", U8))
    with pytest.raises(InterpreterError, match="npucc.numerics.run_graph"):
        float_run_graph(g, [np.zeros(4, np.uint8)])
    g, _ = _unary("QuantizeLinear", TensorType((4,), "f32"), TensorType((4,), "u8", U8),
                  scale=(0.5,), zero_point=(10,))
    x = np.array([-5.0, 0.25, 0.75, 200.0], np.float32)
    assert float_run_graph(g, [x])[0].tolist() == [0, 10, 12, 255]  # 0.5 -> 0, 1.5 -> 2: even


@pytest.mark.parametrize("numerics", ["affine", "tflite"])
@pytest.mark.parametrize("bounds, want", [({"min": 1.1}, 255), ({"max": -0.5}, 0),
                                          ({"min": 1.1, "max": 1.5}, 255)])
def test_clip_bounds_outside_the_representable_range_saturate(numerics, bounds, want):
    """Clip keeps its input's params (here [0, 1]): a bound past them clamps every value to that
    end of the range, as the real clip followed by saturation would (the bound's integer, 282,
    overflowed uint8; found by the property tests)."""
    t = TensorType((4,), "u8", QuantParams.affine(1 / 255, 0))
    g, _ = _unary("Clip", t, t, numerics=numerics, **bounds)
    x = np.array([0, 7, 128, 255], np.uint8)
    assert run_graph(g, [x])[0].tolist() == [want] * 4
    assert compile_plan(g).run([x])[0].tolist() == [want] * 4


def test_tflite_rsqrt_refuses_codes_below_the_zero_point():
    """LiteRT's RSQRT int8 stops on a negative input ("only defined for positive values"); so
    does npucc, naming the node, instead of reading a table entry made up for it."""
    g, _ = _unary("Rsqrt", TensorType((3,), "i8", QuantParams.affine(0.05, -10)),
                  TensorType((3,), "i8", QuantParams.affine(0.1, -128)))
    run_graph(g, [np.array([-10, 0, 100], np.int8)])  # at and above the zero point: fine
    with pytest.raises(QuantizedExecutionError, match="Rsqrt of a negative value"):
        run_graph(g, [np.array([-10, -11, 100], np.int8)])


def test_requantize_u8_affine_to_i16_dfp_rounds_half_to_even():
    src = TensorType((5,), "u8", QuantParams.affine(0.75, 100))
    dst = TensorType((5,), "i16", QuantParams.dfp(1, bits=16))  # steps of 0.5
    g, _ = _unary("Requantize", src, dst, numerics="affine", to=DType.i16)
    x = np.array([100, 101, 102, 99, 0], np.uint8)  # reals 0, .75, 1.5, -.75, -75
    # real / 0.5 = 0, 1.5, 3, -1.5, -150 -> ties to even: 0, 2, 3, -2, -150
    assert run_graph(g, [x])[0].tolist() == [0, 2, 3, -2, -150]


def test_dfp_quantize_saturates_symmetrically():
    d = QuantParams.dfp(0)
    g, _ = _unary("QuantizeLinear", TensorType((3,), "f32"), TensorType((3,), "i8", d),
                  scale=(1.0,), zero_point=(0,), dtype=DType.i8, narrow=True)
    assert run_graph(g, [np.array([-300, 2.5, 300], np.float32)])[0].tolist() == [-127, 2, 127]
    with pytest.raises(QuantizedExecutionError, match="attributes say"):
        select_kernel(_unary("QuantizeLinear", TensorType((3,), "f32"),
                             TensorType((3,), "i8", d), scale=(0.5,), zero_point=(0,),
                             dtype=DType.i8, narrow=True)[1])


def test_requantizer_float_and_int64_paths_agree_with_the_formula():
    """Accumulators too large for exact float64 products take the int64 path; small ones the
    float64 path (chosen per run); both equal round_half_even((acc + offset) * m * 2**(sh-31))."""
    rng = np.random.default_rng(0)
    real = rng.uniform(1e-5, 0.9, (1, 8, 1, 1))
    offset = rng.integers(-(2 ** 20), 2 ** 20, (1, 8, 1, 1))
    m, sh = quantize_multiplier(real.reshape(-1))
    run = requantizer(real, offset=offset, zy=3, lo=-128, hi=127, dtype=np.int8)
    for top in (2 ** 27, 2 ** 12):  # int64 path, float64 path
        acc = rng.integers(-top, top, (2, 8, 5, 5)).astype(np.float64)
        want = multiply_round_half_even(acc.astype(np.int64) + offset, m.reshape(real.shape),
                                        sh.reshape(real.shape)) + 3
        assert np.array_equal(run(acc), np.clip(want, -128, 127))


def test_shift_round_half_even():
    v = np.array([3, 5, -3, -5, 7, 4, -4])
    assert shift_round_half_even(v, 1).tolist() == [2, 2, -2, -2, 4, 2, -2]
    assert shift_round_half_even(v, -2).tolist() == (v * 4).tolist()


@pytest.mark.parametrize("make,message", [
    (lambda: QuantParams.affine(0.5, 3, narrow_range=True), "narrow-range .* zero points 0"),
    (lambda: TensorType((2,), "u8", QuantParams.affine(0.5, 0, narrow_range=True)),
     "needs a signed type"),
    (lambda: QuantParams.dfp(5, bits=4), "bit width must be 8 or 16"),
    (lambda: QuantParams.dfp(200), "frac_length 200 is outside"),
    (lambda: TensorType((2,), "u8", QuantParams.dfp(3)), "dynamic fixed point .* signed type"),
    (lambda: TensorType((2,), "i8", QuantParams.affine(0.5, -128, bits=4)),
     r"zero point -128 outside the i8 range -8..7 \(4-bit\)"),
])
def test_quant_params_validation(make, message):
    with pytest.raises(IRError, match=message):
        make()


def test_quant_params_views():
    d = QuantParams.dfp(3, bits=16)
    assert d.as_affine() == ((0.125,), (0,), None) and d.narrow and d.power_of_two
    assert d.int_range(DType.i16) == (-32767, 32767)
    assert QuantParams.affine(0.5, 0, narrow_range=True).int_range(DType.i8) == (-127, 127)
    assert QuantParams.affine(0.5, 3).int_range(DType.u8) == (0, 255)
    assert not QuantParams.affine(0.3, 0).power_of_two
    t = TensorType((2,), "i8", QuantParams.affine([0.5, 0.25], 0, axis=0, narrow_range=True))
    assert graphs_equal(parse(f"graph g(%x: {t}) -> (%x) {{ return %x }}"),
                        parse(f"graph g(%x: {t}) -> (%x) {{ return %x }}"))
    assert str(t) == "i8[2]<affine axis=0 scale=[0.5, 0.25] zp=[0, 0] narrow>"


def test_meta_is_copied_not_compared_and_printed_only_on_request():
    g, node = _unary("Relu", TensorType((4,), "f32"), TensorType((4,), "f32"))
    node.meta["cost"] = 3
    node.output.meta["range"] = (0.0, 1.0)
    h = g.copy()
    assert h.value("relu").producer.meta == {"cost": 3}
    assert h.value("relu").meta == {"range": (0.0, 1.0)}
    h.value("relu").meta["range"] = (5.0, 6.0)
    assert g.value("relu").meta["range"] == (0.0, 1.0)  # a copy, not shared
    assert graphs_equal(g, Graph("g")) is False and graphs_equal(g, _unary(
        "Relu", TensorType((4,), "f32"), TensorType((4,), "f32"))[0])
    assert "range" not in format_graph(g)
    assert "# cost=3, range=(0.0, 1.0)" in format_graph(g, meta=True)
    assert graphs_equal(parse(format_graph(g, meta=True)), g)


def test_dfp16_activations_with_dfp8_weights_and_int64_bias():
    """i16 activations, i8 weights, bias at fl_x + fl_w in int64: within one step of the float64
    fake quantization at every output, saturating symmetrically."""
    from npucc.testing.fake_quant import lsb_differences

    rng = np.random.default_rng(3)
    g = Graph("dfp", "affine")
    x = g.add_input("x", TensorType((1, 4, 6, 6), "i16", QuantParams.dfp(12, bits=16)))
    w = g.add_constant(rng.integers(-127, 128, (8, 4, 3, 3)).astype(np.int8), "w",
                       quant=QuantParams.dfp(7))
    b = g.add_constant(rng.integers(-(2 ** 30), 2 ** 30, 8).astype(np.int64), "b",
                       quant=QuantParams.dfp(19, bits=64))
    node = g.add_node("Conv", [x, w, b], {"pads": [1, 1, 1, 1], "activation": "relu"},
                      output_types=[TensorType((1, 8, 6, 6), "i16", QuantParams.dfp(8, bits=16))])
    g.set_outputs(node.outputs)
    assert profile_of(node) == "dfp"
    xa = rng.integers(-32767, 32768, (1, 4, 6, 6)).astype(np.int16)
    diffs = lsb_differences(g, [xa])
    assert diffs == {"conv": ("dfp", 0.0)} or diffs["conv"][1] <= 1
    y = run_graph(g, [xa])[0]
    assert y.min() >= 0 and y.max() <= 32767


@pytest.mark.parametrize("attrs_, shape", [
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, (1, 4, 13, 12)),
    ({"kernel_shape": [2, 3], "strides": [1, 2], "pads": [0, 1, 1, 0], "dilations": [2, 1],
      "ceil_mode": True}, (2, 3, 9, 10)),
    ({"kernel_shape": [3], "strides": [2], "pads": [2, 2], "dilations": [1]}, (1, 3, 11)),
    ({"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": True},
     (1, 1, 2, 3))])
def test_fp16_max_pool_is_the_registry_max_of_the_float16_values(attrs_, shape):
    """The fp16 profile's MaxPool (a float32 tap-by-tap maximum) gives the bits of the registry
    kernel on the widened values, rounded (infinities and -0.0 among them; padding never wins,
    ceil mode's partial windows included)."""
    g = Graph("g")
    x = g.add_input("x", TensorType(shape, "f16"))
    node = g.add_node("MaxPool", [x], attrs_)
    g.set_outputs(node.outputs)
    xa = np.random.default_rng(1).normal(0, 3, shape).astype(np.float16)
    xa.reshape(-1)[:3] = [np.inf, -np.inf, -0.0]
    got = select_kernel(node)([xa])[0]
    want = float_run_graph(_float_copy(g), [xa.astype(np.float32)])[0].astype(np.float16)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))


def _float_copy(g: Graph) -> Graph:
    """The graph with its float16 types read as float32 (the IR text with f16 -> f32)."""
    return parse(format_graph(g).replace("f16", "f32"))
