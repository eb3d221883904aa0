"""The PassManager: runs a pipeline over a graph with instruments around each pass.

    report = PassManager("fold-constants,cse,dce", instruments=[VerifyEach()]).run(graph)
    print(report.table())

Any exception raised by a pass or by an instrument hook is re-raised as a PassError that names the
failing pass and the passes that ran before it, chained to the original. When an instrument with
`checks_contract` is active, a pass that reports `changed=False` must leave `str(graph)` identical.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable, Mapping, Sequence

import attrs

from npucc.errors import PassError
from npucc.ir.graph import Graph

from .base import Pass, PassResult
from .instruments import Instrument, current_default_instruments
from .pipeline import Pipeline


@attrs.frozen
class PassRecord:
    """What one pass did in one run."""

    name: str
    changed: bool
    counts: Mapping[str, int]
    seconds: float


@attrs.frozen
class PassReport:
    """Per-pass records of a run, in order."""

    records: tuple[PassRecord, ...]

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.records)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def table(self) -> str:
        """A readable table: pass, changed, seconds, counts."""
        rows = [("pass", "changed", "ms", "counts")]
        for r in self.records:
            counts = ", ".join(f"{k}={v}" for k, v in r.counts.items())
            rows.append((r.name, "yes" if r.changed else "no", f"{r.seconds * 1e3:.2f}", counts))
        rows.append(("total", "yes" if self.changed else "no", f"{self.seconds * 1e3:.2f}", ""))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d}".rstrip()
                         for a, b, c, d in rows)

    def __str__(self) -> str:
        return self.table()


def _fail(message: str, pass_: Pass, done: Sequence[str], detail: str,
          cls: type[PassError] = PassError) -> PassError:
    where = f"after: {', '.join(done)}" if done else "first pass"
    e = cls(f"pass {pass_.name} {message} ({where}){detail}")
    e.pass_name, e.passes_before = pass_.name, tuple(done)
    return e


def _call_hook(hook, graph: Graph, arg, when: str) -> None:
    """Run an enter_run/exit_run hook; wrap a failure in a PassError naming the instrument."""
    try:
        hook(graph, arg)
    except PassError:
        raise
    except Exception as e:
        name = type(hook.__self__).__name__
        raise PassError(f"instrument {name} failed {when}: {type(e).__name__}: {e}") from e


def _diff(before: str, after: str, limit: int = 20) -> str:
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after",
                                      lineterm="", n=1))
    more = f"\n  ... {len(lines) - limit} more lines" if len(lines) > limit else ""
    return "\n  ".join(lines[:limit]) + more


class PassManager:
    """Runs `pipeline` (text, list of passes/names, or Pipeline) with `instruments`.

    The default instruments of the current scope (see `default_instruments`) are added at run
    time, except those of a class already given explicitly.
    """

    def __init__(self, pipeline: Pipeline | str | Sequence[Pass | str],
                 instruments: Iterable[Instrument] = ()):
        self.pipeline = Pipeline.of(pipeline)
        self.instruments = list(instruments)

    def active_instruments(self) -> list[Instrument]:
        given = {type(i) for i in self.instruments}
        return self.instruments + [d for d in current_default_instruments()
                                   if type(d) not in given]

    def run(self, graph: Graph) -> PassReport:
        instruments = self.active_instruments()
        check_contract = any(i.checks_contract for i in instruments)
        for inst in instruments:
            _call_hook(inst.enter_run, graph, self.pipeline, when="before the first pass")
        done: list[str] = []
        records: list[PassRecord] = []
        for p in self.pipeline:
            records.append(self._run_one(p, graph, instruments, check_contract, done))
            done.append(p.name)
        report = PassReport(tuple(records))
        for inst in instruments:
            _call_hook(inst.exit_run, graph, report, when=f"after {', '.join(done) or 'no pass'}")
        return report

    @staticmethod
    def _run_one(p: Pass, graph: Graph, instruments: list[Instrument], check_contract: bool,
                 done: list[str]) -> PassRecord:
        stage = "pass"
        try:
            for inst in instruments:
                stage = type(inst).__name__
                inst.before_pass(p, graph)
            text_before = str(graph) if check_contract else None
            stage = "pass"
            start = time.perf_counter()
            result = PassResult.of(p(graph))
            seconds = time.perf_counter() - start
            if text_before is not None and not result.changed:
                text_after = str(graph)
                if text_after != text_before:
                    raise _fail("reported changed=False but changed the graph", p, done,
                                ":\n  " + _diff(text_before, text_after), _ContractBroken)
            for inst in instruments:
                stage = type(inst).__name__
                inst.after_pass(p, graph, result)
        except BaseException as e:
            for inst in instruments:
                try:
                    inst.pass_failed(p, graph, e)
                except Exception:  # cleanup must not hide the real error
                    pass
            if isinstance(e, _ContractBroken) or not isinstance(e, Exception):
                raise
            message = "failed" if stage == "pass" else f"failed the {stage} check"
            raise _fail(message, p, done, f": {type(e).__name__}: {e}") from e
        return PassRecord(p.name, result.changed, dict(result.counts), seconds)


class _ContractBroken(PassError):
    """A pass said it changed nothing but the graph text changed."""


def run_passes(graph: Graph, pipeline: Pipeline | str | Sequence[Pass | str],
               instruments: Iterable[Instrument] = ()) -> PassReport:
    """Shorthand for `PassManager(pipeline, instruments).run(graph)`."""
    return PassManager(pipeline, instruments).run(graph)
