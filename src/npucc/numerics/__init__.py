"""Numerics: how each op computes on the values its types describe, one profile per arithmetic.

The IR says *what* a value is (dtype, QuantParams); a profile says *how* an op computes on such
values (rounding, accumulator width, requantization, saturation). Profiles: float (the registry's
reference kernels), fp16, tflite (TFLite's reference integer kernels, bit-exact with LiteRT),
affine (RKNN-style asymmetric u8 / i8 with per-channel weights) and dfp (dynamic fixed point i8 /
i16). `profile_of(node)` tells which profile a node computes in; `select_kernel(node)` prepares its
kernel, and both the reference interpreter (`run_graph`) and the simulator plan call it.

    from npucc.numerics import run_graph
    outputs = run_graph(quantized_graph, inputs)
"""

from . import convert, fp16, integer, tflite  # noqa: F401  (register the kernels)
from .interpreter import Interpreter, run_graph
from .profiles import (
    AFFINE_PROFILES,
    KERNELS,
    PROFILES,
    Kernel,
    QuantizedExecutionError,
    evaluate_node,
    has_kernel,
    is_quantized,
    kernel,
    profile_of,
    select_kernel,
)

__all__ = ["AFFINE_PROFILES", "KERNELS", "PROFILES", "Interpreter", "Kernel",
           "QuantizedExecutionError", "evaluate_node", "has_kernel", "is_quantized", "kernel",
           "profile_of", "run_graph", "select_kernel"]
