"""The NPU backend: the cost model (eval_perf / eval_memory) over a legalized graph, partitioning
into NPU and CPU partitions, and the deployable `.npub` blob.

- cost.py: `estimate(graph, target, dtype=None) -> CostReport`, a roofline per layer;
- memory.py: weights, peak activations by liveness, on-chip buffer use;
- fit.py: fitting the cost model's free parameters to published figures.
"""

from .cost import CostReport, LayerCost, estimate
from .memory import MemoryReport

__all__ = ["CostReport", "LayerCost", "MemoryReport", "estimate"]
