#!/usr/bin/env python3
"""Run the ONNX per-operator node tests through npucc's ONNX frontend and reference interpreter.

Each test directory holds model.onnx and test_data_set_*/{input,output}_*.pb. A test *passes* when
npucc imports the model and its outputs match the expected ones (ONNX backend-test tolerance:
rtol=1e-3, atol=1e-7, dtypes equal); it is *unsupported* when the frontend raises
UnsupportedError (an op, attribute value or dtype npucc declares unsupported); anything else
(wrong numbers, a crash, any other error) *fails*, except in the few tests listed in
REFERENCE_DISAGREEMENTS, where npucc follows onnxruntime and the expected data do not: those
*disagree*.

The test data come from Debian's libonnx-testdata package (`apt-get install libonnx-testdata`,
installed under /usr/share/libonnx-testdata/data/node) or an onnx source checkout
(onnx/backend/test/data/node); give another location with --data-dir.

    python scripts/onnx_conformance.py                 # all node tests, summary
    python scripts/onnx_conformance.py -k conv -v      # tests whose name contains 'conv'
    python scripts/onnx_conformance.py --supported-only --json out.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
from collections import Counter

import numpy as np
import onnx
from onnx import numpy_helper

from npucc.errors import UnsupportedError
from npucc.frontends import onnx as onnx_frontend
from npucc.ir import run_graph

DEFAULT_DATA_DIRS = ("/usr/share/libonnx-testdata/data/node",
                     os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/node"))
INSTALL_HINT = ("the ONNX node test data are missing: install them with "
                "`apt-get install -y libonnx-testdata` (Debian/Ubuntu) or pass --data-dir "
                "pointing at onnx/backend/test/data/node of an onnx source checkout")
RTOL, ATOL = 1e-3, 1e-7
# ops whose output row count depends on the data: npucc's output has the static maximum, the
# expected rows first, then rows of -1 (see the core op's docs)
PADDED_OUTPUT_OPS = {"NonMaxSuppression"}
# tests whose expected outputs (written by the ONNX reference implementation) disagree with
# onnxruntime, which npucc follows: reported as "disagrees" when npucc's numbers differ
REFERENCE_DISAGREEMENTS = {
    "test_maxunpool_export_with_output_shape":
        "the reference reads the indices over the shape computed from the kernel and pads the "
        "result to output_shape; onnxruntime (and the spec's index range) read them over "
        "output_shape",
}


def find_data_dir(given: str | None = None) -> str | None:
    for d in ([given] if given else DEFAULT_DATA_DIRS):
        if d and glob.glob(os.path.join(d, "test_*", "model.onnx")):
            return d
    return None


def test_ops(model_path: str) -> set[str]:
    """Op types a test model uses (top-level graph)."""
    m = onnx.load(model_path, load_external_data=False)
    return {n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
            for n in m.graph.node}


def _read_tensor(path: str) -> np.ndarray:
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def _load_data_sets(test_dir: str) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    sets = []
    for ds in sorted(glob.glob(os.path.join(test_dir, "test_data_set_*"))):
        n_in = len(glob.glob(os.path.join(ds, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(ds, "output_*.pb")))
        sets.append(([_read_tensor(os.path.join(ds, f"input_{i}.pb")) for i in range(n_in)],
                     [_read_tensor(os.path.join(ds, f"output_{i}.pb")) for i in range(n_out)]))
    return sets


_RUNTIME_OPERAND = re.compile(r"tensor '([^']*)'\) must be known at import time")


def _inputs_feeding(model_path: str, name: str, input_names: list[str]) -> list[str]:
    """The graph inputs tensor `name` is computed from (itself if it is one)."""
    graph = onnx.load(model_path, load_external_data=False).graph
    producer = {o: n for n in graph.node for o in n.output}
    seen, todo = set(), [name]
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        if t in producer:
            todo.extend(i for i in producer[t].input if i)
    return [n for n in input_names if n in seen]


def _import(model_path: str, input_names: list[str], first_inputs: list[np.ndarray]):
    """Import the model; inputs that the frontend needs static (shape operands or trip counts the
    test feeds as inputs, or the inputs they are computed from) are frozen to the test's values,
    as a user would freeze them. Returns the graph and the frozen input names."""
    frozen: dict[str, np.ndarray] = {}
    while True:
        try:
            return onnx_frontend.load(model_path, constant_inputs=frozen), sorted(frozen)
        except UnsupportedError as e:
            m = _RUNTIME_OPERAND.search(str(e))
            feeding = _inputs_feeding(model_path, m.group(1), input_names) if m else []
            if not any(n not in frozen for n in feeding):
                raise
            frozen.update({n: first_inputs[input_names.index(n)] for n in feeding})


def run_test(test_dir: str) -> tuple[str, str]:
    """(status, detail) of one node test: status is passed, failed or unsupported."""
    model_path = os.path.join(test_dir, "model.onnx")
    try:
        data_sets = _load_data_sets(test_dir)
    except Exception as e:  # noqa: BLE001 - sequences/optionals are not tensors
        return "unsupported", f"test data are not plain tensors: {e}"
    m = onnx.load(model_path, load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    input_names = [i.name for i in m.graph.input if i.name not in inits]
    try:
        graph, frozen = _import(model_path, input_names, data_sets[0][0] if data_sets else [])
    except UnsupportedError as e:
        return "unsupported", str(e)
    except Exception as e:  # noqa: BLE001 - any other import failure is a failure
        return "failed", f"import: {type(e).__name__}: {e}"
    if frozen and len(data_sets) > 1:
        return "unsupported", f"needs static {frozen} but has several data sets"
    note = f"(inputs {frozen} frozen)" if frozen else ""
    padded = bool(test_ops(model_path) & PADDED_OUTPUT_OPS)
    for inputs, expected in data_sets:
        feed = {n: a for n, a in zip(input_names, inputs) if n not in frozen}
        try:
            got = run_graph(graph, feed)
        except Exception as e:  # noqa: BLE001
            return "failed", f"run: {type(e).__name__}: {e}"
        if len(got) != len(expected):
            return "failed", f"{len(got)} outputs, expected {len(expected)}"
        for i, (g, want) in enumerate(zip(got, expected)):
            if padded and g.ndim and want.ndim and len(g) >= len(want) \
                    and np.all(g[len(want):] == -1):
                g = g[:len(want)]
            if g.dtype != want.dtype or g.shape != want.shape:
                return "failed", (f"output {i}: got {g.dtype}{list(g.shape)}, expected "
                                  f"{want.dtype}{list(want.shape)}")
            if want.dtype.kind in "fc":
                ok = np.allclose(g, want, rtol=RTOL, atol=ATOL, equal_nan=True)
            else:
                ok = np.array_equal(g, want)
            if not ok:
                err = np.max(np.abs(g.astype(np.float64) - want.astype(np.float64)))
                return "failed", f"output {i}: values differ (max |diff| {err:.3g})"
    return "passed", note


def run_all(data_dir: str, name_filter: str | None = None, supported_only: bool = False):
    """Run the node tests; returns {test name: (status, detail, ops)}."""
    supported = set(onnx_frontend.supported_ops())
    results = {}
    for model in sorted(glob.glob(os.path.join(data_dir, "test_*", "model.onnx"))):
        test_dir = os.path.dirname(model)
        name = os.path.basename(test_dir)
        if name_filter and name_filter not in name:
            continue
        ops = test_ops(model)
        if supported_only and not ops <= supported:
            continue
        status, detail = run_test(test_dir)
        if status == "failed" and name in REFERENCE_DISAGREEMENTS:
            status, detail = "disagrees", f"{REFERENCE_DISAGREEMENTS[name]} ({detail})"
        results[name] = (status, detail, sorted(ops))
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", help="directory of test_* node tests")
    ap.add_argument("-k", dest="name_filter", help="only tests whose name contains this")
    ap.add_argument("--supported-only", action="store_true",
                    help="only tests whose ops npucc lists as supported")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every test")
    ap.add_argument("--json", help="write the results to this JSON file")
    args = ap.parse_args(argv)
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    results = run_all(data_dir, args.name_filter, args.supported_only)
    counts = Counter(status for status, _, _ in results.values())
    for name, (status, detail, ops) in results.items():
        if args.verbose or status == "failed":
            print(f"{status:12s} {name} [{', '.join(ops)}] {detail}".rstrip())
    print(f"{len(results)} node tests from {data_dir}: {counts['passed']} passed, "
          f"{counts['failed']} failed, {counts['unsupported']} unsupported, "
          f"{counts['disagrees']} disagree with onnxruntime")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data_dir": data_dir, "counts": dict(counts),
                       "results": {k: {"status": s, "detail": d, "ops": o}
                                   for k, (s, d, o) in results.items()}}, f, indent=1)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
