"""What the subcommands share: the registry of subcommands, atomic output, reading IR text and
model files with the common model options."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import attrs

from npucc.atomic import write_atomic
from npucc.errors import NpuccError
from npucc.registry import Registry


@attrs.frozen
class Subcommand:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


SUBCOMMANDS: Registry[Subcommand] = Registry("subcommand")


def subcommand(name: str, help: str,
               configure: Callable[[argparse.ArgumentParser], None] | None = None):
    """Decorator: register `fn(args) -> exit code | None` as subcommand `name`."""

    def register(fn):
        SUBCOMMANDS[name] = Subcommand(name, help, configure or (lambda p: None), fn)
        return fn

    return register


def write_text_atomic(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and os.replace, so
    readers never see a half-written file."""
    write_atomic(os.path.abspath(path), text)


def read_text(path: str) -> str:
    """The UTF-8 text of `path` ('-': stdin); an NpuccError naming the file otherwise."""
    from npucc.errors import NpuccError

    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise NpuccError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise NpuccError(f"{path}: cannot read: {e.strerror or e}") from None


def emit(text: str, output: str | None) -> None:
    """Print `text` to stdout, or write it atomically to `output`."""
    if output is None or output == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        write_text_atomic(output, text if text.endswith("\n") else text + "\n")


def load_ir(path: str, fill_elided: str | None = None):
    """Parse a .npuir file (or '-' for stdin) into a Graph."""
    from npucc.ir.text import parse

    return parse(read_text(path), fill_elided, source=path)


# ---- npucc passes ----

def parse_shapes(items: Sequence[str]):
    """`name=1,3,224,224` items as a dict; bare `1,3,224,224` items as a list of shapes in input
    order (what `npucc.load` takes either way); the two forms do not mix."""
    named, bare = {}, []
    for item in items:
        name, sep, dims = item.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d)
        except ValueError:
            raise NpuccError(f"--shape {item!r}: expected NAME=D0,D1,... e.g. "
                             "image=1,3,224,224") from None
        if sep and not name:
            raise NpuccError(f"--shape {item!r}: an empty input name")
        if sep:
            named[name] = shape
        else:
            bare.append(shape)
    if named and bare:
        raise NpuccError("--shape: give every shape as NAME=DIMS, or every shape bare (in input "
                         "order), not both")
    return named or bare or None


def configure_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (.onnx, .pt, .pt2, .prototxt, .cfg, .pb, .tflite)")
    p.add_argument("--weights",
                   help="weights file (.caffemodel / .weights) if not beside the model")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                   help="input shape for models with dynamic dims, e.g. image=1,3,224,224")
    p.add_argument("--inputs", metavar="NAMES",
                   help="comma-separated input tensor names (a TensorFlow .pb's Placeholders; "
                        "inner tensors of ONNX/TFLite models cut the model there)")
    p.add_argument("--outputs", metavar="NAMES",
                   help="comma-separated output tensor names (required for a TensorFlow .pb, "
                        "e.g. Identity:0; inner tensors elsewhere cut the model there)")


def split_names(text: str | None) -> list[str] | None:
    names = [n.strip() for n in text.split(",") if n.strip()] if text is not None else None
    if names == []:
        raise NpuccError(f"--inputs/--outputs {text!r}: give comma-separated tensor names")
    return names


def load_model(args: argparse.Namespace):
    """The model of a subcommand: a model file through its frontend, or npucc's own IR text
    (.npuir, e.g. what `npucc quantize` writes; its constants must be in full)."""
    from npucc.frontends import load

    if str(args.model).endswith(".npuir"):
        return load_ir(args.model)
    options = {}
    if args.weights:
        options["weights"] = args.weights
    return load(args.model, input_shapes=parse_shapes(args.shape), inputs=split_names(args.inputs),
                outputs=split_names(args.outputs), **options)

