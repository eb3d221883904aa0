"""Plan vs the reference interpreter (npucc.ir.run_graph), op by op, on hand-built graphs covering
every fast-kernel path (and the reference fallback for the rest)."""

import numpy as np
import pytest

from npucc.backends.simulator import compile_plan
from npucc.ir import Graph, TensorType, run_graph

RNG = np.random.default_rng(1234)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def check_plan(g: Graph, inputs, *, expect_fast=(), rtol=1e-5, atol=1e-5):
    """Plan and interpreter agree (twice: buffers are reused across runs); the ops in
    `expect_fast` ran on a fast kernel."""
    expected = run_graph(g, inputs)
    plan = compile_plan(g)
    fast = plan.kernel_counts().get("fast", {})
    for op in expect_fast:
        assert fast.get(op), f"{op} did not get a fast kernel: {plan.kernel_counts()}"
    for _ in range(2):
        got = plan.run(inputs)
        assert len(got) == len(expected)
        for e, a in zip(expected, got):
            assert a.shape == e.shape and a.dtype == e.dtype
            scale = max(1.0, float(np.abs(e).max())) if e.size else 1.0
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol * scale)
    return plan


def single(op, x_shape, *consts, dtype="f32", n_inputs=1, **attrs):
    """A graph of one `op` node on `n_inputs` graph inputs and constant operands `consts`."""
    g = Graph()
    xs = [g.add_input(f"x{i}", TensorType(s, dtype))
          for i, s in enumerate([x_shape] if n_inputs == 1 else x_shape)]
    cs = [None if c is None else g.add_constant(c) for c in consts]
    out = g.op(op, *xs, *cs, **attrs)
    g.set_outputs(out if isinstance(out, tuple) else [out])
    shapes = [x_shape] if n_inputs == 1 else x_shape
    return g, [rand(*s).astype(TensorType(s, dtype).dtype.numpy) for s in shapes]


# (name, x shape, W shape, bias?, attrs)
CONVS = [
    ("3x3 pad", (1, 4, 9, 9), (6, 4, 3, 3), True, dict(pads=(1, 1, 1, 1))),
    ("3x3 stride 2 asym pad", (2, 3, 10, 11), (5, 3, 3, 3), True,
     dict(pads=(0, 1, 2, 1), strides=(2, 2))),
    ("dilated", (1, 3, 12, 12), (4, 3, 3, 3), False, dict(pads=(2, 2, 2, 2), dilations=(2, 2))),
    ("5x3 strides 3x1", (1, 2, 13, 9), (3, 2, 5, 3), True, dict(strides=(3, 1))),
    ("grouped", (2, 6, 8, 8), (9, 2, 3, 3), True, dict(group=3, pads=(1, 1, 1, 1))),
    ("1x1 direct", (2, 8, 5, 7), (4, 8, 1, 1), True, {}),
    ("1x1 strided", (1, 8, 7, 7), (4, 8, 1, 1), False, dict(strides=(2, 2))),
    ("1x1 grouped", (1, 8, 4, 4), (8, 2, 1, 1), True, dict(group=4)),
    ("depthwise s1", (2, 5, 9, 9), (5, 1, 3, 3), True, dict(group=5, pads=(1, 1, 1, 1))),
    ("depthwise s2", (1, 6, 11, 10), (6, 1, 3, 3), True,
     dict(group=6, pads=(1, 1, 1, 1), strides=(2, 2))),
    ("depthwise 5x5 s2 asym", (1, 4, 12, 9), (4, 1, 5, 5), False,
     dict(group=4, pads=(2, 1, 1, 2), strides=(2, 3))),
    ("depthwise dilated", (1, 3, 10, 10), (3, 1, 3, 3), True,
     dict(group=3, pads=(2, 2, 2, 2), dilations=(2, 2))),
    ("depthwise dilated strided", (1, 3, 13, 13), (3, 1, 3, 2), True,
     dict(group=3, pads=(1, 0, 2, 1), dilations=(3, 2), strides=(2, 2))),
    ("depthwise no pad", (1, 4, 6, 6), (4, 1, 3, 3), False, dict(group=4)),
    ("channel multiplier", (1, 3, 7, 7), (6, 1, 3, 3), True, dict(group=3, pads=(1, 1, 1, 1))),
    ("1-D", (2, 3, 17), (4, 3, 3), True, dict(strides=(2,), pads=(1, 2), dilations=(1,))),
    ("1-D depthwise", (1, 4, 15), (4, 1, 5), True,
     dict(group=4, strides=(1,), pads=(2, 2), dilations=(1,))),
]


@pytest.mark.parametrize("name,x,w,bias,attrs", CONVS, ids=[c[0] for c in CONVS])
@pytest.mark.parametrize("activation,params", [("none", ()), ("relu", ()), ("clip", (0.0, 6.0)),
                                               ("leaky_relu", (0.1,)), ("sigmoid", ())])
def test_conv(name, x, w, bias, attrs, activation, params):
    b = rand(w[0]) if bias else None
    g, inputs = single("Conv", x, rand(*w), b, activation=activation, activation_params=params,
                       **attrs)
    check_plan(g, inputs, expect_fast=["Conv"])


@pytest.mark.parametrize("name,x,w,bias,attrs", CONVS, ids=[c[0] for c in CONVS])
def test_conv_with_computed_weights_and_bias(name, x, w, bias, attrs):
    """Weights and bias that are graph inputs (as a QDQ model's DequantizeLinear computes them):
    the fast paths prepare weights at build time, so such a Conv runs the reference kernel at
    run time (it ran on the uninitialized arena: values of 1e35)."""
    shapes = [x, w] + ([(w[0],)] if bias else [])
    g, inputs = single("Conv", shapes, n_inputs=len(shapes), **attrs)
    check_plan(g, inputs)


@pytest.mark.parametrize("name,x,w,bias,attrs", [c for c in CONVS if "depthwise" in c[0]],
                         ids=[c[0] for c in CONVS if "depthwise" in c[0]])
def test_depthwise_in_one_row_cache_blocks(monkeypatch, name, x, w, bias, attrs):
    """The depthwise path with every cache block a single output row."""
    from npucc.backends.simulator.kernels import conv

    monkeypatch.setattr(conv, "DEPTHWISE_BLOCK_BYTES", 1)
    b = rand(w[0]) if bias else None
    g, inputs = single("Conv", x, rand(*w), b, activation="clip", activation_params=(-1.0, 1.0),
                       **attrs)
    check_plan(g, inputs, expect_fast=["Conv"])


@pytest.mark.parametrize("name,x,w,bias,attrs", [c for c in CONVS if "depthwise" in c[0]],
                         ids=[c[0] for c in CONVS if "depthwise" in c[0]])
@pytest.mark.parametrize("activation,params", [("none", ()), ("relu", ()), ("clip", (-0.5, 0.7)),
                                               ("prelu", (0.1, -0.2, 0.3, 0.25, 0.5, 2.0)),
                                               ("sigmoid", ())])
def test_depthwise_as_the_compiled_loop(monkeypatch, name, x, w, bias, attrs, activation, params):
    """The float depthwise path as numerics' compiled loop (numerics/depthwise.py), which the
    plan takes for channels-first images when numba is installed."""
    from npucc.backends.simulator.kernels import conv
    from npucc.numerics import depthwise, jit

    if not jit.enabled():
        pytest.skip("numba is not installed (or NPUCC_NO_JIT=1): the numpy path runs")
    monkeypatch.setattr(conv, "DEPTHWISE_CHANNELS_LAST_PIXELS", 0)
    monkeypatch.setattr(jit, "SMALLEST", 0)
    calls = []
    run = depthwise.DepthwiseLoop.__call__
    monkeypatch.setattr(depthwise.DepthwiseLoop, "__call__",
                        lambda self, *a: calls.append(1) or run(self, *a))
    b = rand(w[0]) if bias else None
    params = params[:x[1]] if activation == "prelu" else params
    g, inputs = single("Conv", x, rand(*w), b, activation=activation, activation_params=params,
                       **attrs)
    check_plan(g, inputs, expect_fast=["Conv"])
    assert calls, "the compiled loop ran"


@pytest.mark.parametrize("stride", [1, 2])
def test_channels_last_chain(stride):
    """MobileNet's block: 1x1 expand (NCHW in, channels-last out), depthwise (channels-last in and
    out), 1x1 project (channels-last in), residual Add; the intermediate values are stored
    channels-last, the graph output is not."""
    from npucc.backends.simulator.kernels.conv import is_channels_last

    g = Graph()
    x = g.add_input("x", TensorType((2, 8, 9, 9), "f32"))
    relu6 = dict(activation="clip", activation_params=(0.0, 6.0))
    e = g.op("Conv", x, g.add_constant(rand(24, 8, 1, 1)), g.add_constant(rand(24)), **relu6)
    d = g.op("Conv", e, g.add_constant(rand(24, 1, 3, 3)), g.add_constant(rand(24)), group=24,
             pads=(1, 1, 1, 1), strides=(stride, stride), **relu6)
    p = g.op("Conv", d, g.add_constant(rand(8, 24, 1, 1)), g.add_constant(rand(8)))
    y = g.op("Add", p, x) if stride == 1 else g.op("Relu", p)
    g.set_outputs([y])
    plan = check_plan(g, [rand(2, 8, 9, 9)], expect_fast=["Conv"])
    layouts = [is_channels_last(n.outputs[0]) for n in plan.nodes]
    assert layouts == [True, True, False, False]


def test_im2col_conv_writing_channels_last():
    """A strided 3x3 conv whose output a depthwise conv reads: stored channels-last, computed as
    cols^T @ W^T."""
    from npucc.backends.simulator.kernels.conv import is_channels_last

    g = Graph()
    x = g.add_input("x", TensorType((1, 3, 24, 24), "f32"))
    c = g.op("Conv", x, g.add_constant(rand(8, 3, 3, 3)), g.add_constant(rand(8)),
             pads=(1, 1, 1, 1), strides=(2, 2), activation="relu")
    d = g.op("Conv", c, g.add_constant(rand(8, 1, 3, 3)), group=8, pads=(1, 1, 1, 1))
    g.set_outputs([d])
    plan = check_plan(g, [rand(1, 3, 24, 24)], expect_fast=["Conv"])
    assert is_channels_last(plan.nodes[0].outputs[0])


@pytest.mark.parametrize("name,x,w,bias,attrs", [c for c in CONVS if "1-D" not in c[0]],
                         ids=[c[0] for c in CONVS if "1-D" not in c[0]])
@pytest.mark.parametrize("pool_kernel,pool_strides", [((2, 2), (2, 2)), ((3, 3), (2, 2))])
def test_conv_with_fused_max_pool(name, x, w, bias, attrs, pool_kernel, pool_strides):
    """conv + relu + max-pool fused into one node (fuse-conv-pool) stays on the fast path."""
    b = rand(w[0]) if bias else None
    g, inputs = single("Conv", x, rand(*w), b, activation="relu", pool_kernel=pool_kernel,
                       pool_strides=pool_strides, **attrs)
    check_plan(g, inputs, expect_fast=["Conv"])


def test_run_restores_the_blas_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="the BLAS limit needs it")
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    g, inputs = single("MatMul", [(8, 8), (8, 8)], n_inputs=2)
    compile_plan(g).run(inputs)
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert after == before


def test_profile_times_every_step_on_the_given_inputs():
    """Plan.profile runs the real steps on the inputs it is given (the arena reuses the input's
    buffer, so stepping a plan without them would time garbage): every node with a step gets a
    time, and the plan's next run still matches the reference interpreter."""
    g = Graph()
    x = g.add_input("x", TensorType((1, 4, 8, 8), "f32"))
    c = g.op("Conv", x, g.add_constant(rand(6, 4, 3, 3)), pads=(1, 1, 1, 1), activation="relu")
    r = g.op("Reshape", c, shape=(1, 384))
    g.set_outputs([g.op("Sigmoid", r)])
    plan = compile_plan(g)
    xs = [rand(1, 4, 8, 8)]
    times = plan.profile(xs, repeats=2)
    assert set(times) == {p.node for p in plan.nodes if p.step is not None}
    assert "Conv" in {n.op for n in times} and all(t >= 0 for t in times.values())
    np.testing.assert_allclose(plan.run(xs)[0], run_graph(g, xs)[0], rtol=1e-5, atol=1e-6)


def test_f16_conv_falls_back_to_the_reference_kernel():
    g, inputs = single("Conv", (1, 2, 5, 5), rand(3, 2, 3, 3, dtype=np.float16), dtype="f16")
    plan = check_plan(g, inputs, rtol=1e-3, atol=1e-3)
    assert plan.kernel_counts() == {"reference": {"Conv": 1}}


POOLS = [
    ("MaxPool", dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))),
    ("MaxPool", dict(kernel_shape=(3, 3), strides=(2, 2), ceil_mode=True)),
    ("MaxPool", dict(kernel_shape=(2, 3), strides=(2, 1), pads=(1, 0, 1, 2), ceil_mode=True)),
    ("MaxPool", dict(kernel_shape=(2, 2), dilations=(2, 2), pads=(1, 1, 0, 0))),
    ("AveragePool", dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))),
    ("AveragePool", dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1),
                         count_include_pad=True)),
    ("AveragePool", dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), ceil_mode=True,
                         count_include_pad=True)),
    ("AveragePool", dict(kernel_shape=(2, 2), strides=(2, 2), ceil_mode=True)),
    ("AveragePool", dict(kernel_shape=(2, 2), strides=(2, 2))),
]


@pytest.mark.parametrize("op,attrs", POOLS, ids=lambda p: str(p))
def test_pool(op, attrs):
    g, inputs = single(op, (2, 3, 10, 9), **attrs)
    check_plan(g, inputs, expect_fast=[op])


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool(op):
    g, inputs = single(op, (2, 5, 6, 7))
    check_plan(g, inputs, expect_fast=[op])


@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True),
                                             (True, True)])
@pytest.mark.parametrize("c_shape", [None, (5,), (3, 5), (1, 1)])
def test_gemm(trans_a, trans_b, c_shape):
    a = (4, 3) if trans_a else (3, 4)
    b = rand(5, 4) if trans_b else rand(4, 5)
    c = None if c_shape is None else rand(*c_shape)
    g, inputs = single("Gemm", a, b, c, transA=trans_a, transB=trans_b, alpha=0.5, beta=2.0,
                       activation="relu")
    check_plan(g, inputs, expect_fast=["Gemm"])


def test_gemm_with_every_operand_an_input():
    g, inputs = single("Gemm", [(3, 4), (4, 5), (3, 5)], n_inputs=3, beta=0.5)
    check_plan(g, inputs, expect_fast=["Gemm"])


@pytest.mark.parametrize("a,b", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                                 ((4,), (4, 3))])
def test_matmul(a, b):
    g, inputs = single("MatMul", [a, b], n_inputs=2)
    check_plan(g, inputs)


def test_batch_norm():
    c = 4
    g, inputs = single("BatchNorm", (2, c, 3, 3), rand(c), rand(c), rand(c),
                       np.abs(rand(c)) + 0.1, epsilon=1e-3)
    check_plan(g, inputs, expect_fast=["BatchNorm"])


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
@pytest.mark.parametrize("shapes", [[(2, 3, 4), (2, 3, 4)], [(2, 3, 4), (3, 1)],
                                    [(1, 4), (3, 1)]])
def test_binary(op, shapes):
    g, inputs = single(op, shapes, n_inputs=2)
    check_plan(g, inputs, expect_fast=[op])


def test_integer_div_truncates_like_the_reference():
    g = Graph()
    a = g.add_input("a", TensorType((6,), "i32"))
    b = g.add_constant(np.array([3, -3, 2, 4, -5, 7], np.int32))
    g.set_outputs([g.op("Div", a, b)])
    plan = check_plan(g, [np.array([7, 7, -7, -9, 11, 3], np.int32)])
    assert plan.kernel_counts() == {"reference": {"Div": 1}}


@pytest.mark.parametrize("op,attrs", [("Relu", {}), ("Clip", dict(min=-0.5, max=0.7)),
                                      ("LeakyRelu", dict(alpha=0.2)), ("Sigmoid", {}),
                                      ("Tanh", {}), ("HardSwish", {}), ("Mish", {}),
                                      ("HardSigmoid", {}), ("Softmax", dict(axis=1))])
def test_unary(op, attrs):
    g, inputs = single(op, (2, 3, 4), **attrs)
    check_plan(g, inputs)


@pytest.mark.parametrize("op,attrs", [
    ("Reshape", dict(shape=(6, 4))), ("Flatten", dict(axis=2)), ("Squeeze", dict(axes=(1,))),
    ("Unsqueeze", dict(axes=(0, 3))), ("Identity", {}), ("Transpose", dict(perm=(2, 0, 1, 3))),
    ("Slice", dict(starts=(1,), ends=(100,), axes=(3,), steps=(1,))),
    ("Pad", dict(pads=(0, 0, 1, 0, 0, 0, 0, 2), mode="reflect", value=0.0)),
    ("Split", dict(axis=3, split=(1, 3))), ("ReduceMean", dict(axes=(2, 3), keepdims=False)),
])
def test_shape_ops(op, attrs):
    g, inputs = single(op, (2, 1, 3, 4), **attrs)
    check_plan(g, inputs)


def test_concat_of_inputs_and_constants():
    g = Graph()
    a = g.add_input("a", TensorType((2, 3, 4), "f32"))
    b = g.add_input("b", TensorType((2, 1, 4), "f32"))
    c = g.add_constant(rand(2, 2, 4))
    g.set_outputs([g.op("Concat", a, c, b, axis=1)])
    check_plan(g, [rand(2, 3, 4), rand(2, 1, 4)], expect_fast=["Concat"])


def test_view_of_a_constant_and_an_output_that_is_an_input():
    g = Graph()
    x = g.add_input("x", TensorType((2, 6), "f32"))
    c = g.add_constant(rand(3, 4))
    r = g.op("Reshape", c, shape=(2, 6))
    g.set_outputs([g.op("Add", x, r), r, x])
    check_plan(g, [rand(2, 6)])


def test_inputs_by_name_and_multiple_outputs_and_batch_2():
    """A small two-input, three-output network at batch 2, inputs given by name."""
    g = Graph()
    img = g.add_input("img", TensorType((2, 3, 16, 16), "f32"))
    aux = g.add_input("aux", TensorType((2, 8), "f32"))
    y = g.op("Conv", img, g.add_constant(rand(8, 3, 3, 3)), g.add_constant(rand(8)),
             pads=(1, 1, 1, 1), strides=(2, 2), activation="relu")
    y = g.op("Conv", y, g.add_constant(rand(8, 1, 3, 3)), None, pads=(1, 1, 1, 1), group=8)
    p = g.op("MaxPool", y, kernel_shape=(2, 2), strides=(2, 2))
    gap = g.op("Flatten", g.op("GlobalAveragePool", p), axis=1)
    mix = g.op("Add", gap, aux)
    logits = g.op("Gemm", mix, g.add_constant(rand(5, 8)), g.add_constant(rand(5)), transB=True)
    g.set_outputs([logits, p, g.op("Softmax", logits, axis=1)])
    inputs = {"img": rand(2, 3, 16, 16), "aux": rand(2, 8)}
    expected = run_graph(g, inputs)
    plan = compile_plan(g)
    for e, a in zip(expected, plan.run(inputs)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)
    for e, a in zip(expected, plan.run([inputs["img"], inputs["aux"]])):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)


def test_returned_arrays_are_not_the_plans_buffers():
    g, inputs = single("Relu", (4,))
    plan = compile_plan(g)
    first = plan.run(inputs)[0]
    kept = first.copy()
    plan.run([-inputs[0]])
    np.testing.assert_array_equal(first, kept)


@pytest.fixture
def failing_op():
    """An op whose kernel always raises (a kernel bug stand-in), unregistered afterwards so it
    never leaks into the global registry (docs/OPS.md is generated from it)."""
    from npucc.ir import OPS, define_op
    from npucc.ir.registry import same_as_input

    @define_op("SimulatorTestFails", inputs=("X",), infer=same_as_input)
    def _fails(x):
        """Always raises (a kernel bug stand-in)."""
        raise ValueError("boom")

    yield "SimulatorTestFails"
    del OPS["SimulatorTestFails"]


def test_a_failing_step_names_the_node(failing_op):
    from npucc.backends.simulator import SimulatorError

    g = Graph()
    x = g.add_input("x", TensorType((3,), "f32"))
    g.set_outputs([g.op("SimulatorTestFails", g.op("Relu", x), provenance=["layer7"])])
    plan = compile_plan(g)
    with pytest.raises(SimulatorError, match="SimulatorTestFails.*layer7.*boom"):
        plan.run([np.ones(3, np.float32)])
