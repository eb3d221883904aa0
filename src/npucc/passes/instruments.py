"""Pass instruments: hooks the PassManager calls around the run and around each pass (TVM style).

    PassManager("dce,cse", instruments=[Timing(file=sys.stderr), VerifyEach()]).run(graph)

    with default_instruments(VerifyEach()):   # e.g. in a pytest fixture: verify after every pass
        ...

Instruments whose `checks_contract` is true (VerifyEach, ValidateEach) also make the manager check
that a pass reporting `changed=False` left the graph's text identical.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, ClassVar, TextIO

from npucc.compare import graph_difference
from npucc.errors import PassError
from npucc.ir.graph import Graph

from .base import Pass, PassResult

if TYPE_CHECKING:
    from .manager import PassReport
    from .pipeline import Pipeline


class Instrument:
    """Base class: every hook is a no-op. Hooks may raise; the manager names the pass."""

    checks_contract: ClassVar[bool] = False

    def enter_run(self, graph: Graph, pipeline: Pipeline) -> None:
        """Called once before the first pass."""

    def exit_run(self, graph: Graph, report: PassReport) -> None:
        """Called once after the last pass (not when a pass failed)."""

    def before_pass(self, pass_: Pass, graph: Graph) -> None:
        """Called before each pass."""

    def after_pass(self, pass_: Pass, graph: Graph, result: PassResult) -> None:
        """Called after each pass that returned normally."""

    def pass_failed(self, pass_: Pass, graph: Graph, error: BaseException) -> None:
        """Called when a pass (or a hook around it) raised; lets an instrument drop its state."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _selected(pass_: Pass, names: frozenset[str]) -> bool:
    return pass_.name in names or "all" in names


class Timing(Instrument):
    """Collects the seconds each pass took; prints a table to `file` (if given) after the run."""

    def __init__(self, file: TextIO | None = None):
        self.file = file
        self.records: list = []

    def exit_run(self, graph, report):
        self.records.extend(report.records)
        if self.file is not None:
            print(report.table(), file=self.file)

    def total(self) -> float:
        return sum(r.seconds for r in self.records)


class PrintIR(Instrument):
    """Prints the graph's text before/after the named passes (`"all"` selects every pass)."""

    def __init__(self, before: Iterable[str] = (), after: Iterable[str] = (),
                 file: TextIO | None = None):
        self.before = frozenset(before)
        self.after = frozenset(after)
        self.file = file

    def _print(self, when: str, pass_: Pass, graph: Graph) -> None:
        out = self.file if self.file is not None else sys.stdout
        print(f"// ----- IR {when} {pass_.name} -----\n{graph}", file=out)

    def before_pass(self, pass_, graph):
        if _selected(pass_, self.before):
            self._print("before", pass_, graph)

    def after_pass(self, pass_, graph, result):
        if _selected(pass_, self.after):
            self._print("after", pass_, graph)


def _verify(graph: Graph) -> None:
    from npucc.ir.verify import verify  # lazy: the verifier imports the whole op set

    verify(graph)


class VerifyEach(Instrument):
    """Runs the IR verifier on the input graph and after every pass."""

    checks_contract = True

    def enter_run(self, graph, pipeline):
        try:
            _verify(graph)
        except Exception as e:
            raise PassError(f"the input graph is invalid before pipeline {pipeline}: {e}") from e

    def after_pass(self, pass_, graph, result):
        _verify(graph)


# ---- numerical validation ----

class ValidateEach(Instrument):
    """Runs the graph before and after each changing pass on seeded random inputs with the
    reference interpreter, and fails if the outputs differ beyond the dtype's tolerance
    (`npucc.compare.graph_difference`, as the testing kit; `rtol`/`atol` override its per-dtype
    defaults). The error names the output, the worst element and the first differing value."""

    checks_contract = True

    def __init__(self, seed: int = 0, rtol: float | None = None, atol: float | None = None):
        self.seed, self.rtol, self.atol = seed, rtol, atol
        self._before: list[Graph] = []  # a stack: a pass may run a nested PassManager

    def before_pass(self, pass_, graph):
        self._before.append(graph.copy())

    def after_pass(self, pass_, graph, result):
        before = self._before.pop()
        if result.changed:
            problem = graph_difference(before, graph, seed=self.seed, rtol=self.rtol,
                                       atol=self.atol)
            if problem is not None:
                raise PassError(f"the outputs changed: {problem}")

    def pass_failed(self, pass_, graph, error):
        if self._before:
            self._before.pop()


# ---- default instruments for a scope ----

_DEFAULTS: contextvars.ContextVar[tuple[Instrument, ...]] = contextvars.ContextVar(
    "npucc_default_instruments", default=())


@contextlib.contextmanager
def default_instruments(*instruments: Instrument) -> Iterator[None]:
    """Within this scope every PassManager also runs `instruments` (after its own; an instrument
    of a class the manager was already given is not added twice)."""
    token = _DEFAULTS.set(_DEFAULTS.get() + instruments)
    try:
        yield
    finally:
        _DEFAULTS.reset(token)


def current_default_instruments() -> tuple[Instrument, ...]:
    return _DEFAULTS.get()
