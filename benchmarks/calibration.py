"""Calibration: time against plain inference, peak memory against the number of images, and the
time of each range selector on a whole model's statistics.

    python benchmarks/calibration.py [--sizes 20,100,500] [--models resnet18,mobilenet_v2]
                                     [--threads 2] [--full-sizes 20]

Images: crops (random square windows of 50-100% of the short side) and horizontal flips of
scikit-image's photos, written as JPEG files with a dataset.txt per N. Models: ResNet-18 and
MobileNetV2 from tests/models (random weights) exported to ONNX, compiled by npucc.compile with
ImageNet mean/std folded in (the graph takes raw 0-255 pixels, as RKNN models do).

For each N, image by image (so that every variant sees the same machine load): *infer* runs the
plan on the decoded array, *calib* runs it with calibration's statistics collector
(`Plan.run(observe=Collector)`, calibrate's inner loop, 64k-element histogram samples), and for
the --full-sizes *full* does the same with every element in the histograms; wall and CPU
(process) seconds are summed per variant. *decode* is reading the N files into arrays (what
inference on image files costs too); *calibrate(dataset.txt)* is the whole call on the files,
compared with decode + infer; for the --full-sizes, how far the u8 ranges from sampled
histograms are from those of full ones (as a fraction of the full range). Peak RSS is measured
in a fresh subprocess per N that compiles the model and calibrates from the dataset.txt
(ru_maxrss), next to one that only compiles and runs once. Selector times: `select_ranges` over
the N=100 (or the largest N below) statistics, every float activation of the model.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NPUCC_NUM_THREADS"):
        os.environ[var] = str(n)


def make_images(directory: Path, n: int, seed: int = 0) -> list[str]:
    import numpy as np
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(),
              data.hubble_deep_field(), data.immunohistochemistry(), data.retina(),
              data.colorwheel(), data.stereo_motorcycle()[0], data.cat()]
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        side = int(min(h, w) * rng.uniform(0.5, 1.0))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = img[y:y + side, x:x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        name = f"img{i:04d}.jpg"
        Image.fromarray(np.ascontiguousarray(crop)).save(directory / name, quality=90)
        names.append(name)
    return names


def compile_model(name: str, workdir: Path):
    import npucc
    from npucc.passes import Preprocess

    path = workdir / f"{name}.onnx"
    if not path.exists():  # torch only here: the RSS children load the exported file
        sys.path.insert(0, str(ROOT))
        from tests.models import build, export_onnx

        model, example = build(name)
        path.write_bytes(export_onnx(model, example))
    pre = {"input": Preprocess(mean=MEAN, std=STD)}
    return npucc.compile(str(path), preprocess=pre)


def rss_child(argv) -> int:
    """--rss MODEL WORKDIR TXT|-: peak RSS (MiB) after compiling and calibrating (or, with -,
    one inference)."""
    import resource

    import numpy as np

    from npucc.quantization import calibrate

    name, workdir, txt = argv
    model = compile_model(name, Path(workdir))
    if txt == "-":
        model.run(np.zeros(model.graph.inputs[0].shape, np.float32))
    else:
        calibrate(model.graph, txt, progress=False)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return 0


def peak_rss(name: str, workdir: Path, txt: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--rss", name, str(workdir), txt],
                         check=True, capture_output=True, text=True, env=os.environ.copy())
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20,100,500")
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full-sizes", default="20", help="N for which to time full histograms")
    ap.add_argument("--workdir", default=None, help="keep images and models here")
    ap.add_argument("--rss", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    _set_threads(args.threads)
    sys.path.insert(0, str(ROOT / "src"))
    if args.rss:
        return rss_child(args.rss)

    import tempfile
    import time

    import numpy as np

    from npucc.quantization import Dataset, calibrate, select_ranges
    from npucc.quantization.calibrate import HISTOGRAM_SAMPLE, Collector

    sizes = [int(s) for s in args.sizes.split(",")]
    full_sizes = {int(s) for s in args.full_sizes.split(",") if s}
    tmp = tempfile.TemporaryDirectory() if args.workdir is None else None
    workdir = Path(args.workdir or tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    names = make_images(workdir, max(sizes))
    txts = {}
    for n in sizes:
        txts[n] = workdir / f"dataset_{n}.txt"
        txts[n].write_text("\n".join(names[:n]) + "\n")

    rows, rss_rows, selector_rows, sample_rows = [], [], [], []
    for name in args.models.split(","):
        model = compile_model(name, workdir)
        graph, plan = model.graph, model.plan
        kept = None
        for n in sizes:
            t = time.perf_counter()
            arrays = [s[0] for s in Dataset(txts[n]).samples(graph)]
            decode = time.perf_counter() - t
            # calibration's inner loop, interleaved image by image with plain inference so that
            # both see the same machine load: wall and CPU seconds per variant
            variants = {"infer": None, "calib": Collector(graph, plan, HISTOGRAM_SAMPLE)}
            if n in full_sizes:
                variants["full"] = Collector(graph, plan, None)
            wall = dict.fromkeys(variants, 0.0)
            cpu = dict.fromkeys(variants, 0.0)
            warm = Collector(graph, plan, HISTOGRAM_SAMPLE)  # loads numba's loops before timing
            for observe in (None, warm):
                plan.run([arrays[0]], observe=observe)
            for a in arrays:
                for key, observe in variants.items():
                    t, c = time.perf_counter(), time.process_time()
                    plan.run([a], observe=observe)
                    wall[key] += time.perf_counter() - t
                    cpu[key] += time.process_time() - c
            if "full" in variants:  # ranges from sampled vs full histograms
                sampled, full = variants["calib"].result(), variants["full"].result()
                for algorithm in ("percentile", "kl_divergence", "mmse"):
                    a, b = select_ranges(sampled, algorithm, "u8"), select_ranges(full, algorithm)
                    d = [max(abs(a[k][0] - b[k][0]), abs(a[k][1] - b[k][1]))
                         / max(b[k][1] - b[k][0], 1e-30) for k in b]
                    sample_rows.append((name, n, algorithm, float(np.median(d)), max(d)))
            arrays = variants = None  # free the decoded images before the next N
            t = time.perf_counter()
            stats = calibrate(graph, str(txts[n]), progress=False)
            t_files = time.perf_counter() - t
            rows.append((name, n, wall, cpu, decode, t_files))
            print(f"{name} N={n}: infer {wall['infer']:.2f}s calib {wall['calib']:.2f}s "
                  f"({wall['calib'] / wall['infer']:.2f}x, CPU {cpu['calib'] / cpu['infer']:.2f}x)"
                  f" files {t_files:.2f}s vs {decode + wall['infer']:.2f}s", flush=True)
            if kept is None or n <= 100:
                kept = stats
        base = peak_rss(name, workdir, "-")
        for n in sizes:
            rss_rows.append((name, n, base, peak_rss(name, workdir, str(txts[n]))))
        for algorithm in ("normal", "mean_minmax", "percentile", "kl_divergence", "mmse"):
            for dtype in ("u8", "i8-symmetric", "dfp8"):
                t = time.perf_counter()
                select_ranges(kept, algorithm, dtype.split("-")[0],
                              symmetric=dtype.endswith("symmetric") or None)
                selector_rows.append((name, len(kept), algorithm, dtype,
                                      time.perf_counter() - t))

    print("\n| model | N | infer s | calib s | ratio | CPU ratio | full-hist ratio (CPU) | "
          "decode s | calibrate(dataset.txt) s | vs decode + infer |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, n, wall, cpu, dec, tfl in rows:
        full = (f"{wall['full'] / wall['infer']:.2f} ({cpu['full'] / cpu['infer']:.2f})"
                if "full" in wall else "-")
        print(f"| {name} | {n} | {wall['infer']:.2f} | {wall['calib']:.2f} | "
              f"{wall['calib'] / wall['infer']:.2f} | {cpu['calib'] / cpu['infer']:.2f} | "
              f"{full} | {dec:.2f} | {tfl:.2f} | {tfl / (dec + wall['infer']):.2f} |")
    print("\n| model | N | u8 algorithm | median / max range difference, sampled vs full |")
    print("|---|---:|---|---|")
    for name, n, algorithm, med, worst in sample_rows:
        print(f"| {name} | {n} | {algorithm} | {med:.2%} / {worst:.2%} |")
    print("\n| model | N | peak RSS MiB (compile + 1 run) | peak RSS MiB calibrating |")
    print("|---|---:|---:|---:|")
    for name, n, base, rss in rss_rows:
        print(f"| {name} | {n} | {base:.0f} | {rss:.0f} |")
    print("\n| model | values | algorithm | dtype | seconds |")
    print("|---|---:|---|---|---:|")
    for name, nv, algorithm, dtype, t in selector_rows:
        print(f"| {name} | {nv} | {algorithm} | {dtype} | {t:.3f} |")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
