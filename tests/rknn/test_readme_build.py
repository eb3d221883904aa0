"""The README's main job: write the demo model, `npucc build examples/build.yaml` (quantize with
the bundled photos, write the blob and the report), `npucc run` the blob on a bundled photo; the
result follows onnxruntime on the same photo preprocessed by hand."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from npucc.cli import main
from npucc.examples import main as write_demo

from .conftest import cosine

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_readme_build_and_run(tmp_path, capsys):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    assert write_demo([str(tmp_path / "build" / "demo.onnx")]) == 0
    assert main(["build", str(tmp_path / "examples" / "build.yaml")]) == 0
    for name in ("demo.npub", "demo.quant.yaml", "demo.report.html"):
        assert (tmp_path / "build" / name).is_file(), name
    photo = tmp_path / "examples" / "images" / "coffee.jpg"
    assert main(["run", str(tmp_path / "build" / "demo.npub"), "-i", str(photo), "--save",
                 str(tmp_path / "outs")]) == 0
    (got,) = [np.load(p) for p in (tmp_path / "outs").glob("*.npy")]
    img = Image.open(photo).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)
    x = (np.asarray(img, np.float32) - [123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375]
    sess = ort.InferenceSession(str(tmp_path / "build" / "demo.onnx"),
                                providers=["CPUExecutionProvider"])
    (want,) = sess.run(None, {"image": x.transpose(2, 0, 1)[None].astype(np.float32)})
    assert cosine(got, want) > 0.98
