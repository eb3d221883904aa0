"""Table-driven int8 kernels (LOGISTIC, TANH, HARD_SWISH) and bilinear RESIZE against live LiteRT.

A model is built here with tensorflow-cpu: each activation reads a model input directly, so
feeding the 256 int8 values exercises every entry of its table; the input ranges (hence scales
and zero points) differ per input. The resizes read a model input too, in TF's three coordinate
modes, up and down. npucc's simulator plan must equal LiteRT's reference kernels exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from npucc.backends.simulator import compile_plan
from npucc.frontends.tflite import load

from .oracle import litert, needs_litert, needs_tf

# the second range gives tanh an input scale (0.0516..., zero point -94) where numpy's tanh and
# float64-rounded tanh put one table entry one step away from LiteRT (which calls C's tanhf)
ACTIVATION_RANGES = [(-0.3, 0.4), (-1.7727073719996231, 11.386360893290064), (-2.5, 1.0),
                     (-7.0, 9.0), (-30.0, 12.0)]
RESIZES = [((5, 7), (9, 4), "half_pixel"), ((4, 6), (7, 11), "align_corners"),
           ((6, 5), (3, 8), "asymmetric")]


def _build(tf, path):
    def fn(*xs):
        acts, sizes = xs[:3 * len(ACTIVATION_RANGES)], xs[3 * len(ACTIVATION_RANGES):]
        outs = []
        for i, x in enumerate(acts):
            outs.append([tf.sigmoid, tf.tanh,
                         lambda v: v * tf.nn.relu6(v + 3.0) / 6.0][i % 3](x))
        for x, (_, size, mode) in zip(sizes, RESIZES):
            outs.append(tf.compat.v1.image.resize_bilinear(
                x, size, align_corners=mode == "align_corners",
                half_pixel_centers=mode == "half_pixel"))
        return outs

    ranges = [r for r in ACTIVATION_RANGES for _ in range(3)]
    shapes = [(1, 256)] * len(ranges) + [(1, *hw, 3) for hw, _, _ in RESIZES]
    concrete = tf.function(fn).get_concrete_function(
        *(tf.TensorSpec(s, tf.float32) for s in shapes))

    def representative():
        rng = np.random.default_rng(0)
        for _ in range(4):
            yield ([np.linspace(lo, hi, 256, dtype=np.float32)[None] for lo, hi in ranges]
                   + [rng.uniform(-3, 3, s).astype(np.float32) for s in shapes[len(ranges):]])

    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())


@pytest.mark.slow
@needs_litert
@needs_tf
def test_activation_tables_and_bilinear_resize_match_litert(tmp_path):
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    path = tmp_path / "int8_tables.tflite"
    _build(tf, path)
    g = load(path)
    ops = [n.op for n in g.nodes]
    assert {"Sigmoid", "Tanh", "HardSwish", "Resize"} <= set(ops)
    rng = np.random.default_rng(1)
    every = np.arange(-128, 128, dtype=np.int8)[None]
    inputs = [every if v.shape == (1, 256) else
              rng.integers(-128, 128, v.shape).astype(np.int8) for v in g.inputs]
    want, _ = litert(path, inputs)
    got = compile_plan(g).run(inputs)
    assert len(got) == len(want) == 3 * len(ACTIVATION_RANGES) + len(RESIZES)
    for i, (a, w) in enumerate(zip(got, want)):
        assert a.shape == w.shape and a.dtype == w.dtype
        assert int((a != w).sum()) == 0, f"output {i} ({g.outputs[i].name}) differs"
