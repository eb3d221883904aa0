"""Fused activations in the plan's fast conv kernels, on drawn conv chains, against the reference
interpreter (npucc.ir.run_graph).

The chains mix depthwise, 1x1 and strided 3x3 convolutions so that the plan stores values
channels-last between kernels that prefer it and runs the depthwise path both channels-last (small
images) and per channel block (large ones). Each conv draws a fused activation, including prelu
with one slope per output channel: the slopes must follow the channel axis of whatever block the
kernel holds (a MediaPipe landmark model crashed here: shapes (1,256,64) and (64,1)).
"""

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st

from npucc.backends.simulator import compile_plan
from npucc.backends.simulator.kernels.conv import is_channels_last
from npucc.ir import Graph, TensorType, run_graph

ACTIVATIONS = ["none", "relu", "clip", "leaky_relu", "hard_swish", "sigmoid", "prelu",
               "prelu_shared"]


def _activation(kind: str, m: int, rng) -> dict:
    if kind == "none":
        return {}
    params = {"clip": (0.0, 6.0), "leaky_relu": (0.1,),
              "prelu": tuple(float(s) for s in rng.uniform(-0.5, 0.5, m)),
              "prelu_shared": (0.25,)}.get(kind, ())
    return {"activation": "prelu" if kind == "prelu_shared" else kind,
            "activation_params": params}


@st.composite
def conv_chains(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = draw(st.integers(1, 2))
    c = draw(st.sampled_from([3, 8, 24, 48]))
    side = draw(st.sampled_from([4, 7, 12, 36]))  # 36: past the depthwise channels-last limit
    g = Graph()
    v = g.add_input("x", TensorType((n, c, side, side), "f32"))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["depthwise", "pointwise", "conv3x3"]))
        stride = draw(st.sampled_from([1, 2])) if kind != "pointwise" else 1
        m = c if kind == "depthwise" else draw(st.sampled_from([4, 8, 24]))
        k = 1 if kind == "pointwise" else 3
        w = rng.standard_normal((m, 1 if kind == "depthwise" else c, k, k)).astype(np.float32)
        b = rng.standard_normal(m).astype(np.float32) if draw(st.booleans()) else None
        act = _activation(draw(st.sampled_from(ACTIVATIONS)), m, rng)
        v = g.op("Conv", v, g.add_constant(w), None if b is None else g.add_constant(b),
                 group=c if kind == "depthwise" else 1, strides=(stride, stride),
                 pads=(k // 2,) * 4, **act)
        c = m
    if draw(st.booleans()):  # the last conv's output read by another op, so it may be stored
        v = g.op("Relu", v)  # channels-last too
    g.set_outputs([v])
    return g


@settings(max_examples=60, deadline=None)
@given(conv_chains(), st.integers(0, 2**16))
def test_plan_matches_interpreter_on_fused_conv_chains(graph, seed):
    x = np.random.default_rng(seed).standard_normal(graph.inputs[0].shape).astype(np.float32)
    (want,) = run_graph(graph, [x])
    plan = compile_plan(graph)
    note(f"channels-last outputs: {[is_channels_last(n.outputs[0]) for n in plan.nodes]}")
    for _ in range(2):  # buffers are reused between runs
        (got,) = plan.run([x])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def test_per_channel_prelu_on_a_channels_last_value():
    """The landmark-model pattern: a 1x1 conv with a per-channel PRelu fused, its output stored
    channels-last because a depthwise conv reads it; the depthwise conv (a small image) computes
    channels-last blocks with its own per-channel PRelu."""
    rng = np.random.default_rng(0)
    g = Graph()
    x = g.add_input("x", TensorType((1, 32, 16, 16), "f32"))
    slopes = tuple(float(s) for s in rng.uniform(0.05, 0.3, 64))
    p = g.op("Conv", x, g.add_constant(rng.standard_normal((64, 32, 1, 1)).astype(np.float32)),
             activation="prelu", activation_params=slopes)
    d = g.op("Conv", p, g.add_constant(rng.standard_normal((64, 1, 3, 3)).astype(np.float32)),
             group=64, pads=(1, 1, 1, 1), activation="prelu", activation_params=slopes)
    g.set_outputs([g.op("Relu", d)])
    plan = compile_plan(g)
    assert [is_channels_last(n.outputs[0]) for n in plan.nodes] == [True, False, False]
    xs = [rng.standard_normal((1, 32, 16, 16)).astype(np.float32)]
    np.testing.assert_allclose(plan.run(xs)[0], run_graph(g, xs)[0], rtol=1e-5, atol=1e-4)
