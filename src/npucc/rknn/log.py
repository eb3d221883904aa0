"""RKNN-Toolkit's log style and return convention.

Lines start with `I ` (information), `W ` (warning), `E ` (error) or `D ` (debug, with
verbose=True), printed to stdout and, with verbose_file, appended to that file. A method that
fails logs `E <method>: <reason>` and returns -1 (methods returning data return None), like
RKNN. `RKNN(raise_errors=True)`, or the environment variable NPUCC_RKNN_RAISE=1, raises the
error (an `npucc.errors.NpuccError`) instead.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys

from ..errors import NpuccError


class RknnError(NpuccError):
    """A facade call that cannot be done (wrong order, unsupported feature, bad argument)."""


class RknnLog:
    def __init__(self, verbose: bool = False, verbose_file=None):
        self.verbose = bool(verbose)
        self.file = verbose_file

    def _emit(self, level: str, msg: str) -> None:
        line = f"{level} {msg}"
        print(line, file=sys.stdout, flush=True)
        if self.file:
            with open(self.file, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def info(self, msg: str) -> None:
        self._emit("I", msg)

    def warn(self, msg: str) -> None:
        self._emit("W", msg)

    def error(self, msg: str) -> None:
        self._emit("E", msg)

    def debug(self, msg: str) -> None:
        if self.verbose:
            self._emit("D", msg)


class _ToRknnLog(logging.Handler):
    """npucc's library warnings (logger "npucc") during a facade call, as `W <method>: ...`
    lines, so a ported script's log (and verbose_file) has them where RKNN prints its own."""

    def __init__(self, log: RknnLog, method: str):
        super().__init__(logging.WARNING)
        self.rknn_log, self.method = log, method

    def emit(self, record: logging.LogRecord) -> None:
        self.rknn_log.warn(f"{self.method}: {record.getMessage()}")


@contextlib.contextmanager
def _library_warnings(log: RknnLog, method: str):
    logger = logging.getLogger("npucc")
    if any(isinstance(h, _ToRknnLog) for h in logger.handlers):  # a nested facade call
        yield
        return
    handler, propagate = _ToRknnLog(log, method), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def raise_by_default() -> bool:
    return os.environ.get("NPUCC_RKNN_RAISE", "").strip().lower() in ("1", "true", "yes")


def api_call(failure=-1):
    """Wrap an RKNN method: an NpuccError or OSError (or RknnError) becomes `E name: reason`
    and `failure` returned, unless the instance raises errors. Any other exception (a wrong
    keyword argument, an internal error) does too, named by its type: a script ported to npucc
    sees RKNN's return convention, never a traceback."""

    def wrap(fn):
        @functools.wraps(fn)
        def method(self, *args, **kwargs):
            try:
                with _library_warnings(self.log, fn.__name__):
                    return fn(self, *args, **kwargs)
            except (NpuccError, OSError) as e:
                self.log.error(f"{fn.__name__}: {e}")
                if self.raise_errors:
                    raise
                return failure
            except Exception as e:  # RKNN's convention: log, return failure
                self.log.error(f"{fn.__name__}: {type(e).__name__}: {e}")
                if self.raise_errors:
                    raise
                return failure
        return method

    return wrap
