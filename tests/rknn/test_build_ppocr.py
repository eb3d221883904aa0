"""`npucc build` end to end on a trained model: PaddleOCR's PP-OCRv4 text detector (from the
rapidocr wheel), calibrated on rendered text pages saved as .jpg, int8 per-channel for the
RK3588. On a held-out page the blob's probability map follows onnxruntime's: cosine > 0.95 and
the text mask (DBNet's 0.3 threshold) agrees on > 98% of the pixels (measured: 0.966, 99.0%)."""

import json

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw, ImageFont

import npucc
from npucc.cli import main
from tests.frontends.onnx.conftest import paddleocr_models  # noqa: F401  (the fixture)

from .conftest import cosine

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")
pytestmark = pytest.mark.slow

WORDS = ["npucc", "compiler", "NPU", "quantize", "RK3588", "hello", "world", "2026", "build",
         "blob", "layer", "PP-OCR"]
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def text_page(rng) -> Image.Image:
    bg = tuple(int(v) for v in rng.integers(180, 256, 3))
    fg = tuple(int(v) for v in rng.integers(0, 80, 3))
    im = Image.new("RGB", (224, 160), bg)
    draw = ImageDraw.Draw(im)
    for i in range(3):
        font = ImageFont.load_default(size=int(rng.integers(16, 28)))
        draw.text((int(rng.integers(4, 40)), 10 + 50 * i + int(rng.integers(0, 10))),
                  " ".join(rng.choice(WORDS, 2)), fill=fg, font=font)
    return im


def test_ppocr_det_build_from_yaml(paddleocr_models, tmp_path, capsys):  # noqa: F811
    model = paddleocr_models / "ch_PP-OCRv4_det_infer.onnx"
    rng = np.random.default_rng(0)
    (tmp_path / "pages").mkdir()
    for k in range(8):
        text_page(rng).save(tmp_path / "pages" / f"page_{k}.jpg", quality=95)
    held_out = tmp_path / "held_out.png"  # lossless: the same pixels reach both runtimes
    text_page(rng).save(held_out)
    cfg = {"model_parameters": {"onnx_model": str(model), "input_shapes": {"x": [1, 3, 160, 224]},
                                "working_dir": "out", "output_model_file_prefix": "det"},
           "input_parameters": {"mean_value": MEAN, "std_value": STD},
           "calibration_parameters": {"cal_data_dir": "pages", "quantized_dtype": "w8a8",
                                      "per_channel": True},
           "compiler_parameters": {"target": "rk3588"}}
    (tmp_path / "det.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["build", str(tmp_path / "det.yaml"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["calibration_samples"] == 8 and summary["dtype"] == "i8"
    assert summary["blob_bytes"] == (tmp_path / "out" / "det.npub").stat().st_size
    assert (tmp_path / "out" / "det.report.html").is_file()

    pixels = np.asarray(Image.open(held_out).convert("RGB"), np.float32)
    got = npucc.load_blob(tmp_path / "out" / "det.npub").run([pixels[None]])[0]
    x = ((pixels - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)
    want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    assert got.shape == want.shape
    agree = np.mean((got > 0.3) == (want > 0.3))
    print(f'cosine {cosine(got, want):.4f}, mask agreement {agree:.4f}')
    assert cosine(got, want) > 0.95
    assert agree > 0.98
    assert 0.01 < np.mean(want > 0.3) < 0.5  # the page has text for the detector to find
