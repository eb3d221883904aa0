"""How the simulator plan stores 4-D images, as the kernels of both the numerics layer and the
simulator see them: NCHW, or channels-last (NHWC bytes seen as an (N, C, H, W) transposed view,
so every kernel indexes them alike), and reshaping without copies."""

from __future__ import annotations

import numpy as np


def is_channels_last(a: np.ndarray) -> bool:
    """An (N, C, H, W) array whose bytes are NHWC."""
    return a.ndim == 4 and not a.flags.c_contiguous and a.strides[1] == a.itemsize


def view_as(a: np.ndarray, shape) -> np.ndarray:
    """`a` reshaped without copying (ValueError if that needs a copy): writes must land in a."""
    v = a.view()
    v.shape = shape
    return v
