"""The NPU cost model (RKNN's eval_perf and eval_memory): a roofline per layer.

    report = estimate(graph, "rk3588", dtype="int8")
    report.total_time_us, report.fps, report.memory.peak_activation_bytes
    for layer in report.layers: layer.name, layer.device, layer.time_us, ...

Every node is a layer (after the pass pipeline a fused conv + relu + pool is one node, so it is
counted once). For a layer on the NPU, in the precision it computes in:

    compute cycles = MACs / (MACs per cycle x efficiency)     (depthwise convs: their efficiency)
    memory cycles  = DRAM bytes / (effective DRAM bandwidth / clock)
    time           = max(compute, memory) / clock + per-layer overhead

DRAM bytes are the weights, plus the activations read and written, less those that stay in the
on-chip buffer: a value that fits the buffer and is read only by the very next layer never goes
to DRAM. View ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity) cost nothing. Nodes that
legalization leaves on the CPU are costed in float32 with the target's CPU model (FLOPs and bytes
against its GFLOP/s and GB/s, plus a fixed per-op time), and every value that crosses between the
NPU and the CPU adds a conversion layer (quantize / dequantize and layout) on the CPU. Times are
for one NPU core at the target's clock. The parameters live in the target file (`cost:`);
scripts/fit_cost_model.py fits them to published figures (docs/COST_MODEL.md).
"""

from __future__ import annotations

import math

import attrs

from ...ir.graph import Graph, Node, Value
from ...targets import Legalization, Target, get_target, layer_name, legalize
from ...targets.legalize import normalize_precision
from ...targets.nodeinfo import activation_inputs, conv_output_spatial, is_depthwise, node_precision
from .memory import MemoryReport, plan_memory

VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
PRECISION_BYTES = {"int8": 1, "int16": 2, "fp16": 2}
_BIAS_INPUT = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2}


def macs(node: Node) -> int:
    """Multiply-accumulates of a Conv, ConvTranspose, Gemm or MatMul (0 for other ops)."""
    if node.op == "Conv":
        w = node.inputs[1].shape
        return node.output.shape[0] * w[0] * math.prod(conv_output_spatial(node)) * \
            math.prod(w[1:])
    if node.op == "ConvTranspose":
        x, w = node.inputs[0].shape, node.inputs[1].shape
        return math.prod(x) * math.prod(w[1:])
    if node.op == "Gemm":
        a = node.inputs[0].shape
        return math.prod(node.output.shape) * (a[0] if node.attrs["transA"] else a[1])
    if node.op == "MatMul":
        return math.prod(node.output.shape) * node.inputs[0].shape[-1]
    return 0


def element_ops(node: Node) -> int:
    """Work of a layer other than its MACs, in element operations (window taps for pools)."""
    out = sum(v.type.size for v in node.outputs)
    if node.op in ("MaxPool", "AveragePool"):
        return out * math.prod(node.attrs["kernel_shape"])
    if node.op == "Conv" and node.attrs["pool_kernel"]:
        return node.output.shape[1] * math.prod(conv_output_spatial(node)) * \
            math.prod(node.attrs["pool_kernel"])
    if node.op in VIEW_OPS or macs(node):
        return 0
    return max(out, sum(v.type.size for v in activation_inputs(node)))


@attrs.frozen
class LayerCost:
    """One layer: a node, or a conversion where a value crosses between the NPU and the CPU."""

    name: str  # source-model layer names (provenance), or the value for a conversion
    source_layers: tuple[str, ...]
    op: str
    device: str  # "NPU" or "CPU"
    precision: str  # what it computes in ("f32" on the CPU)
    reasons: tuple[str, ...]  # why it is on the CPU: "rule: reason (detail)"
    macs: int
    weight_bytes: int
    read_bytes: int  # activations read from DRAM
    write_bytes: int  # activations written to DRAM
    onchip_bytes: int  # activation bytes that stayed in the on-chip buffer
    compute_us: float
    memory_us: float
    overhead_us: float

    @property
    def time_us(self) -> float:
        return max(self.compute_us, self.memory_us) + self.overhead_us

    @property
    def dram_bytes(self) -> int:
        return self.weight_bytes + self.read_bytes + self.write_bytes


@attrs.frozen
class CostReport:
    target: str
    precision: str
    clock_mhz: float
    layers: tuple[LayerCost, ...]
    memory: MemoryReport

    @property
    def total_time_us(self) -> float:
        return sum(layer.time_us for layer in self.layers)

    @property
    def fps(self) -> float:
        return 1e6 / self.total_time_us if self.total_time_us > 0 else math.inf

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def time_on(self, device: str) -> float:
        return sum(layer.time_us for layer in self.layers if layer.device == device)

    def to_dict(self) -> dict:
        """A JSON-ready summary (what `npucc perf --json` prints)."""
        return {
            "target": self.target, "precision": self.precision, "clock_mhz": self.clock_mhz,
            "total_time_us": round(self.total_time_us, 3),
            "fps": round(self.fps, 3) if math.isfinite(self.fps) else None,  # no layer: null
            "npu_time_us": round(self.time_on("NPU"), 3),
            "cpu_time_us": round(self.time_on("CPU"), 3), "total_macs": self.total_macs,
            "layers": [{"name": x.name, "source_layers": list(x.source_layers), "op": x.op,
                        "device": x.device, "precision": x.precision, "reasons": list(x.reasons),
                        "time_us": round(x.time_us, 3), "macs": x.macs,
                        "weight_bytes": x.weight_bytes, "read_bytes": x.read_bytes,
                        "write_bytes": x.write_bytes, "onchip_bytes": x.onchip_bytes,
                        "npu_cycles": round(x.compute_us * self.clock_mhz)
                        if x.device == "NPU" else None,
                        "ddr_cycles": round(x.memory_us * self.clock_mhz)
                        if x.device == "NPU" else None}
                       for x in self.layers],
            "memory": attrs.asdict(self.memory),
        }


class _Costing:
    """The state of one estimate: which nodes run where, and how values are sized there."""

    def __init__(self, graph: Graph, target: Target, precision: str, leg: Legalization,
                 profiling: bool):
        self.graph, self.target, self.precision, self.leg = graph, target, precision, leg
        self.nodes = list(graph.nodes)
        self.on_npu = {id(n): leg.supported(n) for n in self.nodes}
        self.reasons: dict[int, tuple[str, ...]] = {}  # why on the CPU, when not by `leg`
        self.index = {id(n): i for i, n in enumerate(self.nodes)}
        self.outputs = {id(v) for v in graph.outputs}
        self.cost = target.cost
        self.overhead = self.cost.layer_overhead_us + \
            (self.cost.profiling_overhead_us if profiling else 0.0)

    def npu_bytes(self, v: Value, precision: str) -> int:
        """Bytes of a value as the NPU stores it: quantized / f16 types as they are, float
        values at the precision the graph is built in; the channels of a 4-D activation padded
        to the target's channel alignment (weights are not padded)."""
        if v.type.quant is not None or not v.dtype.is_float or v.dtype.bits == 16:
            item = v.dtype.numpy.itemsize
        else:
            item = PRECISION_BYTES[precision]
        shape = v.shape
        align = self.cost.channel_align_bytes
        if align > 1 and not v.is_constant and len(shape) == 4:
            per = max(1, int(align) // item)
            shape = (shape[0], -(-shape[1] // per) * per, *shape[2:])
        return math.prod(shape) * item

    def stays_onchip(self, v: Value) -> bool:
        """Written by an NPU layer and read only by the NPU layer right after it, and fits the
        on-chip buffer. Values behind a view op (Reshape...) always go through DRAM."""
        p = v.producer
        if p is None or v.is_constant or id(v) in self.outputs or not self.on_npu[id(p)] \
                or p.op in VIEW_OPS:
            return False
        users = v.users
        return (len(users) == 1 and users[0].op not in VIEW_OPS and self.on_npu[id(users[0])]
                and self.index[id(users[0])] == self.index[id(p)] + 1
                and self.npu_bytes(v, self.precision) <= self.target.onchip_buffer_bytes)

    def constant_bytes(self, node: Node, k: int, precision: str) -> int:
        """Bytes of constant input `k` as the NPU stores it (float biases become int32)."""
        v = node.inputs[k]
        if _BIAS_INPUT.get(node.op) == k and v.type.quant is None:
            return v.type.size * (2 if precision == "fp16" else 4)
        return self.npu_bytes(v, precision)

    def weight_bytes(self, node: Node, precision: str) -> int:
        return sum(self.constant_bytes(node, k, precision) for k, v in enumerate(node.inputs)
                   if v is not None and v.is_constant)

    def npu_layer(self, node: Node) -> LayerCost:
        p = node_precision(node, self.precision)
        ins = activation_inputs(node)
        view = node.op in VIEW_OPS
        onchip = sum(self.npu_bytes(v, p) for v in ins + list(node.outputs)
                     if self.stays_onchip(v))
        read = sum(self.npu_bytes(v, p) for v in ins if not self.stays_onchip(v))
        write = sum(self.npu_bytes(v, p) for v in node.outputs if not self.stays_onchip(v))
        weights = self.weight_bytes(node, p)
        c, clock = self.cost, self.target.clock_mhz
        eff = c.depthwise_efficiency if is_depthwise(node) else c.mac_efficiency
        work = macs(node) + element_ops(node)
        compute = work / (self.target.macs_per_cycle.get(p, 1) * eff) / clock
        bytes_per_us = c.dram_gbps * 1e3
        memory = (weights + read + write) / bytes_per_us
        if view:
            read = write = weights = onchip = 0
            compute = memory = 0.0
        return LayerCost(layer_name(node), tuple(sorted(node.provenance)), node.op, "NPU", p, (),
                         macs(node), weights, read, write, onchip, compute, memory,
                         0.0 if view else self.overhead)

    def cpu_layer(self, node: Node) -> LayerCost:
        c = self.cost
        reasons = self.reasons.get(id(node)) or tuple(
            f"{x.rule}: {x.reason}" + (f" ({x.detail})" if x.detail else "")
            for x in self.leg.verdict(node).violations)
        view = node.op in VIEW_OPS
        read = sum(4 * v.type.size if v.dtype.is_float else v.type.nbytes
                   for v in activation_inputs(node))
        write = sum(4 * v.type.size if v.dtype.is_float else v.type.nbytes for v in node.outputs)
        weights = sum(4 * v.type.size for v in node.inputs if v is not None and v.is_constant)
        flops = 2 * macs(node) + element_ops(node)
        compute = 0.0 if view else flops / (c.cpu_gflops * 1e3)
        memory = 0.0 if view else (read + write + weights) / (c.cpu_gbps * 1e3)
        return LayerCost(layer_name(node), tuple(sorted(node.provenance)), node.op, "CPU", "f32",
                         reasons, macs(node), weights, read, write, 0, compute, memory,
                         0.0 if view else c.cpu_op_overhead_us)

    def conversion(self, v: Value, to_npu: bool) -> LayerCost:
        """Quantize (to the NPU) or dequantize (to the CPU) one value, with its layout change."""
        c = self.cost
        npu = self.npu_bytes(v, self.precision)
        src = tuple(sorted(v.producer.provenance)) if v.producer is not None else ()
        read, write = (4 * v.type.size, npu) if to_npu else (npu, 4 * v.type.size)
        return LayerCost(f"convert %{v.name} to {'NPU' if to_npu else 'CPU'}", src,
                         "QuantizeLinear" if to_npu else "DequantizeLinear", "CPU", "f32",
                         ("boundary between an NPU and a CPU layer",), 0, 0, read, write, 0,
                         v.type.size / (c.cpu_gflops * 1e3), (read + write) / (c.cpu_gbps * 1e3),
                         c.cpu_op_overhead_us)

    def layers(self) -> list[LayerCost]:
        """Every node's cost, plus a conversion where a value crosses between NPU and CPU
        (none where the graph's own QuantizeLinear / DequantizeLinear is the conversion)."""
        out, converted = [], set()
        for node in self.nodes:
            here = self.on_npu[id(node)]
            for v in activation_inputs(node):
                there = self.on_npu.get(id(v.producer)) if v.producer is not None else None
                explicit = (here and node.op == "QuantizeLinear") or \
                    (there and v.producer.op == "DequantizeLinear")
                if there is not None and there != here and not explicit \
                        and (id(v), here) not in converted:
                    converted.add((id(v), here))
                    out.append(self.conversion(v, to_npu=here))
            out.append(self.npu_layer(node) if here else self.cpu_layer(node))
        return out


def _placement(graph: Graph) -> tuple[Graph, dict[str, tuple[str, tuple[str, ...]]]]:
    """(the flat graph, {first output of a node in a partition: (device, its reasons)}) of a
    partitioned graph; the reasons drop the node's "Op %name: " prefix."""
    from ...ir.ops.partition import inline_partitions

    placed = {}
    for p in graph.nodes:
        if p.op != "Partition":
            continue
        for n in p.attrs["body"].nodes:
            head = f"{n.describe()}: "
            placed[n.outputs[0].name] = (p.attrs["device"], tuple(
                r[len(head):] for r in p.attrs["reasons"] if r.startswith(head)))
    return inline_partitions(graph), placed


def estimate(graph: Graph, target, dtype: str | None = None, *,
             legalization: Legalization | None = None, profiling: bool = False) -> CostReport:
    """Per-layer time and memory of `graph` on `target` (a Target, name or file).

    dtype: the precision a float graph is built in (int8, int16, fp16; default: the target's);
    quantized graphs compute in their types' precision. legalization: reuse a `legalize` result
    (computed here otherwise). profiling: add the target's per-layer profiling overhead (RKNN's
    per-op profiling mode, `perf_debug=True`). A partitioned graph is costed as its partitions
    place it (a node partitioning moved to the CPU gives that reason); `legalization` is then
    not used."""
    target = get_target(target)
    precision = normalize_precision(dtype, target)
    placed = None
    if any(n.op == "Partition" for n in graph.nodes):
        graph, placed = _placement(graph)
        legalization = None
    leg = legalization or legalize(graph, target, precision)
    costing = _Costing(graph, target, precision, leg, profiling)
    if placed is not None:
        for n in costing.nodes:
            device, reasons = placed.get(n.outputs[0].name if n.outputs else "", (None, ()))
            if device is not None:
                costing.on_npu[id(n)] = device == "npu"
                if reasons:
                    costing.reasons[id(n)] = reasons
    layers = costing.layers()
    memory = plan_memory(graph, target, costing, sum(x.dram_bytes for x in layers))
    return CostReport(target.name, precision, target.clock_mhz, tuple(layers), memory)


class TargetCost:
    """`partition`'s cost callback from this cost model: a node's time on the NPU (its roofline
    layer at the target's precision, with the per-layer overhead) or on the CPU (float32 on the
    target's CPU model), and the quantize/dequantize + layout conversion a value costs when it
    crosses between them. Seconds, as `partition` expects.

        parted = partition(graph, leg, cost=TargetCost(graph, "rk3588", legalization=leg))
    """

    def __init__(self, graph: Graph, target, dtype: str | None = None, *,
                 legalization: Legalization | None = None, on_npu=None):
        """on_npu: node -> whether it starts on the NPU (default: the legalization's verdict);
        it decides which values stay in the on-chip buffer."""
        target = get_target(target)
        precision = normalize_precision(dtype, target)
        leg = legalization or legalize(graph, target, precision)
        self.target = target
        self._costing = _Costing(graph, target, precision, leg, profiling=False)
        if on_npu is not None:
            self._costing.on_npu = {id(n): bool(on_npu(n)) for n in self._costing.nodes}

    def node_time(self, node: Node, device: str) -> float:
        c = self._costing
        layer = c.cpu_layer(node) if device == "cpu" else c.npu_layer(node)
        return layer.time_us * 1e-6

    def transfer_time(self, value: Value) -> float:
        return self._costing.conversion(value, to_npu=True).time_us * 1e-6
