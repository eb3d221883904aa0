"""The contract of every frontend's `load`: any failure is an npucc error whose message names the
model file.

`naming_file(label)` wraps an import: a FrontendError that does not name the file yet gets the
file name in front; other npucc errors (IRError from building the graph, LimitError from a
declared size) become FrontendErrors naming the file. Anything else is a bug, not a verdict on
the file: the frontends validate what they read at the root (sizes, offsets, enums, names). As a
last safety net it is still converted, into an InternalFrontendError naming the file and keeping
the original exception as its cause, so a user never sees a bare TypeError from a hostile file.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import FrontendError, InternalFrontendError, NpuccError, reworded


def source_label(source) -> str:
    """How errors name a model source: its path, the first path of a (model, weights) pair, or
    the kind of in-memory object."""
    if isinstance(source, (tuple, list)) and source:
        return source_label(source[0])
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


def _named(message: str, label: str) -> str:
    return message if label in message else f"{label}: {message}"


@contextmanager
def naming_file(label: str) -> Iterator[None]:
    """Run an import; every failure leaves as an npucc error that names `label`."""
    try:
        yield
    except FrontendError as e:
        if label in str(e):
            raise
        raise reworded(e, _named(str(e), label)) from e
    except NpuccError as e:
        raise FrontendError(_named(str(e), label)) from e
    except Exception as e:  # noqa: BLE001 - the safety net described above
        raise InternalFrontendError(
            f"{label}: internal error while importing ({type(e).__name__}: {e}); npucc does not "
            "check this case yet: please report it with the file") from e


def guarded(load):
    """Decorator for a frontend's `load(source, ...)`: runs it under `naming_file`."""
    @functools.wraps(load)
    def wrapper(source, *args, **kwargs):
        with naming_file(source_label(source)):
            return load(source, *args, **kwargs)
    return wrapper
