"""The simulator plan's special paths, reached by drawn conv chains and checked against the
reference interpreter: channels-last values between convs, the depthwise kernel's channels-last
path, fused activations (per-channel PRelu too) and fused max-pools in the fast conv kernel, and
the exact integer accumulators of quantized convs (float32 BLAS below 2**24, float64 beyond).

Float graphs run before and after the default pipeline (which fuses activations and pools) and
must agree with the interpreter within the dtype's tolerance; quantized graphs bit for bit. Each
test counts which paths the examples took (from the compiled plan: `PlannedNode.kernel`, the
conv geometry, the layout of the planned arrays) and requires a good share of examples to take
each one, so a strategy change cannot silently stop exercising them (derandomized: the same
examples, and the same shares, on every run).
"""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.backends.simulator import compile_plan
from npucc.backends.simulator.kernels.conv import ConvGeometry, is_channels_last
from npucc.numerics import run_graph
from npucc.passes import PassManager, default_pipeline
from npucc.testing import conv_chains, random_inputs, tolerance_for

FLOAT_EXAMPLES, QUANTIZED_EXAMPLES = 100, 60


def _compare(graph, plan, inputs, exact: bool) -> None:
    want = run_graph(graph, inputs)
    for _ in range(2):  # a second run must not see leftovers of the first in reused buffers
        for v, e, g in zip(graph.outputs, want, plan.run(inputs)):
            assert g.shape == e.shape and g.dtype == e.dtype, v.name
            if exact:
                np.testing.assert_array_equal(g, e, err_msg=f"%{v.name}\n{graph}")
            else:
                rtol, atol = tolerance_for(v.dtype)
                np.testing.assert_allclose(g, e, rtol=rtol, atol=atol,
                                           err_msg=f"%{v.name}\n{graph}")


def _paths(plan) -> set[str]:
    """The special paths this plan takes."""
    taken = set()
    for p in plan.nodes:
        if any(is_channels_last(a) for a in p.outputs):
            taken.add("channels-last value")
        if p.node.op != "Conv" or p.kernel != "fast":
            continue
        attrs = p.node.attrs
        if attrs["activation"] != "none":
            taken.add("fused activation")
        if attrs["activation"] == "prelu":
            taken.add("fused per-channel prelu")
        if attrs["pool_kernel"]:
            taken.add("fused pool")
        geo = ConvGeometry.of(p.node)
        if geo.path == "depthwise":
            taken.add("depthwise channels-last" if geo.depthwise_channels_last
                      else "depthwise channels-first")
        elif geo.direct:
            taken.add("direct 1x1")
    return taken


def _require(seen: Counter, examples: int, shares: dict[str, float]) -> None:
    low = {path: f"{seen[path]}/{examples}" for path, share in shares.items()
           if seen[path] < share * examples}
    assert not low, f"paths taken by too few examples: {low} (all: {dict(seen)})"


def test_float_conv_chains_reach_the_fast_paths_and_match_the_interpreter():
    seen: Counter = Counter()
    runs = 0

    @settings(max_examples=FLOAT_EXAMPLES, deadline=None, database=None, derandomize=True)
    @given(conv_chains(min_convs=2), st.integers(0, 2 ** 16))
    def check(graph, seed):
        nonlocal runs
        inputs = random_inputs(graph, seed)
        fused = graph.copy()
        PassManager(default_pipeline()).run(fused)
        for g in (graph, fused):
            plan = compile_plan(g)
            seen.update(_paths(plan))
            runs += 1
            _compare(g, plan, inputs, exact=False)
        # the fused graph also computes what the drawn one does
        for v, e, got in zip(graph.outputs, run_graph(graph, inputs),
                             compile_plan(fused).run(inputs)):
            rtol, atol = tolerance_for(v.dtype)
            np.testing.assert_allclose(got, e, rtol=rtol, atol=atol)

    check()
    # (about half of what the derandomized examples give: 40%, 92%, 56%, 14%, 65%, 35%, 54%)
    _require(seen, runs, {"channels-last value": 0.2, "fused activation": 0.45,
                          "fused per-channel prelu": 0.25, "fused pool": 0.07,
                          "depthwise channels-last": 0.3, "depthwise channels-first": 0.15,
                          "direct 1x1": 0.25})



@pytest.fixture
def accumulator_dtypes(monkeypatch):
    """Records the accumulator dtype every quantized linear kernel chooses: the float type the
    constant-weight GEMMs accumulate in, and the general path's choice."""
    import npucc.numerics.accumulate as module

    chosen: list = []

    def spy(name, pick):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            chosen.append(pick(args, result))
            return result
        monkeypatch.setattr(module, name, wrapper)

    def path(dtype, splits):
        return f"{np.dtype(dtype).name}{' split' if splits else ''}"

    spy("float_for", lambda args, result: path(result, ()))
    spy("conv_accumulator", lambda args, result: path(args[4], args[6:7] and args[6]))
    spy("matmul_accumulator", lambda args, result: path(args[3], args[4:5] and args[4]))
    return chosen


def test_quantized_conv_chains_accumulate_exactly_and_match_the_interpreter(accumulator_dtypes):
    seen: Counter = Counter()

    @settings(max_examples=QUANTIZED_EXAMPLES, deadline=None, database=None,
              derandomize=True)
    @given(conv_chains(quantized=True), st.integers(0, 2 ** 16))
    def check(graph, seed):
        start = len(accumulator_dtypes)
        plan = compile_plan(graph)
        _compare(graph, plan, random_inputs(graph, seed), exact=True)
        seen.update({f"{d} accumulator" for d in accumulator_dtypes[start:]})
        seen["examples"] += 1

    check()
    # (about half of what the derandomized examples give: 77% and 52%)
    # (8-bit chains: float64 is needed only by 16-bit products, which the dfp16 model tests take)
    _require(seen, seen["examples"], {"float32 accumulator": 0.4,
                                      "float32 split accumulator": 0.25})


@pytest.mark.parametrize("c, size, m", [
    (5, 6, None),     # depthwise, channels-last blocks of rows (the slopes along axis 2)
    (64, 40, None),   # depthwise, channels-first blocks of channels (each block its own slopes)
    (3, 6, 6),        # 1x1 GEMM writing channels-last for the depthwise conv after it
])
def test_a_fused_per_channel_prelu_is_applied_per_channel_on_every_conv_path(c, size, m):
    """Issue 9's MediaPipe crash (a fused per-channel PRelu run channels-last), and its silent
    twin (the slopes broadcast along the wrong axis when the width equals the channels)."""
    from npucc.ir import Graph, TensorType

    rng = np.random.default_rng(0)
    g = Graph("prelu")
    y = x = g.add_input("x", TensorType((1, c, size, size), "f32"))
    if m is not None:  # pointwise conv with a fused PRelu, feeding a depthwise conv
        y = g.op("Conv", x, g.add_constant(rng.standard_normal((m, c, 1, 1)).astype(np.float32)),
                 activation="prelu", activation_params=tuple(rng.uniform(-1, 1, m)))
        c = m
    slopes = tuple(float(s) for s in rng.uniform(-1, 1, c))
    y = g.op("Conv", y, g.add_constant(rng.standard_normal((c, 1, 3, 3)).astype(np.float32)),
             group=c, pads=(1, 1, 1, 1), activation="prelu", activation_params=slopes)
    g.set_outputs([g.op("Relu", y)])
    plan = compile_plan(g)
    assert any(p.node.op == "Conv" and p.kernel == "fast" for p in plan.nodes)
    _compare(g, plan, random_inputs(g, 0), exact=False)


def _integer_paths(plan) -> set[str]:
    """The integer plan forms (numerics/integer/planned_conv.py) this plan takes."""
    from npucc.numerics.integer.planned_conv import planned_conv

    taken, producers = set(), {}
    for p in plan.nodes:
        for v, a in zip(p.node.outputs, p.outputs):
            producers[v.name] = a
    for p in plan.nodes:
        if p.node.op != "Conv" or p.kernel != "fast":
            continue
        kind = planned_conv(p.node).kind
        x = producers.get(p.node.inputs[0].name)
        layouts = {"channels-last" if a is not None and is_channels_last(a) else "NCHW"
                   for a in (x, p.outputs[0])}
        taken.add(f"{kind} {' / '.join(sorted(layouts))}")
    return taken


def test_integer_conv_chains_take_the_plan_forms_and_match_the_interpreter(monkeypatch):
    """Quantized conv chains run in the affine profile: the plan binds its integer Conv forms to
    its own arrays (depthwise convs channels-last, their 1x1 neighbours writing and reading that
    layout, the other convs in place) and gives the reference interpreter's integers bit for
    bit, through every layout combination."""
    from npucc.numerics import jit

    monkeypatch.setattr(jit, "IMPORT_AT", 0)  # the compiled loops on the drawn (small) images
    monkeypatch.setattr(jit, "SMALLEST", 0)
    seen: Counter = Counter()

    @settings(max_examples=QUANTIZED_EXAMPLES, deadline=None, database=None, derandomize=True)
    @given(conv_chains(quantized=True, min_convs=2), st.integers(0, 2 ** 16))
    def check(graph, seed):
        graph.numerics = "affine"
        plan = compile_plan(graph)
        _compare(graph, plan, random_inputs(graph, seed), exact=True)
        seen.update(_integer_paths(plan))
        seen["examples"] += 1

    check()
    # (about half of what the derandomized examples give: 7%, 23%, 22%, 12%, 10%, 40%, 75%)
    _require(seen, seen["examples"], {"depthwise channels-last": 0.03,
                                      "depthwise NCHW / channels-last": 0.1,
                                      "depthwise NCHW": 0.1, "direct channels-last": 0.05,
                                      "direct NCHW / channels-last": 0.05, "direct NCHW": 0.2,
                                      "gemm NCHW": 0.35})
