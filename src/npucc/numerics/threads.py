"""How many threads npucc computes on, and the workers that share a compiled loop's work.

`count()` is `NPUCC_NUM_THREADS` if set, else min(2, number of CPUs). The simulator holds BLAS to
it while a plan runs (backends/simulator/kernels/parallel.py); a compiled loop that releases the
GIL (numerics.jit) splits its work into `count()` parts and runs them with `run_parts`: one on
the calling thread, the others on worker threads kept for the process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

# "executor" and the process that made it ("pid"): a forked child makes its own
_pool: dict[str, object] = {}


def count() -> int:
    env = os.environ.get("NPUCC_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(2, os.cpu_count() or 1))


def _executor(workers: int) -> ThreadPoolExecutor:
    if _pool.get("pid") != os.getpid() or _pool.get("workers", 0) < workers:
        _pool.update(pid=os.getpid(), workers=workers,
                     executor=ThreadPoolExecutor(workers, thread_name_prefix="npucc"))
    return _pool["executor"]


def run_parts(fn: Callable, parts: Sequence[tuple]) -> None:
    """fn(*args) for every args in `parts`, concurrently (fn must release the GIL to gain);
    returns when all are done, raising the first error."""
    if len(parts) == 1:
        fn(*parts[0])
        return
    futures = [_executor(len(parts) - 1).submit(fn, *args) for args in parts[1:]]
    try:
        fn(*parts[0])
    finally:
        for f in futures:
            f.result()
