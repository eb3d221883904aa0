"""Deterministic random inputs for a graph. Plain numpy: usable without hypothesis (the CLI's
`npucc run` and the validate-each instrument use it)."""

from __future__ import annotations

import numpy as np

from npucc.ir import DType, Graph

INPUT_RANGE = 3.0  # float inputs are drawn from [-INPUT_RANGE, INPUT_RANGE]


def int_input_range(dtype: DType) -> tuple[int, int]:
    """Full range for 8-bit types (quantized data); [-1000, 1000] clipped to wider types."""
    lo, hi = dtype.int_range
    if dtype.bits <= 8:
        return lo, hi
    return max(lo, -1000), min(hi, 1000)


def random_inputs(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    """One array per graph input, deterministic in `seed`: floats uniform in [-3, 3], integers
    uniform over their type's range (8-bit) or [-1000, 1000] (wider), random bools."""
    rng = np.random.default_rng(seed)
    out = []
    for v in graph.inputs:
        dt = v.dtype
        if dt.is_float:
            a = rng.uniform(-INPUT_RANGE, INPUT_RANGE, size=v.shape).astype(dt.numpy)
        elif dt is DType.bool:
            a = rng.integers(0, 2, size=v.shape).astype(bool)
        else:
            lo, hi = int_input_range(dt)
            a = rng.integers(lo, hi, size=v.shape, endpoint=True).astype(dt.numpy)
        out.append(a)
    return out
