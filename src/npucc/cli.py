"""The `npucc` command line: one function per subcommand, registered in `SUBCOMMANDS`.

    npucc passes [--verbose]
    npucc opt model.npuir --pipeline "fold-constants,cse,dce" --verify-each -o out.npuir
    npucc export model.onnx --dtype i8 --per-channel --ranges ranges.json --qdq out.onnx

To add a subcommand, decorate its function (it gets the parsed arguments and returns an exit code
or None for 0) and give a `configure(parser)` that adds its arguments:

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
import tempfile
import traceback
from collections.abc import Callable, Sequence

import attrs

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


# ---- helpers shared by subcommands ----

def write_text_atomic(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and os.replace, so
    readers never see a half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".npucc-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


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

def _parse_shapes(items: Sequence[str]) -> dict[str, tuple[int, ...]] | None:
    """`name=1,3,224,224` items (or a bare `1,3,224,224` for a one-input model) as a dict."""
    shapes = {}
    for item in items:
        name, _, dims = item.rpartition("=")
        try:
            shapes[name] = tuple(int(d) for d in dims.replace("x", ",").split(",") if d)
        except ValueError:
            raise NpuccError(f"--shape {item!r}: expected NAME=D0,D1,... e.g. "
                             "image=1,3,224,224") from None
    return shapes or None


def _configure_model(p: argparse.ArgumentParser) -> None:
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


def _names(text: str | None) -> list[str] | None:
    names = [n.strip() for n in text.split(",") if n.strip()] if text is not None else None
    if names == []:
        raise NpuccError(f"--inputs/--outputs {text!r}: give comma-separated tensor names")
    return names


def _load_model(args: argparse.Namespace):
    from npucc.frontends import load

    options = {}
    if args.weights:
        options["weights"] = args.weights
    return load(args.model, input_shapes=_parse_shapes(args.shape), inputs=_names(args.inputs),
                outputs=_names(args.outputs), **options)


def _configure_show(p: argparse.ArgumentParser) -> None:
    _configure_model(p)
    p.add_argument("--pipeline", "-p", metavar="PASSES",
                   help="run these passes first ('default' for the default pipeline)")
    p.add_argument("--full", action="store_true", help="print every constant payload")


@subcommand("show", "print a model as IR text", _configure_show)
def cmd_show(args: argparse.Namespace) -> int:
    """Import a model and print it as npucc IR text (constants larger than 16 elements elided)."""
    from npucc.ir.text import format_graph
    from npucc.passes import default_pipeline, run_passes

    graph = _load_model(args)
    if args.pipeline:
        run_passes(graph, default_pipeline() if args.pipeline == "default" else args.pipeline)
    print(format_graph(graph, max_inline=None if args.full else 16))
    return 0


def _configure_run(p: argparse.ArgumentParser) -> None:
    _configure_model(p)
    p.add_argument("--target", help="for an .npub blob: the target it must have been built for")
    p.add_argument("--input", "-i", action="append", default=[], metavar="[NAME=]FILE.npy",
                   help="input array (.npy); repeat for several inputs; random if omitted")
    p.add_argument("--seed", type=int, default=0, help="seed of random inputs (default 0)")
    p.add_argument("--pipeline", "-p", metavar="PASSES", help="pass pipeline (default: default)")
    p.add_argument("--dump", metavar="DIR", help="save every layer's output as .npy in DIR "
                   "(a new or empty directory, or an earlier dump, which is replaced)")
    p.add_argument("--save", metavar="DIR", help="save the outputs as DIR/<output>.npy")


def _read_inputs(args, graph):
    import numpy as np

    if not args.input:
        from npucc.compare import random_inputs

        print(f"npucc: no --input given: using random inputs (seed {args.seed})", file=sys.stderr)
        return random_inputs(graph, args.seed)
    named = {}
    for i, item in enumerate(args.input):
        name, sep, path = item.rpartition("=")
        if not sep:
            if i >= len(graph.inputs):
                raise NpuccError(f"more --input files than model inputs "
                                 f"{[v.name for v in graph.inputs]}")
            name = graph.inputs[i].name
        named[name] = np.load(path)
    return named


@subcommand("run", "compile a model (or load an .npub blob) and run it in the simulator",
            _configure_run)
def cmd_run(args: argparse.Namespace) -> int:
    """Import a model, run the pass pipeline, compile the simulator plan, run it on the inputs and
    print a summary of each output (and of the compile). An .npub blob is loaded (and checked)
    instead: it runs exactly as the plan it was built from."""
    import time

    import numpy as np

    from npucc.api import compile as compile_model

    if str(args.model).endswith(".npub"):
        from npucc.api import load_blob

        if args.pipeline or args.weights or args.shape:
            raise NpuccError("--pipeline, --weights and --shape do not apply to an .npub blob "
                             "(it holds the compiled model)")
        model = load_blob(args.model, args.target)
        inputs = _read_inputs(args, model.graph)
        outputs = model.run(inputs, dump_dir=args.dump)
        t = model.times
        print(f"{args.model}: blob for {model.target}, {len(model.plan.nodes)} nodes; load "
              f"{t.load * 1e3:.1f} ms, plan {t.plan * 1e3:.1f} ms; peak activations "
              f"{model.peak_activation_bytes / 1024:.1f} KiB")
    else:
        if args.target:
            raise NpuccError("--target applies to an .npub blob only")
        start = time.perf_counter()
        graph = _load_model(args)
        load_ms = (time.perf_counter() - start) * 1e3
        inputs = _read_inputs(args, graph)
        model = compile_model(graph, pipeline=args.pipeline)
        outputs = model.run(inputs, dump_dir=args.dump)
        t = model.times
        print(f"{args.model}: {len(graph)} nodes imported, {len(model.graph)} after passes; "
              f"load {load_ms:.1f} ms, passes {t.passes * 1e3:.1f} ms, plan "
              f"{t.plan * 1e3:.1f} ms; peak activations "
              f"{model.peak_activation_bytes / 1024:.1f} KiB")
    for name, out in zip(model.output_names, outputs):
        line = f"  {name}: {out.dtype}{list(out.shape)}"
        if out.size and np.issubdtype(out.dtype, np.number):
            line += f"  min {out.min():.6g}  max {out.max():.6g}  mean {out.mean():.6g}"
            flat = out.reshape(out.shape[0], -1) if out.ndim >= 2 else out.reshape(1, -1)
            if out.ndim == 2 and flat.shape[1] > 1:
                top = np.argsort(-flat[0], kind="stable")[:5]
                line += "  top-5 " + ", ".join(f"{i}:{flat[0, i]:.4g}" for i in top)
        print(line)
    if args.save:
        os.makedirs(args.save, exist_ok=True)
        for name, out in zip(model.output_names, outputs):
            path = os.path.join(args.save, "".join(c if c.isalnum() or c in "._-" else "_"
                                                   for c in name) + ".npy")
            fd, tmp = tempfile.mkstemp(dir=args.save, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, out)
            os.replace(tmp, path)
        print(f"outputs saved in {args.save}")
    if args.dump:
        print(f"per-layer outputs dumped in {args.dump} (index.json lists them)")
    return 0


def _configure_export(p: argparse.ArgumentParser) -> None:
    _configure_model(p)
    p.add_argument("--qdq", metavar="OUT.onnx", required=True,
                   help="write a QDQ ONNX model (onnxruntime runs it, Netron opens it)")
    p.add_argument("--dtype", default="u8", choices=("u8", "i8", "dfp8", "dfp16", "fp16", "f32"),
                   help="precision (default u8); f32 writes the float graph after the passes")
    p.add_argument("--per-channel", action="store_true", help="weights per output channel")
    p.add_argument("--ranges", metavar="RANGES.json",
                   help="range table {value name: [min, max]} from calibration")
    p.add_argument("--random-calibration", type=int, metavar="N", default=0,
                   help="DEMO ONLY: take ranges from N random inputs (meaningless for accuracy)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")


@subcommand("export", "quantize a model and write it as QDQ ONNX", _configure_export)
def cmd_export(args: argparse.Namespace) -> int:
    """Import a model, run the default pipeline, quantize it to --dtype with the ranges of
    --ranges (or, for a demo, --random-calibration N random inputs) and write QDQ ONNX. A model
    that is already quantized (a TFLite int8 model) is written as it is."""
    from npucc.api import export_qdq
    from npucc.numerics import is_quantized
    from npucc.passes import default_pipeline, run_passes
    from npucc.passes.quantize import quantize_graph, read_ranges

    graph = _load_model(args)
    if not any(is_quantized(n) for n in graph.nodes):
        run_passes(graph, default_pipeline())
        if args.dtype == "f32" or args.dtype == "fp16":
            ranges = None
        elif args.ranges:
            ranges = read_ranges(args.ranges)
        elif args.random_calibration > 0:
            print(f"npucc: ranges from {args.random_calibration} random inputs: a demo, not a "
                  "calibration (give --ranges for a real one)", file=sys.stderr)
            ranges = _random_ranges(graph, args.random_calibration, args.seed)
        else:
            raise NpuccError(f"quantizing to {args.dtype} needs ranges: give --ranges "
                             "RANGES.json (or --random-calibration N for a demo)")
        if args.dtype != "f32":
            graph = quantize_graph(graph, ranges, args.dtype, args.per_channel)
    path = export_qdq(graph, args.qdq)
    quantized = sum(1 for n in graph.nodes if is_quantized(n))
    print(f"{args.model}: {len(graph)} nodes ({quantized} quantized, numerics "
          f"{graph.numerics if quantized else 'float'}) written to {path}")
    return 0


def _random_ranges(graph, n: int, seed: int) -> dict:
    from npucc.ir.interpreter import run_graph
    from npucc.testing.inputs import random_inputs

    ranges: dict = {}

    def note(name, a):
        if a.dtype.kind == "f" and a.size:
            lo, hi = ranges.get(name, (float(a.min()), float(a.max())))
            ranges[name] = (min(lo, float(a.min())), max(hi, float(a.max())))

    for k in range(n):
        inputs = random_inputs(graph, seed + k)
        for v, a in zip(graph.inputs, inputs):
            note(v.name, a)
        run_graph(graph, inputs, hook=lambda node, outs: [note(v.name, a) for v, a in
                                                          zip(node.outputs, outs)])
    return ranges


# ---- npucc perf ----

def _configure_perf(p: argparse.ArgumentParser) -> None:
    _configure_model(p)  # also takes IR text (.npuir; elided constants filled at random)
    p.add_argument("--target", "-t", required=True, metavar="TARGET",
                   help="a shipped target (generic, rk1808, rk3566, rk3588, rv1126) or a target "
                        "file (.yaml)")
    p.add_argument("--dtype", choices=("int8", "int16", "fp16"),
                   help="precision a float model is built in (default: the target's); "
                        "quantized models compute in their own types")
    p.add_argument("--profiling", action="store_true",
                   help="add the per-layer overhead of RKNN's per-op profiling mode")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


@subcommand("perf", "estimate per-layer time and memory on an NPU target", _configure_perf)
def cmd_perf(args: argparse.Namespace) -> int:
    """Import a model, run the default pipeline with the target's fusion rules, legalize it for
    the target and estimate each layer's time, MACs and DRAM traffic with the target's cost model
    (RKNN's eval_perf and eval_memory). Layers are named by their source-model layers; a layer
    on the CPU lists every reason."""
    import json

    from npucc.api import perf

    model = load_ir(args.model, "random") if args.model.endswith(".npuir") else _load_model(args)
    report = perf(model, args.target, args.dtype, profiling=args.profiling)
    if args.json:
        print(json.dumps({"model": args.model, **report.to_dict()}, indent=1))
        return 0
    from npucc.backends.npu.report import print_report

    print_report(report, title=args.model)


# ---- npucc inspect ----

def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="an .npub blob")
    p.add_argument("--target", help="check that the blob was built for this target")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@subcommand("inspect", "check an .npub blob and print what it holds", _configure_inspect)
def cmd_inspect(args: argparse.Namespace) -> int:
    """Read and check an .npub blob (every checksum and bound), then print its header, sections,
    partitions (NPU/CPU, node counts, why each CPU partition is on the CPU), the conversions at
    the partition boundaries, inputs and outputs, weights and the cost summary."""
    import json

    from npucc.backends.npu.blob_reader import read_blob
    from npucc.backends.npu.inspect import blob_summary, format_summary

    summary = blob_summary(read_blob(args.file, args.target))
    print(json.dumps(summary, indent=2, sort_keys=True) if args.json else format_summary(summary))
    return 0


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
