"""The NPU cost model on hand-built graphs: MAC counts, the roofline, on-chip reuse, CPU
layers and boundary conversions, memory, dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from npucc.backends.npu import estimate
from npucc.backends.simulator import plan_buffers
from npucc.ir.graph import Graph
from npucc.ir.types import DType, QuantParams, TensorType
from npucc.passes import PassManager, default_pipeline
from npucc.targets import get_target
from npucc.targets.legalize import legalize


def conv_graph(c_in=16, c_out=16, size=32, k=3, stride=1, group=1, extra=None):
    g = Graph()
    x = g.add_input("x", TensorType((1, c_in, size, size), "f32"))
    w = g.add_constant(np.zeros((c_out, c_in // group, k, k), np.float32))
    b = g.add_constant(np.zeros(c_out, np.float32))
    y = g.op("Conv", x, w, b, strides=(stride, stride), pads=(k // 2,) * 4, group=group,
             provenance=["conv"])
    g.set_outputs([extra(g, y) if extra else y])
    return g


def layer(report, op="Conv"):
    return next(x for x in report.layers if x.op == op)


def test_macs_of_conv_gemm_and_depthwise():
    # y[m, oh, ow] sums C/g * k * k products
    r = estimate(conv_graph(16, 32, 32, 3, 2), "rk3588")
    assert layer(r).macs == 32 * 16 * 16 * 16 * 3 * 3
    r = estimate(conv_graph(32, 32, 16, 3, 1, group=32), "rk3588")
    assert layer(r).macs == 32 * 16 * 16 * 9
    g = Graph()
    a = g.add_input("a", TensorType((4, 64), "f32"))
    g.set_outputs([g.op("Gemm", a, g.add_constant(np.zeros((64, 10), np.float32)))])
    assert layer(estimate(g, "rk3588"), "Gemm").macs == 4 * 64 * 10


def test_time_is_monotonic_in_macs():
    times = [estimate(conv_graph(c, c, 28), "rk3588").total_time_us for c in (8, 32, 128, 512)]
    assert times == sorted(times) and times[-1] > times[0]
    # doubling the work of a compute-bound conv roughly doubles its compute time
    small, big = (layer(estimate(conv_graph(256, c, 28), "rk3588")) for c in (256, 512))
    assert small.compute_us > small.memory_us
    assert big.compute_us == pytest.approx(2 * small.compute_us)


def test_layer_time_is_the_roofline():
    t = get_target("rk3588")
    for g in (conv_graph(256, 256, 28), conv_graph(16, 16, 112)):
        x = layer(estimate(g, t))
        compute = x.macs / (t.macs_per_cycle["int8"] * t.cost.mac_efficiency) / t.clock_mhz
        memory = x.dram_bytes / (t.cost.dram_gbps * 1e3)  # GB/s = 1e3 bytes per us
        assert x.compute_us == pytest.approx(compute)
        assert x.memory_us == pytest.approx(memory)
        assert x.time_us == pytest.approx(max(compute, memory) + t.cost.layer_overhead_us)


def test_memory_bound_layer_is_bounded_by_bandwidth():
    t = get_target("rk1808")
    g = Graph()
    a = g.add_input("a", TensorType((1, 64, 112, 112), "f32"))
    g.set_outputs([g.op("Add", a, a)])
    x = layer(estimate(g, t, "int8"), "Add")
    moved = 64 * 112 * 112 * 2  # read once (the same value twice), write once, one byte each
    assert x.dram_bytes == moved
    assert x.time_us >= moved / (t.cost.dram_gbps * 1e3)
    assert x.memory_us > x.compute_us


def test_bytes_by_precision_and_channel_alignment():
    # int16 moves twice the bytes of int8; RKNPU2 stores 3 channels as 16 (16-byte groups)
    g = conv_graph(3, 32, 224, 3, 2)
    x8 = layer(estimate(g, "rk3588", "int8"))
    x16 = layer(estimate(g, "rk3588", "int16"))
    assert x8.read_bytes == 16 * 224 * 224 and x8.write_bytes == 32 * 112 * 112
    assert x8.weight_bytes == 32 * 3 * 9 + 32 * 4  # int8 weights, int32 bias
    assert x16.read_bytes == 2 * 8 * 224 * 224 and x16.write_bytes == 2 * x8.write_bytes
    assert layer(estimate(g, "rk1808")).read_bytes == 3 * 224 * 224  # no alignment on RKNPU1


def test_fused_layers_are_counted_once():
    def chain(g, y):
        return g.op("MaxPool", g.op("Relu", y, provenance=["relu"]), kernel_shape=(2, 2),
                    strides=(2, 2), provenance=["pool"])

    g = conv_graph(16, 16, 32, extra=chain)
    unfused = estimate(g, "rk1808")
    PassManager(default_pipeline()).run(g)
    fused = estimate(g, "rk1808")
    assert [x.op for x in unfused.layers] == ["Conv", "Relu", "MaxPool"]
    ((x,),) = [fused.layers]
    assert x.source_layers == ("conv", "pool", "relu") and x.name == "conv, pool, relu"
    assert x.macs == layer(unfused).macs
    assert fused.total_time_us < unfused.total_time_us


def test_values_passed_on_chip_skip_dram():
    t = get_target("rk3588")
    # 16x28x28 int8 = 12.25 KiB fits the 384 KiB buffer: the conv -> relu hand-off stays on chip
    g = conv_graph(16, 16, 28, extra=lambda g, y: g.op("Sigmoid", y))
    r = estimate(g, t)
    conv, sig = r.layers
    assert conv.write_bytes == 0 and sig.read_bytes == 0 and conv.onchip_bytes == 16 * 28 * 28
    assert r.memory.onchip_values == 1
    # 64x112x112 int8 = 784 KiB does not fit
    big = estimate(conv_graph(16, 64, 112, extra=lambda g, y: g.op("Sigmoid", y)), t)
    assert big.layers[0].write_bytes == 64 * 112 * 112 and big.memory.onchip_values == 0


def test_cpu_layers_and_boundary_conversions():
    t = get_target("rk3588")

    def with_erf(g, y):  # Erf is accepted by RKNN-Toolkit2 but runs on its CPU
        e = g.op("Erf", y, provenance=["erf"])
        w = g.add_constant(np.zeros((8, 16, 1, 1), np.float32))
        return g.op("Conv", e, w, provenance=["head"])

    r = estimate(conv_graph(16, 16, 32, extra=with_erf), t)
    assert [(x.op, x.device) for x in r.layers] == [
        ("Conv", "NPU"), ("DequantizeLinear", "CPU"), ("Erf", "CPU"),
        ("QuantizeLinear", "CPU"), ("Conv", "NPU")]
    erf = layer(r, "Erf")
    assert erf.reasons == ("op_in_target_list: The op is in the target's NPU op list. "
                           "(Erf is not in rk3588's NPU op list)",)
    n = 16 * 32 * 32
    assert erf.read_bytes == erf.write_bytes == 4 * n  # float32 on the CPU
    assert erf.time_us == pytest.approx(max(n / (t.cost.cpu_gflops * 1e3),
                                            8 * n / (t.cost.cpu_gbps * 1e3))
                                        + t.cost.cpu_op_overhead_us)
    to_cpu = r.layers[1]
    assert (to_cpu.read_bytes, to_cpu.write_bytes) == (n, 4 * n)
    assert r.time_on("CPU") == pytest.approx(sum(x.time_us for x in r.layers[1:4]))


def test_quantized_graph_computes_in_its_types():
    # a dfp16 conv on RK1808 computes at the int16 rate whatever --dtype says
    g = Graph()
    q = QuantParams.dfp(8, bits=16)
    x = g.add_input("x", TensorType((1, 64, 28, 28), "i16", q))
    w = g.add_constant(np.ones((64, 64, 3, 3)), dtype=DType.i16, quant=QuantParams.dfp(12, bits=16))
    y = g.add_node("Conv", [x, w], {"pads": (1, 1, 1, 1)},
                   output_types=[TensorType((1, 64, 28, 28), "i16", q)]).output
    g.set_outputs([y])
    t = get_target("rk1808")
    x16 = layer(estimate(g, t, "int8"))
    assert x16.precision == "int16"
    assert x16.compute_us == pytest.approx(x16.macs / (192 * t.cost.mac_efficiency) / 792)
    assert x16.weight_bytes == 64 * 64 * 9 * 2 and x16.read_bytes == 64 * 28 * 28 * 2


def test_profiling_adds_its_overhead_per_npu_layer():
    t = get_target("rk3588")
    g = conv_graph(extra=lambda g, y: g.op("Relu", g.op("Reshape", y, shape=(1, 16 * 32 * 32))))
    plain, profiled = estimate(g, t), estimate(g, t, profiling=True)
    assert profiled.total_time_us - plain.total_time_us == \
        pytest.approx(2 * t.cost.profiling_overhead_us)  # Conv and Relu; the Reshape is free


def test_memory_report():
    g = conv_graph(16, 32, 56, extra=lambda g, y: g.op("Sigmoid", g.op("Relu", y)))
    r = estimate(g, "rk3588")
    assert r.memory.weights_bytes == 32 * 16 * 9 + 32 * 4
    # the same liveness planner as the simulator, values sized as int8 with 16-byte channels
    plan = plan_buffers(g, list(g.nodes), lambda n: False, lambda n: (),
                        lambda v: math.prod((v.shape[0], -(-v.shape[1] // 16) * 16,
                                             *v.shape[2:])))
    assert r.memory.peak_activation_bytes == plan.arena_bytes
    assert r.memory.dram_traffic_bytes == sum(x.dram_bytes for x in r.layers)


def test_report_as_json_dict():
    r = estimate(conv_graph(), "rk1808")
    d = r.to_dict()
    assert d["target"] == "rk1808" and d["fps"] == pytest.approx(1e6 / d["total_time_us"],
                                                                  rel=1e-3)
    (x,) = d["layers"]
    assert (x["name"], x["source_layers"], x["device"]) == ("conv", ["conv"], "NPU")
    assert set(d["memory"]) >= {"weights_bytes", "peak_activation_bytes"}


def test_legalization_is_reused_when_given():
    g = conv_graph()
    leg = legalize(g, "rk3588")
    assert estimate(g, "rk3588", legalization=leg).total_time_us == \
        estimate(g, "rk3588").total_time_us
