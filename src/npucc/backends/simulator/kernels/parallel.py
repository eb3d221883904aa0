"""Threads while a plan runs: GEMMs are threaded by BLAS itself, held to `threads()` threads for
the run (`blas_threads`); everything else (copies, elementwise work) runs on the calling thread.
Work over many samples (calibration) runs one plan per thread instead, BLAS on one thread
(`one_blas_thread_each`).

Why not the plan's own threads for the elementwise work: every numpy call takes the GIL to start,
and a thread that finds it taken sleeps; waking it costs tens of microseconds on a VM, so two
threads issuing cache-sized numpy calls run no faster than one. And a Python helper thread shares
the cores with BLAS's workers, which spin-wait between GEMMs: the two then take turns on one core
(measured: ResNet-18 three times slower). BLAS hands work to its threads in C, in microseconds.

The thread count is `NPUCC_NUM_THREADS` if set, else min(2, number of CPUs).
"""

from __future__ import annotations

import os
import threading


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


# [count of `one_blas_thread_each` contexts entered, and while > 0 the BLAS limit they set]
_one_each: list = [0]
_one_each_lock = threading.Lock()


class blas_threads:
    """Context manager: numpy's BLAS on `threads()` threads inside, whatever the process's own
    setting (a no-op without threadpoolctl: BLAS then keeps its own thread count, and inside
    `one_blas_thread_each`, which holds it to one)."""

    def __enter__(self):
        ctl = _blas_controller()
        self._limit = ctl.limit(limits=threads()) if ctl and not _one_each[0] else None

    def __exit__(self, *exc):
        if self._limit is not None:
            self._limit.restore_original_limits()


class one_blas_thread_each:
    """Context manager for running plans on several Python threads at once (calibration: one
    sample per thread), each thread's work on its own core: BLAS held to one thread inside, and
    the plans' own `blas_threads` left alone. Faster than one plan at a time with BLAS on two
    threads (ResNet-18's calibration over 20 images: 0.58-0.60 against 0.68-1.24 s), where each
    GEMM is split between the cores and every step's data moves between them. Nests, from any
    thread: the first to enter sets the limit, the last to leave restores it."""

    def __enter__(self):
        with _one_each_lock:
            if not _one_each[0]:
                ctl = _blas_controller()
                _one_each.append(ctl.limit(limits=1) if ctl else None)
            _one_each[0] += 1

    def __exit__(self, *exc):
        with _one_each_lock:
            _one_each[0] -= 1
            if not _one_each[0]:
                limit = _one_each.pop()
                if limit is not None:
                    limit.restore_original_limits()
