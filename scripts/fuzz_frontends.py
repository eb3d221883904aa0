#!/usr/bin/env python3
"""Mutation-fuzz npucc's frontends and print one table row per target: variants, how many loaded,
how many failed with an npucc error naming the file, and anything else (must be 0).

    python scripts/fuzz_frontends.py 3000 --seed 0              # every row below
    python scripts/fuzz_frontends.py 500 --format pytorch -v    # one format, list each escape

Rows: Caffe (prototxt, .caffemodel), Darknet (cfg, .weights), PyTorch (.pt2 and TorchScript .pt
mutated as whole archives and member by member). The fixtures are the fuzz tests' small models
(tests/fuzz/test_fuzz_*.py); the mutations and the verdict are tests/fuzz/mutate.py's, the same
as the suite runs with fewer variants. Same seed, same variants.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.mutate import check_outcome, variants  # noqa: E402


class Target(NamedTuple):
    format: str
    name: str
    fixture: Callable[[Path], Path]  # writes the valid file (and companions) into a folder
    load: Callable[[Path, Path], object]  # (variant path, fixture folder) -> graph
    member: str | None = None  # mutate this zip member (regex) inside an intact archive


def _caffe(d: Path) -> Path:
    from tests.fuzz.test_fuzz_caffe import PROTOTXT, _write_caffemodel

    from npucc.frontends import caffe

    (d / "small.prototxt").write_text(PROTOTXT)
    _write_caffemodel(d / "small.caffemodel", caffe.random_blobs(d / "small.prototxt"))
    return d / "small.prototxt"


def _darknet(d: Path) -> Path:
    import numpy as np
    from tests.fuzz.test_fuzz_darknet import CFG

    from npucc.frontends import darknet

    (d / "small.cfg").write_text(CFG)
    with open(d / "small.weights", "wb") as f:
        f.write(np.array([0, 2, 0], np.int32).tobytes() + np.zeros(1, np.uint64).tobytes())
        for a in darknet.random_weights(d / "small.cfg"):
            f.write(a.astype(np.float32).tobytes())
    return d / "small.cfg"


def _torch(kind: str) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        import torch
        from tests.fuzz.test_fuzz_pytorch import SHAPE, _Small

        torch.manual_seed(0)
        model, x = _Small().eval(), torch.rand(*SHAPE)
        if kind == "pt2":
            torch.export.save(torch.export.export(model, (x,)), d / "small.pt2")
        else:
            torch.jit.trace(model, (x,)).save(str(d / "small.pt"))
        return d / f"small.{kind}"
    return write


def _load_caffe(which: str):
    from npucc.frontends import caffe

    if which == "prototxt":
        return lambda p, d: caffe.load(p, weights=d / "small.caffemodel")
    return lambda p, d: caffe.load(d / "small.prototxt", weights=p)


def _load_darknet(which: str):
    from npucc.frontends import darknet

    if which == "cfg":
        return lambda p, d: darknet.load(p, weights=d / "small.weights")
    return lambda p, d: darknet.load(d / "small.cfg", weights=p)


def _load_torch(p: Path, d: Path):
    from tests.fuzz.test_fuzz_pytorch import SHAPE

    import npucc

    return npucc.load(p) if p.suffix == ".pt2" else npucc.load(p, input_shapes=[SHAPE])


def _companion(d: Path, name: str) -> Callable[[Path], Path]:
    return lambda _: d / name


CONV_CODE = r"code/__torch__/torch/nn/modules/conv(/___torch_mangle_\d+)?\.py"
TARGETS = [
    Target("caffe", "small.prototxt", _caffe, _load_caffe("prototxt")),
    Target("caffe", "small.caffemodel", _caffe, _load_caffe("caffemodel")),
    Target("darknet", "small.cfg", _darknet, _load_darknet("cfg")),
    Target("darknet", "small.weights", _darknet, _load_darknet("weights")),
    Target("pytorch", "small.pt2 (zip bytes)", _torch("pt2"), _load_torch),
    Target("pytorch", "small.pt2 models/model.json", _torch("pt2"), _load_torch,
           "models/model.json"),
    Target("pytorch", "small.pt2 weights config", _torch("pt2"), _load_torch,
           "data/weights/model_weights_config.json"),
    Target("pytorch", "small.pt (zip bytes)", _torch("pt"), _load_torch),
    Target("pytorch", "small.pt data.pkl", _torch("pt"), _load_torch, "data.pkl"),
    Target("pytorch", "small.pt code", _torch("pt"), _load_torch, CONV_CODE),
    Target("pytorch", "small.pt debug table", _torch("pt"), _load_torch,
           CONV_CODE + r"\.debug_pkl"),
]


def _original(target: Target, d: Path) -> tuple[Path, Callable[[Path, bytes], None]]:
    """The bytes to mutate (a file named like the loaded file, so errors name it) and how to
    write a variant where the loader reads it."""
    main = target.fixture(d)
    if target.name.split(" ")[0] != main.name:  # the companion file (.caffemodel, .weights)
        main = d / target.name
    if target.member is None:
        return main, lambda path, blob: path.write_bytes(blob)
    import re

    z = zipfile.ZipFile(main)
    name = next(m for m in z.namelist() if re.fullmatch(target.member, m.split("/", 1)[1]))
    source = d / "member" / main.name
    source.parent.mkdir()
    source.write_bytes(z.read(name))

    def write(path: Path, blob: bytes) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
            for info in z.infolist():
                out.writestr(info.filename, blob if info.filename == name else z.read(info))

    return source, write


def fuzz_target(target: Target, n: int, seed: int, d: Path) -> tuple[Counter, list[str]]:
    original, write = _original(target, d)
    work = d / "variants"
    work.mkdir()
    path = work / original.name
    counts: Counter = Counter()
    escapes = []
    for desc, blob in variants(original.read_bytes(), n, seed):
        write(path, blob)
        try:
            counts[check_outcome(lambda p: target.load(p, d), path, desc)] += 1
        except AssertionError as e:
            counts["other"] += 1
            escapes.append(str(e))
    return counts, escapes


def main(argv=None) -> int:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)  # torch's export warnings, once per successful load
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", type=int, help="variants per row")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", action="append", help="only these formats (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every escape")
    args = ap.parse_args(argv)
    rows = [t for t in TARGETS if not args.format or t.format in args.format]
    header = ("format", "fixture", "variants", "loaded", "npucc errors", "anything else",
              "seconds")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    total_other = 0
    for target in rows:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            counts, escapes = fuzz_target(target, args.variants, args.seed, Path(tmp))
            secs = time.perf_counter() - start
        total_other += counts["other"]
        print(f"| {target.format} | {target.name} | {args.variants} | {counts['loaded']} | "
              f"{counts['npucc-error']} | {counts['other']} | {secs:.0f} |", flush=True)
        for line in escapes if args.verbose else escapes[:3]:
            print(f"    {line[:400]}", file=sys.stderr)
    return 1 if total_other else 0


if __name__ == "__main__":
    sys.exit(main())
