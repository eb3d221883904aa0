#!/usr/bin/env python3
"""Run the ONNX node tests that npucc's reference interpreter passes through RKNN's whole PC flow
and count what fails: unusual models (scalar inputs, integer-only graphs, constant outputs,
float16 casts) for the quantizer, the NPU backend, the blob and the facade.

    python scripts/rknn_node_sweep.py                     # u8 (rk1808), w8a8 and fp16 (rk3588)
    python scripts/rknn_node_sweep.py --flow more          # dfp8, dfp16, analysis, hybrid 1+2
    python scripts/rknn_node_sweep.py -k pow -v            # tests whose name contains 'pow'

Each (test, flow) runs config -> load_onnx -> build (the test's first inputs as a one-sample
.npy dataset) -> export_rknn -> init_runtime -> inference (data_format nchw); `analysis` adds
accuracy_analysis, eval_perf and eval_memory; `hybrid` runs hybrid_quantization_step1/2 instead
of build. A row is *ok* (with the lowest output cosine against the test's expected outputs),
*refused* (an npucc error: read the message), or *CRASH* (any other exception: a bug). Tests
whose inputs the frontend must freeze, and tests npucc does not pass in float, are left out.
Needs the node test data (scripts/onnx_conformance.py says where it looks).
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import sys
import tempfile
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import onnx_conformance as oc  # noqa: E402

FLOWS = {
    "default": [("rk1808", "asymmetric_quantized-u8", "build"), ("rk3588", "w8a8", "build"),
                ("rk3588", None, "float")],
    "more": [("rk1808", "dynamic_fixed_point-i8", "build"),
             ("rk1808", "dynamic_fixed_point-i16", "build"), ("rk1808", None, "float"),
             ("rk3588", "w8a8", "analysis"), ("rk3588", "w8a8", "hybrid")],
}


def lowest_cosine(outs, expected) -> float | None:
    cs = []
    for g, w in zip(outs, expected):
        g, w = np.asarray(g, np.float64).ravel(), np.asarray(w, np.float64).ravel()
        if g.shape != w.shape:
            raise AssertionError(f"output shape {g.shape}, expected {w.shape}")
        if w.size and np.all(np.isfinite(w)):
            n = np.linalg.norm(g) * np.linalg.norm(w)
            cs.append(float(g @ w / n) if n else float(np.array_equal(g, w)))
    return min(cs) if cs else None


def run_flow(model: str, inputs, expected, target, dtype, mode, tmp: str):
    from npucc.rknn import RKNN

    paths = []
    for i, a in enumerate(inputs):
        paths.append(os.path.join(tmp, f"in{i}.npy"))
        np.save(paths[-1], a)
    txt = os.path.join(tmp, "dataset.txt")
    Path(txt).write_text(" ".join(paths) + "\n")
    config = {"target_platform": target, **({"quantized_dtype": dtype} if dtype else {})}
    rknn = RKNN(raise_errors=True)
    try:
        rknn.config(**config)
        rknn.load_onnx(model=model)
        if mode == "hybrid":
            cwd = os.getcwd()
            os.chdir(tmp)
            try:
                rknn.hybrid_quantization_step1(dataset=txt)
                rknn.release()
                rknn = RKNN(raise_errors=True)
                rknn.config(**config)
                stem = Path(model).stem
                rknn.hybrid_quantization_step2(model_input=f"{stem}.model",
                                               data_input=f"{stem}.data",
                                               model_quantization_cfg=f"{stem}.quantization.cfg")
            finally:
                os.chdir(cwd)
        else:
            rknn.build(do_quantization=mode != "float", dataset=txt if mode != "float" else None)
        if mode == "analysis":
            rknn.accuracy_analysis(inputs=paths, output_dir=os.path.join(tmp, "snapshot"))
            rknn.eval_perf()
            rknn.eval_memory()
        rknn.export_rknn(os.path.join(tmp, "m.rknn"))
        rknn.init_runtime()
        return lowest_cosine(rknn.inference(inputs=list(inputs), data_format="nchw"), expected)
    finally:
        rknn.release()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="directory of test_* node tests")
    ap.add_argument("-k", dest="name_filter", help="only tests whose name contains this")
    ap.add_argument("--flow", choices=sorted(FLOWS), default="default")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every refusal too")
    args = ap.parse_args(argv)
    data_dir = oc.find_data_dir(args.data_dir)
    if data_dir is None:
        print(oc.INSTALL_HINT, file=sys.stderr)
        return 2
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from npucc.errors import NpuccError

    counts: Counter = Counter()
    for model in sorted(glob.glob(os.path.join(data_dir, "test_*", "model.onnx"))):
        test = os.path.dirname(model)
        name = os.path.basename(test)
        if args.name_filter and args.name_filter not in name:
            continue
        status, detail = oc.run_test(test)
        if status != "passed" or "frozen" in detail:
            continue
        inputs, expected = oc._load_data_sets(test)[0]
        for target, dtype, mode in FLOWS[args.flow]:
            flow = f"{target} {dtype or 'float'} {mode}"
            with tempfile.TemporaryDirectory() as tmp, \
                    open(os.devnull, "w") as quiet:
                stdout, sys.stdout = sys.stdout, quiet  # the facade's I / W lines
                try:
                    cos = run_flow(model, inputs, expected, target, dtype, mode, tmp)
                    kind, msg = "ok", "" if cos is None else f"cosine {cos:.4f}"
                except NpuccError as e:
                    kind, msg = "refused", f"{type(e).__name__}: {e}"
                except Exception as e:  # noqa: BLE001 - the census
                    kind = "CRASH"
                    msg = f"{type(e).__name__}: {e} ({traceback.extract_tb(e.__traceback__)[-1]})"
                finally:
                    sys.stdout = stdout
            counts[(flow, kind)] += 1
            if kind == "CRASH" or (args.verbose and kind != "ok"):
                print(f"{name} [{flow}] {kind}: {msg}", flush=True)
    print("\n| flow | ok | refused | CRASH |\n|---|---:|---:|---:|")
    for flow in dict.fromkeys(f for f, _ in counts):
        print(f"| {flow} | {counts[(flow, 'ok')]} | {counts[(flow, 'refused')]} | "
              f"{counts[(flow, 'CRASH')]} |")
    return 1 if any(k == "CRASH" for _, k in counts) else 0


if __name__ == "__main__":
    sys.exit(main())
