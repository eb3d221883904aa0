"""Running a numpy-bound step on several threads: numpy releases the GIL inside its loops, so a
step split into independent channel ranges runs on `threads()` cores (BLAS threads itself).

The thread count is `NPUCC_NUM_THREADS` if set, else min(2, number of CPUs); it is read when a
plan is compiled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

Step = Callable[[], None]
MIN_ELEMENTS_PER_PART = 32 * 1024  # below this a thread hand-off costs more than it saves

_pool: ThreadPoolExecutor | None = None


def threads() -> int:
    env = os.environ.get("NPUCC_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(2, os.cpu_count() or 1))


def channel_ranges(channels: int, elements_per_channel: int) -> list[tuple[int, int]]:
    """Split [0, channels) into at most threads() ranges of at least MIN_ELEMENTS_PER_PART."""
    parts = min(threads(), channels,
                max(1, channels * elements_per_channel // MIN_ELEMENTS_PER_PART))
    bounds = np.linspace(0, channels, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def in_parallel(parts: Sequence[Step]) -> Step:
    """One step running `parts` concurrently (the calling thread runs the first)."""
    if len(parts) == 1:
        return parts[0]
    first, rest = parts[0], list(parts[1:])

    def step():
        global _pool
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, threads() - 1),
                                       thread_name_prefix="npucc-sim")
        futures = [_pool.submit(p) for p in rest]
        first()
        for f in futures:
            f.result()

    return step


def view_as(a: np.ndarray, shape) -> np.ndarray:
    """`a` reshaped without copying (ValueError if that needs a copy): writes must land in a."""
    v = a.view()
    v.shape = shape
    return v
