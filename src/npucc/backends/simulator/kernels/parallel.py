"""Threads while a plan runs: GEMMs are threaded by BLAS itself, held to `threads()` threads for
the run (`blas_threads`); everything else (copies, elementwise work) runs on the calling thread.

Why not the plan's own threads for the elementwise work: every numpy call takes the GIL to start,
and a thread that finds it taken sleeps; waking it costs tens of microseconds on a VM, so two
threads issuing cache-sized numpy calls run no faster than one. And a Python helper thread shares
the cores with BLAS's workers, which spin-wait between GEMMs: the two then take turns on one core
(measured: ResNet-18 three times slower). BLAS hands work to its threads in C, in microseconds.

The thread count is `NPUCC_NUM_THREADS` if set, else min(2, number of CPUs).
"""

from __future__ import annotations

import os


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


class blas_threads:
    """Context manager: numpy's BLAS on `threads()` threads inside, whatever the process's own
    setting (a no-op without threadpoolctl: BLAS then keeps its own thread count)."""

    def __enter__(self):
        ctl = _blas_controller()
        self._limit = ctl.limit(limits=threads()) if ctl else None

    def __exit__(self, *exc):
        if self._limit is not None:
            self._limit.restore_original_limits()
