"""Real trained TFLite models from the mediapipe 0.10.21 wheel (unzipped, never installed) against
LiteRT. The wheel is fetched once into ~/.cache/npucc-test-models with `pip download`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import npucc
from npucc.frontends.tflite import load
from npucc.numerics import run_graph
from tests import oracles

from .oracle import litert, needs_litert, rel_error

CACHE = oracles.MODEL_CACHE
MODELS = {
    "face_detection_short_range":
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "face_landmark": "mediapipe/modules/face_landmark/face_landmark.tflite",
    # per-channel PRelu fused into convs whose outputs the plan stores channels-last
    "iris_landmark": "mediapipe/modules/iris_landmark/iris_landmark.tflite",
    # MediaPipe's custom op Convolution2DTransposeBias (LiteRT runs it)
    "selfie_segmentation": "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "selfie_segmentation_landscape":
        "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
}


@pytest.fixture(scope="session")
def mediapipe_models() -> dict[str, Path]:
    wheels = sorted(CACHE.glob("mediapipe-0.10.21-*.whl"))
    if not wheels:
        CACHE.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                            "mediapipe==0.10.21", "-d", str(CACHE)], capture_output=True,
                           text=True, timeout=900)
        wheels = sorted(CACHE.glob("mediapipe-0.10.21-*.whl"))
        if not wheels:
            oracles.missing(f"the mediapipe==0.10.21 wheel (trained TFLite models) could not be "
                            f"downloaded into {CACHE}: {r.stderr[-300:]}")
    out = CACHE / "mediapipe-0.10.21-models"
    paths = {}
    with zipfile.ZipFile(wheels[0]) as z:
        for name, member in MODELS.items():
            p = out / f"{name}.tflite"
            if not p.exists():
                out.mkdir(parents=True, exist_ok=True)
                p.write_bytes(z.read(member))
            paths[name] = p
    return paths


@pytest.mark.slow
@needs_litert
@pytest.mark.parametrize("name", sorted(MODELS))
def test_mediapipe_model_matches_litert(mediapipe_models, name):
    path = mediapipe_models[name]
    g = load(path)
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(-1, 1, v.shape).astype(np.float32) for v in g.inputs]
    want, it = litert(path, inputs, resolver="AUTO")
    assert [v.name for v in g.outputs] == [d["name"] for d in it.get_output_details()]
    for got, w in zip(run_graph(g, inputs), want):
        assert rel_error(got, w) <= 1e-4


@pytest.mark.slow
@needs_litert
@pytest.mark.parametrize("name", sorted(MODELS))
def test_mediapipe_model_plan_matches_litert(mediapipe_models, name):
    """The whole build (default passes: fusions, channels-last layouts) run by the simulator."""
    path = mediapipe_models[name]
    model = npucc.compile(path)
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(-1, 1, v.shape).astype(np.float32) for v in model.graph.inputs]
    want, _ = litert(path, inputs, resolver="AUTO")
    for got, w in zip(model.run(inputs), want):
        assert rel_error(got, w) <= 1e-4
