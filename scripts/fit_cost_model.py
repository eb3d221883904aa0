"""Fit the NPU cost model's free parameters to published figures and print the fit beside them.

    python scripts/fit_cost_model.py            # fit, print the tables and the values to paste
    python scripts/fit_cost_model.py --check    # only compare the shipped parameters

The models are the plain-torch architectures of tests/models (random weights: the cost model
reads only shapes), exported to ONNX with torch.onnx.export like the benchmarks, imported, and run
through the default pipeline with the target's pool fusion rules. The figures (issue 12):

RKNPU2, RK3588, one core, int8, 224x224
  - rknn_model_zoo v2.3.2: mobilenetv2 450.7 FPS, resnet50 110.1 FPS;
  - RKNN layer table, Caffe MobileNetV2 int8: first conv (3->32, 3x3/2, 112x112 out; 10,838,016
    MACs) 10,584 NPU cycles and 94,150 DDR cycles, 428 us; whole net 14,147 us, both with
    per-op profiling on.
RKNPU1, RK1808, u8, 224x224 (RKNN-Toolkit v1 docs): mobilenet_v1 5,499 us, resnet18 5,439 us.

Which parameters come from where (the fit does not touch the others):
  RKNPU2  macs_per_cycle 1024 and mac rate: the layer table's NPU cycles are MACs / 1024;
          dram_gbps 12.8 and channel_align_bytes 16: derived from the layer table's DDR cycles
          (the conv's bytes with its 3 input channels stored as 16, over 94,150 cycles);
          mac_efficiency (= depthwise_efficiency), layer_overhead_us: fitted to the two FPS;
          profiling_overhead_us: fitted to the 14,147 us; the first conv's 428 us is a check.
  RKNPU1  depthwise_efficiency, dram_gbps: fitted to the two times; mac_efficiency 1.0 and
          layer_overhead_us 20 are assumed (ResNet-18 is memory-bound, so the figures cannot
          tell them apart from the bandwidth).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIRST_CONV_MACS = 10_838_016


def first_conv(report):
    return next(layer for layer in report.layers if layer.macs == FIRST_CONV_MACS)


def rknpu2_figures(mnv2, r50):
    from npucc.backends.npu.fit import Figure

    return [
        Figure("RK3588 mobilenetv2 int8, 450.7 FPS", mnv2, 1e6 / 450.7),
        Figure("RK3588 resnet50 int8, 110.1 FPS", r50, 1e6 / 110.1),
        Figure("MobileNetV2 first conv: NPU cycles", mnv2, 10_584,
               lambda r: first_conv(r).compute_us * r.clock_mhz, unit="cycles"),
        Figure("MobileNetV2 first conv: DDR cycles", mnv2, 94_150,
               lambda r: first_conv(r).memory_us * r.clock_mhz, unit="cycles"),
        Figure("MobileNetV2 whole net, per-op profiling", mnv2, 14_147, profiling=True),
        Figure("MobileNetV2 first conv, per-op profiling", mnv2, 428,
               lambda r: first_conv(r).time_us, profiling=True),
    ]


def rknpu1_figures(mnv1, r18):
    from npucc.backends.npu.fit import Figure

    return [Figure("RK1808 mobilenet_v1 u8", mnv1, 5_499),
            Figure("RK1808 resnet18 u8", r18, 5_439)]


def table(rows) -> str:
    lines = ["| figure | published | npucc | error |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.figure} | {r.published:,.1f} {r.unit} | {r.predicted:,.1f} {r.unit} "
                     f"| {r.error * 100:+.1f}% |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare the shipped parameters only")
    args = ap.parse_args(argv)

    from tests.models import npucc_graph as build_graph

    from npucc.backends.npu.fit import compare, fit, with_cost
    from npucc.targets import get_target

    rk3588 = get_target("rk3588")
    mnv2, r50 = build_graph("mobilenet_v2", "rk3588"), build_graph("resnet50", "rk3588")
    figs2 = rknpu2_figures(mnv2, r50)
    rk1808 = get_target("rk1808")
    mnv1, r18 = build_graph("mobilenet_v1", "rk1808"), build_graph("resnet18", "rk1808")
    figs1 = rknpu1_figures(mnv1, r18)
    if args.check:
        print("RKNPU2 (rk3588), shipped parameters\n" + table(compare(rk3588, figs2)))
        print("\nRKNPU1 (rk1808), shipped parameters\n" + table(compare(rk1808, figs1)))
        return 0

    # RKNPU2: the bandwidth and alignment from the layer table, then the two FPS, then profiling
    t = with_cost(rk3588, dram_gbps=12.8, channel_align_bytes=16)
    cost, _ = fit(t, figs2[:2], ("mac_efficiency", "layer_overhead_us"),
                  tie={"depthwise_efficiency": "mac_efficiency"})
    t = with_cost(t, mac_efficiency=cost.mac_efficiency,
                  depthwise_efficiency=cost.depthwise_efficiency,
                  layer_overhead_us=cost.layer_overhead_us)
    cost, _ = fit(t, [figs2[4]], ("profiling_overhead_us",))
    t = with_cost(t, profiling_overhead_us=cost.profiling_overhead_us)
    print("RKNPU2 (rk3588): paste into src/npucc/targets/data/_rknpu2.yaml")
    print(f"  mac_efficiency: {t.cost.mac_efficiency:.4f}\n"
          f"  depthwise_efficiency: {t.cost.depthwise_efficiency:.4f}\n"
          f"  layer_overhead_us: {t.cost.layer_overhead_us:.2f}\n"
          f"  profiling_overhead_us: {t.cost.profiling_overhead_us:.1f}")
    print(table(compare(t, figs2)))

    # RKNPU1: depthwise efficiency and bandwidth to the two RK1808 times
    t1 = with_cost(rk1808, mac_efficiency=1.0, layer_overhead_us=20.0, channel_align_bytes=1)
    cost, rows = fit(t1, figs1, ("depthwise_efficiency", "dram_gbps"))
    print("\nRKNPU1 (rk1808): paste into src/npucc/targets/data/_rknpu1.yaml")
    print(f"  depthwise_efficiency: {cost.depthwise_efficiency:.5f}\n"
          f"  dram_gbps: {cost.dram_gbps:.3f}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
