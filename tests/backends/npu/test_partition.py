"""Partitioning into NPU and CPU partitions: the partitioned graph computes bit for bit what the
original computes (interpreter and plan), every node lands where its reasons say, conversions sit
at the boundaries, and NPU islands between CPU nodes do not ping-pong."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.api import compile as compile_model
from npucc.backends.npu.partition import (
    CONVERSION_OPS,
    SimpleCost,
    conversions,
    node_reasons,
    partition,
    partitions,
)
from npucc.backends.simulator import compile_plan
from npucc.errors import NpuccError
from npucc.frontends import caffe
from npucc.ir import format_graph, parse
from npucc.ir.text import describe_difference, graphs_equal
from npucc.ir.verify import verification_problems
from npucc.numerics import run_graph
from npucc.testing import graphs, random_inputs
from npucc.testing.strategies import APPLIERS, DISCONTINUOUS_OPS

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "tf"
SSD = REPO / "tests" / "models" / "caffe" / "mobilenet_ssd" / "MobileNetSSD_deploy.prototxt"

NPU_WINS = SimpleCost(cpu_macs_per_s=1e-3)       # never worth moving work to the CPU
CPU_WINS = SimpleCost(npu_macs_per_s=1e-3)       # always worth it when a transfer is saved
DEFAULT_MIX = [op for op, a in APPLIERS.items() if op not in DISCONTINUOUS_OPS and a.available()]


def bits(arrays):
    return [(a.dtype, a.shape, a.tobytes()) for a in arrays]


def all_nodes(graph):
    """(node, device or None for top level) for every node, bodies included."""
    out = []
    for n in graph.nodes:
        if n.op == "Partition":
            out += [(m, n.attrs["device"]) for m in n.attrs["body"].nodes]
        else:
            out.append((n, None))
    return out


def check_partitioned(graph, parted, cpu_names):
    assert verification_problems(parted) == []
    text = format_graph(parted, max_inline=None)
    assert graphs_equal(parse(text), parted), describe_difference(parse(text), parted)
    placed = all_nodes(parted)
    # every node once, with its name, op, attributes and provenance; nothing added
    assert sorted((n.outputs[0].name if n.outputs else "", n.op) for n, _ in placed) == \
        sorted((n.outputs[0].name if n.outputs else "", n.op) for n in graph.nodes)
    for n, device in placed:
        name = n.outputs[0].name if n.outputs else ""
        if device is None:
            assert n.op in CONVERSION_OPS
        elif name in cpu_names:
            assert device == "cpu", f"{n.describe()} has reasons but is on the {device}"
    for p in partitions(parted):
        if p.device == "npu":
            assert p.reasons == ()
        else:
            assert len(p.reasons) >= 1
    # partitions run in order: each reads only values defined before it
    assert [v.name for v in parted.inputs] == [v.name for v in graph.inputs]
    assert [v.name for v in parted.outputs] == [v.name for v in graph.outputs]


def check_same_results(graph, parted, seed):
    inputs = random_inputs(graph, seed)
    assert bits(run_graph(parted, inputs)) == bits(run_graph(graph, inputs))
    assert bits(compile_plan(parted).run(inputs)) == bits(compile_plan(graph).run(inputs))


@st.composite
def partition_cases(draw, graph_strategy):
    graph = draw(graph_strategy)
    names = [n.outputs[0].name for n in graph.nodes if n.outputs]
    cpu = {name for name in names if draw(st.booleans())}
    cost = draw(st.sampled_from([None, NPU_WINS, CPU_WINS]))
    return graph, cpu, cost


def _property(case, seed):
    graph, cpu, cost = case
    before = format_graph(graph, max_inline=None)
    parted = partition(graph, {name: f"{name} is drawn for the CPU" for name in cpu}, cost=cost)
    assert format_graph(graph, max_inline=None) == before  # the input graph is untouched
    check_partitioned(graph, parted, cpu)
    check_same_results(graph, parted, seed)


@settings(max_examples=60, deadline=None)
@given(partition_cases(graphs(max_nodes=12, ops=DEFAULT_MIX + ["QuantizeLinear"])),
       st.integers(0, 2 ** 16))
def test_partitioned_graphs_compute_the_same_bits(case, seed):
    _property(case, seed)


@settings(max_examples=25, deadline=None)
@given(partition_cases(graphs(max_nodes=8, dtypes=("f32", "f16", "i32", "u8"), layout=None)),
       st.integers(0, 2 ** 16))
def test_partitioned_mixed_dtype_graphs_compute_the_same_bits(case, seed):
    _property(case, seed)


def test_predicate_forms():
    g = parse(HYBRID, constants="random")
    by_callable = node_reasons(g, lambda n: ["no"] if n.op == "Softmax" else None)
    by_name = node_reasons(g, {"soft": "no"})
    by_node = node_reasons(g, {n: False for n in g.nodes if n.op == "Softmax"})
    for reasons in (by_callable, by_name):
        assert sorted(r for r in reasons.values() if r) == [("no",)]
    assert [r for r in by_node.values() if r] == [("not supported on the NPU (predicate)",)]
    with pytest.raises(NpuccError, match="callable or a mapping"):
        node_reasons(g, 3)


HYBRID = """graph hybrid(%x: f32[1,4,6,6]) -> (%y) {
  %q = QuantizeLinear(%x) {scale=[0.05], zero_point=[3], dtype=i8}
  %p = MaxPool(%q) {kernel_shape=[2, 2], strides=[2, 2]} : i8[1,4,3,3]<affine scale=0.05 zp=3>
  %d = DequantizeLinear(%p) {scale=[0.05], zero_point=[3]}
  %soft = Softmax(%d) {axis=1}
  %q2 = QuantizeLinear(%soft) {scale=[0.004], zero_point=[-128], dtype=i8}
  %r = Relu(%q2) : i8[1,4,3,3]<affine scale=0.004 zp=-128>
  %y = DequantizeLinear(%r) {scale=[0.004], zero_point=[-128]}
  return %y
}"""


def test_conversions_stay_at_the_boundaries():
    """NPU side quantized, CPU side float: the Quantize/Dequantize nodes between them (and
    between the host and the NPU) are top-level nodes, not inside a partition."""
    g = parse(HYBRID, constants="random")
    parted = partition(g, {"soft": "Softmax is not on this NPU"}, cost=NPU_WINS)
    top = [(n.op, n.attrs.get("device")) for n in parted.nodes]
    assert top == [("QuantizeLinear", None), ("Partition", "npu"), ("DequantizeLinear", None),
                   ("Partition", "cpu"), ("QuantizeLinear", None), ("Partition", "npu"),
                   ("DequantizeLinear", None)]
    assert [c.outputs[0].name for c in conversions(parted)] == ["q", "d", "q2", "y"]
    cpu = partitions(parted)[1]
    assert cpu.reasons == ("Softmax %soft: Softmax is not on this NPU",)
    check_partitioned(g, parted, {"soft"})
    check_same_results(g, parted, 0)


def test_quantized_tflite_model_partitions_with_float_io_conversions():
    model = compile_model(str(FIXTURES / "small_int8_float_io.tflite"))
    parted = partition(model.graph, {"functional_1/global_average_pooling2d_1/Mean":
                                     "ReduceMean over H and W is not on this NPU"},
                       cost=NPU_WINS)
    ops = [n.op if n.op != "Partition" else n.attrs["device"] for n in parted.nodes]
    assert ops[0] == "QuantizeLinear" and ops[-1] == "DequantizeLinear"
    assert "cpu" in ops and ops.count("npu") >= 1
    check_same_results(model.graph, parted, 0)
    x = random_inputs(model.graph, 1)
    assert bits(compile_plan(parted).run(x)) == bits(model.run(x))


ISLAND = """graph island(%x: f32[1,8]) -> (%y) {
  %a = Softmax(%x) {axis=1}
  %b = Relu(%a)
  %c = Softmax(%b) {axis=1}
  %y = Relu(%c)
  return %y
}"""


def test_a_tiny_npu_island_between_cpu_nodes_moves_to_the_cpu():
    g = parse(ISLAND)
    reasons = {"a": "softmax on CPU", "c": "softmax on CPU"}
    merged = partition(g, reasons)  # default cost: one Relu is not worth two transfers
    (only,) = partitions(merged)
    assert only.device == "cpu" and only.nodes == 3 or only.nodes == 4
    moved = [r for r in only.reasons if "runs on the CPU with its neighbours" in r]
    assert moved and moved[0].startswith("Relu %b:")
    assert "2 CPU/NPU transfer(s)" in moved[0]
    kept = partition(g, reasons, cost=NPU_WINS)  # a cost model that says it is worth it
    assert [p.device for p in partitions(kept)] == ["cpu", "npu", "cpu", "npu"]
    for p in (merged, kept):
        check_same_results(g, p, 0)


CONV_ISLAND = """graph island(%x: f32[1,{c},{s},{s}]) -> (%y) {{
  %a = Softmax(%x) {{axis=1}}
  %w = const f32[{c},{c},3,3] elided
  %b = Conv(%a, %w) {{pads=[1, 1, 1, 1]}}
  %y = Softmax(%b) {{axis=1}}
  return %y
}}"""


def placed(graph, target, cpu):
    """The target's legalization of `graph` with exactly the nodes named in `cpu` on the CPU."""
    from npucc.targets import legalize
    from npucc.targets.legalize import Legalization, NodeVerdict, Violation

    leg = legalize(graph, target)
    on_cpu = (Violation("placed", "placed on the CPU by the test", ""),)
    return Legalization(graph, leg.target, [
        NodeVerdict(v.node, v.precision, on_cpu if v.node.outputs[0].name in cpu else ())
        for v in leg])


@pytest.mark.parametrize("target", ["rk3588", "rk1808", "generic"])
def test_default_cost_follows_the_target_cost_model(target):
    """By default an NPU island between CPU nodes moves to the CPU exactly when the target cost
    model's whole-graph estimate (layers + boundary conversions) is lower that way: a 4x4 conv
    is not worth two conversions, a 64-channel 56x56 one is."""
    from npucc.backends.npu.cost import estimate

    decided = []
    for channels, size in ((4, 4), (64, 56)):
        g = parse(CONV_ISLAND.format(c=channels, s=size),
                  constants="random")
        parted = partition(g, {"a": "no", "y": "no"}, target=target)
        moved = [p.device for p in partitions(parted)] == ["cpu"]
        split = estimate(g, target, legalization=placed(g, target, {"a", "y"}))
        merged = estimate(g, target, legalization=placed(g, target, {"a", "b", "y"}))
        assert moved == (merged.total_time_us <= split.total_time_us), (channels, size)
        as_placed = estimate(parted, target)  # a partitioned graph is costed as placed
        assert as_placed.total_time_us == pytest.approx(
            (merged if moved else split).total_time_us, rel=1e-12)
        (conv,) = [x for x in as_placed.layers if x.op == "Conv"]
        assert conv.device == ("CPU" if moved else "NPU")
        assert not moved or conv.reasons[0].startswith("runs on the CPU with its neighbours")
        decided.append(moved)
        check_same_results(g, parted, 0)
    assert decided == [True, False]


PARALLEL = """graph parallel(%x: f32[1,8]) -> (%y) {
  %a = Relu(%x)
  %c = Softmax(%a) {axis=1}
  %d = Sigmoid(%x)
  %e = Tanh(%d)
  %f = Add(%c, %e)
  %y = Neg(%f)
  return %y
}"""


def test_independent_npu_work_joins_one_partition():
    """a, d, e do not depend on the CPU node c: they form one NPU partition before it, so the
    graph switches device twice, not four times."""
    parted = partition(parse(PARALLEL), {"c": "no"}, cost=NPU_WINS)
    ps = partitions(parted)
    assert [(p.device, p.nodes) for p in ps] == [("npu", 3), ("cpu", 1), ("npu", 2)]
    assert ps[0].outputs == ("a", "e")


def test_mobilenet_ssd_detection_output_goes_to_the_cpu_with_its_reason():
    graph = caffe.load(SSD, weights="random", input_shapes={"data": (1, 3, 160, 160)})
    model = compile_model(graph)
    reason = "DetectionOutput (box decoding and NMS) has no NPU kernel"
    parted = partition(model.graph, lambda n: reason if n.op == "DetectionOutput" else ())
    npu, cpu = partitions(parted)
    assert npu.device == "npu" and npu.nodes == len(model.graph) - 1
    assert cpu.device == "cpu" and cpu.ops == {"DetectionOutput": 1}
    assert cpu.reasons == (f"DetectionOutput %detection_out (from detection_out): {reason}",)
    assert cpu.inputs == ("mbox_loc", "mbox_conf_flatten") and cpu.outputs == ("detection_out",)
    x = random_inputs(model.graph, 0)
    assert bits(compile_plan(parted).run(x)) == bits(model.run(x))


def test_refuses_a_partitioned_graph():
    parted = partition(parse(ISLAND), {"a": "no"})
    with pytest.raises(NpuccError, match="already partitioned"):
        partition(parted)


def test_default_cost_counts_macs():
    g = parse("""graph g(%x: f32[1,3,8,8]) -> (%y) {
  %w = const f32[4,3,3,3] elided
  %y = Conv(%x, %w) {pads=[1, 1, 1, 1]}
  return %y
}""", constants="random")
    conv = next(g.nodes)
    cost = SimpleCost()
    assert cost.node_time(conv, "cpu") == pytest.approx(4 * 8 * 8 * 27 / cost.cpu_macs_per_s)
    assert cost.transfer_time(conv.output) == pytest.approx(
        cost.transfer_overhead_s + 4 * 64 * 4 / cost.bytes_per_s)
    assert np.isfinite(cost.node_time(conv, "npu"))


def test_partition_by_the_target_legalization(tmp_path):
    """With issue 12 part A's targets: the CPU partition lists every violated rule, and a blob
    built without a predicate is legalized for its target and carries its cost report."""
    import npucc
    from npucc import targets
    from npucc.backends.npu.blob_reader import read_blob

    model = compile_model(caffe.load(SSD, weights="random", input_shapes={"data": (1, 3, 96, 96)}))
    leg = targets.legalize(model.graph, "rk1808")
    parted = partition(model.graph, leg)
    det = next(n for n in model.graph.nodes if n.op == "DetectionOutput")
    cpu = [p for p in partitions(parted) if p.device == "cpu"]
    reasons = [r for p in cpu for r in p.reasons]
    for v in leg.verdict(det).violations:
        assert any(r.startswith(f"{det.describe()}: {v.rule}: {v.reason}") for r in reasons)
    blob = read_blob(npucc.write_blob(tmp_path / "ssd.npub", model, "rk1808"), "rk1808")
    assert blob.cost["target"] == "rk1808" and blob.cost["total_time_us"] > 0
    assert [p.reasons for p in partitions(blob.graph) if p.device == "cpu"] == \
        [p.reasons for p in cpu]
