"""Running a step on several threads: numpy releases the GIL inside its loops and BLAS calls, so a
step split into independent ranges (channels, output rows) runs on `threads()` cores.

The plan is the only source of parallelism while it runs: numpy's BLAS is held to one thread
(`one_blas_thread`, through threadpoolctl when it is installed) and GEMMs are split by the plan
instead. Two thread pools on the same cores (OpenBLAS's spin-waiting workers and ours) fight
badly, worst on a loaded machine. Without threadpoolctl, GEMMs are left to BLAS's own threads.

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


_blas = None  # threadpoolctl controller of numpy's BLAS; False when threadpoolctl is missing


def _blas_controller():
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = False
        else:
            _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def can_split_blas() -> bool:
    """True when the plan can hold BLAS to one thread, and so should split GEMMs itself."""
    return bool(_blas_controller())


class one_blas_thread:
    """Context manager: numpy's BLAS on one thread inside (a no-op without threadpoolctl)."""

    def __enter__(self):
        ctl = _blas_controller()
        self._limit = ctl.limit(limits=1) if ctl else None

    def __exit__(self, *exc):
        if self._limit is not None:
            self._limit.restore_original_limits()


def channel_ranges(channels: int, elements_per_channel: int, parts: int | None = None
                   ) -> list[tuple[int, int]]:
    """Split [0, channels) into at most `parts` (default threads()) ranges, each with at least
    MIN_ELEMENTS_PER_PART elements."""
    parts = min(threads() if parts is None else parts, channels,
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
