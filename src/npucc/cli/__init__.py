"""The `npucc` command line: one function per subcommand, registered in `SUBCOMMANDS`.

    npucc passes [--verbose]
    npucc opt model.npuir --pipeline "fold-constants,cse,dce" --verify-each -o out.npuir
    npucc export model.onnx --dtype i8 --per-channel --ranges ranges.json --qdq out.onnx

To add a subcommand, write a module in this package (imported below), decorate its function
(it gets the parsed arguments and returns an exit code or None for 0) and give a
`configure(parser)` that adds its arguments:

    def _configure_show(p):
        p.add_argument("file")

    @subcommand("show", "print a model as IR text", _configure_show)
    def cmd_show(args):
        '''Longer description shown by `npucc show --help`.'''

Errors (NpuccError, OSError) print as `npucc: error: ...` with exit code 1; `--traceback` shows
the Python traceback too. Command-line usage errors exit with 2 (argparse's convention).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from npucc.errors import NpuccError

from .common import SUBCOMMANDS, Subcommand, subcommand

# the subcommands register themselves on import
# (help order)
from . import build, model, passes, quantize, export, npu  # noqa: E402,F401,I001  isort: skip

__all__ = ["SUBCOMMANDS", "Subcommand", "build_parser", "main", "subcommand"]


# ---- entry point ----

def build_parser() -> argparse.ArgumentParser:
    from npucc import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                        help="show the Python traceback of an error")
    parser = argparse.ArgumentParser(prog="npucc", parents=[common],
                                     description="npucc: a neural-network compiler for NPUs")
    parser.add_argument("--version", action="version", version=f"npucc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in SUBCOMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, parents=[common],
                           description=(cmd.run.__doc__ or cmd.help).strip())
        cmd.configure(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    show_traceback = getattr(args, "traceback", False)
    try:
        return int(SUBCOMMANDS[args.command].run(args) or 0)
    except BrokenPipeError:  # stdout closed early (`npucc passes | head`): not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (NpuccError, OSError) as e:
        if show_traceback:
            traceback.print_exc()
        print(f"npucc: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("npucc: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in npucc: say so, keep the traceback one flag away
        if show_traceback:
            traceback.print_exc()
        print(f"npucc: internal error: {type(e).__name__}: {e} (rerun with --traceback for "
              "details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
