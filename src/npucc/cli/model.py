"""`npucc show` (a model as IR text) and `npucc run` (a model or blob in the simulator)."""

from __future__ import annotations

import argparse
import os
import sys

from npucc.atomic import open_atomic
from npucc.errors import NpuccError

from .common import configure_model, load_model, subcommand


def _configure_show(p: argparse.ArgumentParser) -> None:
    configure_model(p)
    p.add_argument("--pipeline", "-p", metavar="PASSES",
                   help="run these passes first ('default' for the default pipeline)")
    p.add_argument("--full", action="store_true", help="print every constant payload")


@subcommand("show", "print a model as IR text", _configure_show)
def cmd_show(args: argparse.Namespace) -> int:
    """Import a model and print it as npucc IR text (constants larger than 16 elements elided)."""
    from npucc.ir.text import format_graph
    from npucc.passes import default_pipeline, run_passes

    graph = load_model(args)
    if args.pipeline:
        run_passes(graph, default_pipeline() if args.pipeline == "default" else args.pipeline)
    print(format_graph(graph, max_inline=None if args.full else 16))
    return 0


def _configure_run(p: argparse.ArgumentParser) -> None:
    configure_model(p)
    p.add_argument("--target", help="for an .npub blob: the target it must have been built for")
    p.add_argument("--input", "-i", action="append", default=[], metavar="[NAME=]FILE",
                   help="input array (.npy) or image (.jpg/.png/.bmp, raw pixels resized to the "
                        "input; the model's built-in preprocessing applies); repeat for several "
                        "inputs; random if omitted")
    p.add_argument("--seed", type=int, default=0, help="seed of random inputs (default 0)")
    p.add_argument("--pipeline", "-p", metavar="PASSES", help="pass pipeline (default: default)")
    p.add_argument("--dump", metavar="DIR", help="save every layer's output as .npy in DIR "
                   "(a new or empty directory, or an earlier dump, which is replaced)")
    p.add_argument("--save", metavar="DIR", help="save the outputs as DIR/<output>.npy")


def _read_inputs(args, graph, pixels=None):
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
        named[name] = _read_input_file(path, graph, name, (pixels or {}).get(name) == "bgr")
        value = next((v for v in graph.inputs if v.name == name), None)
        if value is not None and named[name].shape != value.shape:
            raise NpuccError(f"--input {path}: a {named[name].dtype}{list(named[name].shape)} "
                             f"array, but input %{name} is {value.type}")
    return named


def _read_input_file(path: str, graph, name: str, bgr: bool = False):
    """An .npy array, or an image (.jpg/.png/.bmp) read as the input takes it: raw 0-255 pixels
    resized to the input, in its layout, channels reversed when the blob records BGR pixels (the
    preprocessing built into the model applies)."""
    from pathlib import Path

    from npucc.npyio import read_npy
    from npucc.quantization.dataset import IMAGE_SUFFIXES, InputAdapter

    if path.lower().endswith(IMAGE_SUFFIXES):
        value = next((v for v in graph.inputs if v.name == name), None)
        if value is None:
            raise NpuccError(f"--input {path}: the model has no input {name!r}")
        return InputAdapter(value).image(Path(path), bgr)
    try:
        array = read_npy(path)
    except (OSError, ValueError) as e:
        raise NpuccError(f"--input {path}: not a readable .npy array ({e})") from None
    if array.dtype.kind not in "biuf":
        raise NpuccError(f"--input {path}: a {array.dtype} array; inputs are numbers (bool, "
                         "int, uint or float)")
    return array


@subcommand("run", "compile a model (or load an .npub blob) and run it in the simulator",
            _configure_run)
def cmd_run(args: argparse.Namespace) -> int:
    """Import a model, run the pass pipeline, compile the simulator plan, run it on the inputs and
    print a summary of each output (and of the compile). An .npub blob is loaded (and checked)
    instead: it runs exactly as the plan it was built from."""
    import time

    import numpy as np

    from npucc.api import compile as compile_model
    from npucc.quantization.dataset import IMAGE_SUFFIXES

    if str(args.model).endswith(".npub"):
        from npucc.api import load_blob

        if args.pipeline or args.weights or args.shape:
            raise NpuccError("--pipeline, --weights and --shape do not apply to an .npub blob "
                             "(it holds the compiled model)")
        model = load_blob(args.model, args.target)
        inputs = _read_inputs(args, model.graph, model.pixel_order)
        outputs = model.run(inputs, dump_dir=args.dump)
        t = model.times
        print(f"{args.model}: blob for {model.target}, {len(model.plan.nodes)} nodes; load "
              f"{t.load * 1e3:.1f} ms, plan {t.plan * 1e3:.1f} ms; peak activations "
              f"{model.peak_activation_bytes / 1024:.1f} KiB")
    else:
        if args.target:
            raise NpuccError("--target applies to an .npub blob only")
        start = time.perf_counter()
        graph = load_model(args)
        load_ms = (time.perf_counter() - start) * 1e3
        inputs = _read_inputs(args, graph)
        images = [i for i in args.input if i.lower().endswith(IMAGE_SUFFIXES)]
        if images:
            print(f"npucc: warning: {', '.join(images)}: fed as raw 0-255 pixels; a model file "
                  "has no built-in preprocessing (build it with mean/std: npucc build, or give "
                  "a normalised .npy)", file=sys.stderr)
        model = compile_model(graph, pipeline=args.pipeline)
        outputs = model.run(inputs, dump_dir=args.dump)
        t = model.times
        print(f"{args.model}: {len(graph)} nodes imported, {len(model.graph)} after passes; "
              f"load {load_ms:.1f} ms, passes {t.passes * 1e3:.1f} ms, plan "
              f"{t.plan * 1e3:.1f} ms; peak activations "
              f"{model.peak_activation_bytes / 1024:.1f} KiB")
    note = model.nonfinite_note(inputs, outputs)
    if note:
        print(f"warning: {note}", file=sys.stderr)
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
            with open_atomic(path) as f:
                np.save(f, out)
        print(f"outputs saved in {args.save}")
    if args.dump:
        print(f"per-layer outputs dumped in {args.dump} (index.json lists them)")
    return 0

