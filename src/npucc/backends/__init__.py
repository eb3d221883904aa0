"""Backends: what a compiled Graph runs on.

`simulator` compiles a Graph to a `Plan` that runs on numpy (kernels bound once, buffers planned by
liveness, per-layer dumps).
"""

from .simulator import Plan, SimulatorError, compile_plan

__all__ = ["Plan", "SimulatorError", "compile_plan"]
