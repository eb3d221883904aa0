"""The numpy simulator: `compile_plan(graph) -> Plan`, then `plan.run(inputs)`.

- plan.py: the plan compiler and the run loop;
- buffers.py: the liveness-based activation buffer planner;
- kernels/: fast float kernels bound per node (any op without one runs its registry reference
  kernel);
- dump.py: per-layer output dumps (the role of RKNN's NN_LAYER_DUMP).
"""

from .buffers import BufferPlan, plan_buffers
from .dump import LayerDump
from .plan import Plan, SimulatorError, compile_plan

__all__ = ["BufferPlan", "LayerDump", "Plan", "SimulatorError", "compile_plan", "plan_buffers"]
