"""`npucc passes` (the registered passes) and `npucc opt` (a pipeline over IR text)."""

from __future__ import annotations

import argparse
import sys

import attrs

from npucc.errors import NpuccError

from .common import emit, load_ir, subcommand


def _configure_passes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", "-v", action="store_true", help="print each pass's full docs")


OPTIONS_WIDTH = 32  # the options column of `npucc passes`; longer options wrap or are cut


def _pass_options(cls) -> list[str]:
    from npucc.passes.pipeline import format_option_value, option_default, pass_options

    opts = []
    for key, field in pass_options(cls).items():
        if field.default is attrs.NOTHING:
            opts.append(f"{key} (required)")
        else:
            opts.append(f"{key}={format_option_value(option_default(field))}")
    return opts


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _summary(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line."""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[:end + 1]


def passes_table(passes) -> str:
    """Name, options (one per line, each cut to OPTIONS_WIDTH) and the first line of the
    docstring: a long option never widens the other rows."""
    rows = [(name, [_cut(o, OPTIONS_WIDTH) for o in _pass_options(cls)], _summary(cls.doc()))
            for name, cls in passes.items()]
    w0 = max([len("PASS")] + [len(r[0]) for r in rows])
    w1 = max([len("OPTIONS")] + [len(o) for r in rows for o in r[1]])
    lines = [f"{'PASS':<{w0}}  {'OPTIONS':<{w1}}  GUARANTEE"]
    for name, opts, summary in rows:
        lines.append(f"{name:<{w0}}  {(opts or [''])[0]:<{w1}}  {summary}".rstrip())
        lines.extend(f"{'':<{w0}}  {o}" for o in opts[1:])
    return "\n".join(lines)


@subcommand("passes", "list the registered passes", _configure_passes)
def cmd_passes(args: argparse.Namespace) -> int:
    """List every registered pass: name, options with their defaults, and what it guarantees
    (--verbose: the full docstrings and options uncut)."""
    from npucc.passes import all_passes

    passes = all_passes()
    if args.verbose:
        for name, cls in passes.items():
            opts = ", ".join(_pass_options(cls))
            print(f"{name}" + (f"  {{{opts}}}" if opts else ""))
            for line in cls.doc().splitlines():
                print(f"    {line.strip()}".rstrip())
            print()
        return 0
    print(passes_table(passes))
    return 0


# ---- npucc opt ----

def _configure_opt(p: argparse.ArgumentParser) -> None:
    from npucc.passes.pipeline import DEFAULT_PIPELINE

    p.add_argument("file", help="input IR text file (.npuir), '-' for stdin")
    p.add_argument("--pipeline", "-p", metavar="PASSES",
                   help=f"pipeline, e.g. 'fold-constants{{max-elements=1000}},cse' "
                        f"(default: {DEFAULT_PIPELINE}); '' runs no pass")
    p.add_argument("--print-before", action="append", default=[], metavar="PASS",
                   help="print the IR to stderr before PASS ('all' for every pass); repeatable")
    p.add_argument("--print-after", action="append", default=[], metavar="PASS",
                   help="print the IR to stderr after PASS ('all' for every pass); repeatable")
    p.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    p.add_argument("--validate-each", action="store_true",
                   help="check after every pass that the graph computes the same on random inputs")
    p.add_argument("--timing", action="store_true", help="print per-pass times to stderr")
    p.add_argument("--fill-elided", choices=("zeros", "random"),
                   help="payload for constants whose data the input file elides")
    p.add_argument("--elide", action="store_true",
                   help="elide constant payloads of more than 16 elements in the output")
    p.add_argument("-o", "--output", metavar="OUT", help="write the result here (default stdout)")


@subcommand("opt", "run a pass pipeline on an IR text file", _configure_opt)
def cmd_opt(args: argparse.Namespace) -> int:
    """Parse an IR text file, run a pipeline of passes on it, and print the resulting IR."""
    from npucc.ir.text import format_graph
    from npucc.passes import (
        PassManager,
        Pipeline,
        PrintIR,
        Timing,
        ValidateEach,
        VerifyEach,
        default_pipeline,
    )

    pipeline = default_pipeline() if args.pipeline is None else Pipeline.parse(args.pipeline)
    for name in args.print_before + args.print_after:
        if name != "all" and name not in pipeline:
            raise NpuccError(f"--print-before/--print-after names pass {name!r}, which is not in "
                             f"the pipeline {str(pipeline)!r}")
    instruments = []
    if args.print_before or args.print_after:
        instruments.append(PrintIR(args.print_before, args.print_after, file=sys.stderr))
    if args.verify_each:
        instruments.append(VerifyEach())
    if args.validate_each:
        instruments.append(ValidateEach())
    if args.timing:
        instruments.append(Timing(file=sys.stderr))
    graph = load_ir(args.file, args.fill_elided)
    PassManager(pipeline, instruments).run(graph)
    emit(format_graph(graph, max_inline=16 if args.elide else None), args.output)
    return 0


# ---- npucc show / npucc run ----
