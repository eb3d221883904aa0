"""Small hypothesis helpers shared by the op tests: random data from a drawn seed (fast, and
shrinks to seed 0) and the fused-activation choices."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

FLOAT_TYPES = (np.float32, np.float16)

seeds = st.integers(0, 2**32 - 1)


def random_array(rng: np.random.Generator, shape, dtype=np.float32, *, low=-4, high=4):
    """Normal floats (integers uniform in [low, high]) of `shape` as `dtype`."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(max(low, info.min), min(high, info.max) + 1, shape).astype(dtype)


@st.composite
def activations(draw):
    """(activation, activation_params) as npucc takes them."""
    kind = draw(st.sampled_from(["none", "relu", "leaky_relu", "clip", "hard_swish", "sigmoid"]))
    if kind == "leaky_relu":
        return kind, (draw(st.floats(0.0, 0.5)),)
    if kind == "clip":
        lo = draw(st.floats(-2.0, 0.0))
        return kind, (lo, lo + draw(st.floats(0.0, 4.0)))
    return kind, ()
