"""Run npucc's PyTorch frontend over torchvision's architectures and compare with torch.

    PYTHONPATH=src python scripts/torchvision_sweep.py                  # every model, both formats
    PYTHONPATH=src python scripts/torchvision_sweep.py resnet50 swin_t  # some of them

Needs torchvision (not an npucc dependency). Each model gets random weights, made to matter:
parameters that are constant at init (zero heads and biases, unit norm scales) get noise, and
BatchNorm statistics are measured on random images (deep stacks of std-0.01 weights, as in
googlenet, otherwise give the same output for every input). Each model is saved as a traced
TorchScript file (.pt) and a torch.export archive (.pt2), loaded with npucc.load, compiled with
npucc.compile and run on a random image; the table gives max|npucc - torch| / max|torch| beside
torch's own float32 error against float64 (the noise floor) and how much the output moves with
the input (so a constant output does not pass unnoticed). Detectors are exported with their
post-processing, which npucc must refuse naming the file and the op, and as backbone + head,
which must match. Every (model, format) runs in its own process.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile
from pathlib import Path

CLASSIFIERS = ["alexnet", "vgg11_bn", "resnet50", "resnext50_32x4d", "squeezenet1_1",
               "densenet121", "googlenet", "inception_v3", "shufflenet_v2_x1_0", "mobilenet_v2",
               "mobilenet_v3_large", "mnasnet1_0", "efficientnet_b0", "efficientnet_v2_s",
               "regnet_y_400mf", "convnext_tiny", "vit_b_16", "swin_t", "maxvit_t"]
SEGMENTERS = ["deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "fcn_resnet50"]
DETECTORS = ["ssdlite320_mobilenet_v3_large", "retinanet_resnet50_fpn",
             "fasterrcnn_mobilenet_v3_large_320_fpn"]
MODELS = CLASSIFIERS + SEGMENTERS + [f"{d}:{part}" for d in DETECTORS for part in ("full", "head")]


def build(name: str):
    """(eval-mode module, image size) of a sweep entry."""
    import torch
    import torchvision.models as tvm
    from torchvision.models import detection, segmentation

    class Out(torch.nn.Module):
        """The segmentation dict's "out", or a detector's first image as tensors."""

        def __init__(self, m, keys):
            super().__init__()
            self.m, self.keys = m, keys

        def forward(self, x):
            out = self.m(x)
            out = out[0] if isinstance(out, list) else out
            return tuple(out[k] for k in self.keys) if len(self.keys) > 1 else out[self.keys[0]]

    class Head(torch.nn.Module):
        """A detector's backbone and head (for a two-stage one, its region proposal head)."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            f = self.m.backbone(x)
            f = list(f.values()) if isinstance(f, dict) else [f]
            if hasattr(self.m, "rpn"):
                objectness, deltas = self.m.rpn.head(f)
                return (*objectness, *deltas)
            h = self.m.head(f)
            return h["bbox_regression"], h["cls_logits"]

    name, _, part = name.partition(":")
    if name in DETECTORS:
        m = getattr(detection, name)(weights=None, weights_backbone=None).eval()
        return (Out(m, ["boxes", "scores", "labels"]) if part == "full" else Head(m)), 320
    if name in SEGMENTERS:
        extra = {} if name.startswith("lraspp") else {"aux_loss": False}
        m = getattr(segmentation, name)(weights=None, weights_backbone=None, **extra)
        return Out(m, ["out"]), 224
    if name in ("googlenet", "inception_v3"):
        m = getattr(tvm, name)(weights=None, aux_logits=False, init_weights=True)
        return m, 299 if name == "inception_v3" else 224
    return getattr(tvm, name)(weights=None), 224


def prepare(m, size: int):
    import torch

    with torch.no_grad():
        for p in m.parameters():
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                p.add_(torch.randn_like(p) * 0.1 * max(1.0, abs(float(p.flatten()[0]))))
        norms = [b for b in m.modules() if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)]
        for b in norms:
            b.reset_running_stats()
            b.momentum = None  # a plain average over the batches seen
        if norms:
            m.train()
            m(torch.randn(4, 3, size, size))
    return m.eval()


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def run_one(name: str, kind: str, folder: Path) -> str:
    """One table row's result: 'rel err (noise floor, sensitivity)' or the error."""
    import numpy as np
    import torch

    import npucc

    torch.manual_seed(0)
    m, size = build(name)
    full = name.endswith(":full")
    if not full:
        m = prepare(m, size)
    x = torch.randn(1, 3, size, size)
    path = folder / f"{name.replace(':', '_')}.{kind}"
    with torch.no_grad():
        try:
            if kind == "pt":
                torch.jit.trace(m, (x,), check_trace=False).save(str(path))
            else:
                torch.export.save(torch.export.export(m, (x,)), path)
        except Exception as e:  # noqa: BLE001 - torch itself cannot save it
            return f"torch cannot save it: {type(e).__name__}: {str(e).splitlines()[0][:150]}"
        want = m(x)
        want = list(want) if isinstance(want, (tuple, list)) else [want]
        moved = _first(m(torch.randn_like(x)))
        f64 = _first(copy.deepcopy(m).double()(x.double()))
    try:
        graph = npucc.load(path, input_shapes=[list(x.shape)]) if kind == "pt" else \
            npucc.load(path)
        got = npucc.compile(graph).run([x.numpy()])
    except Exception as e:  # noqa: BLE001 - the row shows it
        return f"{type(e).__name__}: {e}"
    if full:
        return "loaded (expected a refusal)"
    err = max(float(np.abs(g - w.numpy()).max() / np.abs(w.numpy()).max())
              for g, w in zip(got, want))
    ref = _first(want)
    floor = float((ref.double() - f64).abs().max() / f64.abs().max())
    sens = float((ref - moved).abs().max() / ref.abs().max())
    return f"{err:.1e} (torch f32 vs f64 {floor:.1e}; output moves {sens:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=MODELS)
    ap.add_argument("--one", nargs=3, metavar=("MODEL", "KIND", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("RESULT " + run_one(args.one[0], args.one[1], Path(args.one[2])).replace("\n", " "))
        return
    print("| model | .pt | .pt2 |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            cells = []
            for kind in ("pt", "pt2"):
                proc = subprocess.run([sys.executable, __file__, "--one", name, kind, folder],
                                      capture_output=True, text=True)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                cells.append(lines[-1][7:] if lines else
                             f"crashed ({proc.returncode}): {proc.stderr.strip()[-200:]}")
            print(f"| {name} | {' | '.join(c.replace('|', '/') for c in cells)} |", flush=True)


if __name__ == "__main__":
    main()
