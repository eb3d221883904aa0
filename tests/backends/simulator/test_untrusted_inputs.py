"""What a plan accepts: input values must fit the input's element type (no silent wrap modulo
256, no truncated fractions); sizes a model declares are checked against npucc.limits before the
plan allocates anything, and the error names the value."""

import numpy as np
import pytest

from npucc import limits
from npucc.backends.simulator import SimulatorError, compile_plan
from npucc.errors import NpuccError
from npucc.frontends.tflite import load
from npucc.ir import Graph, TensorType
from tests.frontends.tflite.oracle import fixture, litert, needs_litert


@needs_litert
def test_an_int8_model_takes_fitting_values_of_other_types_and_refuses_the_rest():
    path, *_ = fixture("small_int8")
    plan = compile_plan(load(path))
    shape = plan.graph.inputs[0].shape
    rng = np.random.default_rng(0)
    fitting = rng.integers(-128, 128, shape)
    (want,), _ = litert(path, [fitting.astype(np.int8)])
    for given in (fitting.astype(np.int64), fitting.astype(np.int32), fitting.astype(np.float32)):
        np.testing.assert_array_equal(plan.run([given])[0], want)  # exact casts are fine
    wraps = rng.integers(0, 256, shape).astype(np.uint8)
    wraps.flat[0] = 200  # was read as -56
    with pytest.raises(NpuccError, match=r"input %xs_0 expects i8: the uint8 value 200"):
        plan.run([wraps])
    with pytest.raises(NpuccError, match="int32 value 300"):
        plan.run([np.full(shape, 300, np.int32)])
    with pytest.raises(NpuccError, match="value 0.5"):
        plan.run([np.full(shape, 0.5, np.float32)])
    with pytest.raises(NpuccError, match="value nan"):
        plan.run([np.full(shape, np.nan)])


def test_float_inputs_round_but_must_not_overflow():
    g = Graph()
    x = g.add_input("x", TensorType((2,), "f16"))
    g.set_outputs([g.op("Relu", x)])
    plan = compile_plan(g)
    np.testing.assert_array_equal(plan.run([np.array([1.0, 2.0])])[0],
                                  np.array([1, 2], np.float16))
    with pytest.raises(NpuccError, match="float64 value 100000.0 does not fit"):
        plan.run([np.array([1.0, 1e5])])


@pytest.mark.parametrize("shape", [(1 << 20, 1 << 20), (1 << 62, 4), (2,) * 40])
def test_huge_declared_shapes_fail_in_the_plan_naming_the_value(shape):
    g = Graph("huge")
    x = g.add_input("x", TensorType(shape, "f32"))
    g.set_outputs([g.op("Relu", x, provenance=["act1"])])
    with pytest.raises(SimulatorError, match=r"graph input %x has (shape|rank)"):
        compile_plan(g)


def test_a_node_output_over_the_limit_is_named(monkeypatch):
    monkeypatch.setattr(limits, "MAX_TENSOR_BYTES", 1000)
    g = Graph()
    x = g.add_input("x", TensorType((1, 100), "f32"))
    y = g.op("Tile", x, repeats=(1, 10), provenance=["tile7"])
    g.set_outputs([y])
    with pytest.raises(SimulatorError, match=r"Tile .*tile7.* 4000 bytes, over the 1000-byte"):
        compile_plan(g)


def test_the_activation_arena_is_limited(monkeypatch):
    monkeypatch.setattr(limits, "MAX_ARENA_BYTES", 1000)
    g = Graph("wide")
    x = g.add_input("x", TensorType((1, 200), "f32"))  # 800 bytes, its Concat 1600
    g.set_outputs([g.op("Concat", x, x, axis=1)])
    with pytest.raises(SimulatorError, match="graph wide needs .* bytes of activations"):
        compile_plan(g)
