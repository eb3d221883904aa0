"""legalize(graph, target): every violated rule of every node, with the rule's reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import npucc
from npucc.errors import TargetError
from npucc.ir.graph import Graph
from npucc.ir.types import TensorType
from npucc.passes import default_pipeline, run_passes
from npucc.targets import CONSTRAINTS, get_target, legalize

SSD = Path(__file__).resolve().parents[1] / "models" / "caffe" / "mobilenet_ssd" / \
    "MobileNetSSD_deploy.prototxt"


def unsupported_model() -> Graph:
    """A small model that breaks several RKNPU1 rules, some nodes more than one."""
    g = Graph("bad")
    x = g.add_input("x", TensorType((1, 2, 24, 24), "f32"))
    w = g.add_constant(np.zeros((4, 2, 11, 11), np.float32))
    # 11x11 / 1 (limit 10) with dilations (2, 3): two rules at once
    y = g.op("Conv", x, w, pads=(10, 16, 10, 14), dilations=(2, 3), provenance=["big_conv"])
    p = g.op("Pad", y, pads=(1, 0, 0, 0, 0, 0, 0, 0), value=2.0, provenance=["pad"])
    s = g.op("Softmax", g.op("Reshape", p, shape=(2 * 4 * 24 * 24,), provenance=["flat"]),
             axis=0, provenance=["softmax"])
    c = g.op("Greater", s, g.add_constant(np.float32(0.5)), provenance=["threshold"])
    ok = g.op("Relu", y, provenance=["relu"])
    g.set_outputs([c, ok])
    return g


def test_every_violation_of_every_node_is_listed():
    leg = legalize(unsupported_model(), "rk1808")
    got = {tuple(sorted(n.node.provenance)): [v.rule for v in n.violations] for n in leg}
    assert got == {
        ("big_conv",): ["kernel_stride_limit", "dilation_not_mixed"],
        ("pad",): ["pad_value_zero_when_quantized", "pad_not_on_batch"],
        ("flat",): [],
        ("softmax",): ["softmax_not_1d"],
        ("threshold",): ["op_in_target_list", "no_compare_or_logical"],
        ("relu",): [],
    }
    # the reason is the rule's docstring (filled for the target); the detail names the node's
    conv = next(n for n in leg if n.node.op == "Conv")
    assert conv.violations[0].reason == \
        "Kernel height and width are between 1 and 11*stride - 1 (the stride on the same axis)."
    assert conv.violations[0].detail == "kernel 11x11 with strides 1x1: 11 > 10, 11 > 10"
    assert [n.node.op for n in leg.unsupported] == ["Conv", "Pad", "Softmax", "Greater"]
    relu = next(n.node for n in leg if n.node.op == "Relu")
    assert leg.supported(relu) and relu not in leg.reasons


def test_report_lists_every_reason():
    leg = legalize(unsupported_model(), "rk1808")
    text = leg.report()
    assert text.splitlines()[0] == "rk1808: 2 of 6 nodes run on the NPU, 4 on the CPU"
    for node, violations in leg.reasons.items():
        for v in violations:
            assert f"- {v.rule}: {v.reason}" in text
            assert v.detail in text
    assert "Greater threshold [int8]: CPU" in text


def test_same_model_on_rknpu2_breaks_other_rules():
    leg = legalize(unsupported_model(), "rk3588")
    got = {n.node.op: [v.rule for v in n.violations] for n in leg.unsupported}
    # RKNPU2 takes 11x11 kernels and comparisons, not 15-pixel pads or a 1-D softmax
    assert got == {"Conv": ["pad_range", "dilation_not_mixed"],
                   "Pad": ["pad_value_zero_when_quantized", "pad_not_on_batch"],
                   "Softmax": ["softmax_not_1d"]}


def test_dtype_decides_float_nodes_precision():
    g = unsupported_model()
    assert all(not v.on_npu for v in legalize(g, "rk3566", "int16"))  # no int16 on RK3566
    relu = next(v for v in legalize(g, "rk3566", "fp16") if v.node.op == "Relu")
    assert relu.on_npu and relu.precision == "fp16"
    with pytest.raises(TargetError, match="unknown dtype 'int4'"):
        legalize(g, "rk3588", "int4")


def test_verdict_of_a_foreign_node_is_an_error():
    leg = legalize(unsupported_model(), "rk3588")
    other = unsupported_model()
    with pytest.raises(TargetError, match="not a node of the legalized graph"):
        leg.supported(next(iter(other.nodes)))


@pytest.mark.parametrize("target", ["rk3588", "rk1808"])
def test_mobilenet_ssd_detection_output_goes_to_the_cpu(target):
    graph = npucc.load(SSD, weights="random")
    run_passes(graph, default_pipeline())
    leg = legalize(graph, target)
    (bad,) = leg.unsupported
    assert bad.node.op == "DetectionOutput" and bad.node.provenance == {"detection_out"}
    (v,) = bad.violations
    assert v.rule == "op_in_target_list"
    assert v.reason == CONSTRAINTS["op_in_target_list"].reason(get_target(target))
    assert v.detail == f"DetectionOutput is not in {target}'s NPU op list"
    assert "DetectionOutput detection_out [int8]: CPU" in leg.report()


def test_float_nodes_of_a_quantized_graph_run_on_the_cpu():
    """A node quantize_graph kept float computes in f32 (the simulator runs it so), which no NPU
    does: CPU, whatever dtype is asked; in a float graph the same node takes the build's
    precision. The cost model then counts the graph's own DequantizeLinear as the conversion."""
    from npucc.backends.npu.cost import estimate
    from npucc.passes.quantize import quantize_graph
    from npucc.testing.quantized_strategies import calibrate

    g = Graph("net")
    x = g.add_input("x", TensorType((1, 3, 8, 8), "f32"))
    w = g.add_constant(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32))
    c = g.op("Conv", x, w, pads=(1, 1, 1, 1), provenance=["conv"])
    g.set_outputs([g.op("LogSoftmax", c, axis=1, provenance=["softmax"])])
    assert all(v.on_npu for v in legalize(g, "rk3588"))
    q = quantize_graph(g, calibrate(g), dtype="i8")
    for dtype in (None, "int8", "fp16"):
        leg = legalize(q, "rk3588", dtype)
        softmax = next(v for v in leg if v.node.op == "LogSoftmax")
        assert softmax.precision == "f32" and not softmax.on_npu
        assert "computes in f32" in softmax.violations[0].detail
        assert [v.node.op for v in leg.unsupported] == ["LogSoftmax"]
    ops = [(x.op, x.device) for x in estimate(q, "rk3588").layers]
    assert ops == [("QuantizeLinear", "NPU"), ("Conv", "NPU"), ("DequantizeLinear", "NPU"),
                   ("LogSoftmax", "CPU")]
