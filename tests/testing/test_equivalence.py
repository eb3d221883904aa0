"""assert_equivalent compares outputs with per-dtype tolerances and says where they differ."""

import numpy as np
import pytest

from npucc.ir import Graph, TensorType
from npucc.testing import assert_equivalent, random_inputs, tolerance_for


def scaled(factor, dtype="f32", shape=(2, 3), offset=None):
    """y = x * factor (+ offset): a graph whose exact result numpy gives us."""
    g = Graph("scaled")
    x = g.add_input("x", TensorType(shape, dtype))
    y = g.op("Mul", x, g.add_constant(np.array(factor, dtype=np.dtype(x.dtype.numpy))), name="y")
    if offset is not None:
        y = g.op("Add", y, g.add_constant(np.array(offset, dtype=np.dtype(x.dtype.numpy))))
    g.set_outputs([y])
    return g


def test_equal_graphs_pass():
    assert_equivalent(scaled(2.0), scaled(2.0))
    assert_equivalent(scaled(2.0), scaled(2.0, offset=0.0), n_inputs=5)


def test_float32_default_tolerance_is_relative_1e4():
    # x * (1 + 1e-6) is within rtol 1e-4 of x; x * (1 + 1e-3) is not
    assert_equivalent(scaled(1.0), scaled(1.0 + 1e-6))
    with pytest.raises(AssertionError, match="output 0 .*%y.* differs"):
        assert_equivalent(scaled(1.0), scaled(1.0 + 1e-3))


def test_float16_default_tolerance_is_looser():
    assert tolerance_for(scaled(1.0, "f16").outputs[0].dtype) == (1e-2, 1e-3)
    assert_equivalent(scaled(1.0, "f16"), scaled(1.002, "f16"))
    with pytest.raises(AssertionError):
        assert_equivalent(scaled(1.0, "f16"), scaled(1.05, "f16"))


def test_integers_are_compared_exactly():
    assert_equivalent(scaled(3, "i32"), scaled(3, "i32"))
    with pytest.raises(AssertionError, match="max abs error 1"):
        assert_equivalent(scaled(3, "i32"), scaled(3, "i32", offset=1))


def test_message_names_errors_and_worst_index():
    # y = x vs y = x + 0.5 at one position only: the worst index is that position
    g1 = scaled(1.0, shape=(2, 3))
    g2 = Graph("bumped")
    x = g2.add_input("x", TensorType((2, 3), "f32"))
    bump = np.zeros((2, 3), np.float32)
    bump[1, 2] = 0.5
    g2.set_outputs([g2.op("Add", x, g2.add_constant(bump), name="y")])
    with pytest.raises(AssertionError) as e:
        assert_equivalent(g1, g2, seed=3)
    text = str(e.value)
    inputs = random_inputs(g1, 3)[0]
    assert "1 of 6 elements" in text and "index (1, 2)" in text
    assert "max abs error 0.5" in text
    assert f"max rel error {0.5 / abs(float(inputs[1, 2])):.4g}" in text
    assert "seed 3" in text


def test_explicit_inputs_by_position_and_by_name():
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]], np.float32)
    assert_equivalent(scaled(2.0), scaled(1.0, offset=0.0), inputs=[x * 0])
    assert_equivalent(scaled(2.0), scaled(2.0), inputs={"x": x})
    with pytest.raises(AssertionError, match="given inputs"):
        assert_equivalent(scaled(2.0), scaled(1.0), inputs={"x": x})


def test_nan_positions_must_match():
    def zero_over(offset):
        g = Graph("nan")
        x = g.add_input("x", TensorType((4,), "f32"))
        # 0 / (x - offset) is nan where x == offset, 0 elsewhere
        num = g.add_constant(np.zeros(4, np.float32))
        g.set_outputs([g.op("Div", num, g.op("Sub", x, g.add_constant(np.float32(offset))))])
        return g

    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    assert_equivalent(zero_over(2.0), zero_over(2.0), inputs=[x])
    with pytest.raises(AssertionError, match="out of tolerance"):
        assert_equivalent(zero_over(2.0), zero_over(3.0), inputs=[x])


def test_interface_mismatches():
    with pytest.raises(AssertionError, match="different inputs"):
        assert_equivalent(scaled(1.0, shape=(2, 3)), scaled(1.0, shape=(3, 2)))
    two = scaled(1.0)
    two.set_outputs([two.outputs[0], two.outputs[0]])
    with pytest.raises(AssertionError, match="1 and 2 outputs"):
        assert_equivalent(scaled(1.0), two)
    flat = Graph("flat")
    x = flat.add_input("x", TensorType((2, 3), "f32"))
    flat.set_outputs([flat.op("Flatten", x, axis=0)])
    with pytest.raises(AssertionError, match=r"float32\[2, 3\] became float32\[1, 6\]"):
        assert_equivalent(scaled(1.0), flat)
