"""Real trained TFLite models from the mediapipe 0.10.21 wheel (unzipped, never installed) against
LiteRT. The wheel is fetched once into ~/.cache/npucc-test-models with `pip download`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import npucc
from npucc.frontends.tflite import load
from npucc.numerics import run_graph
from tests import oracles

from .oracle import MEDIAPIPE_MODELS, litert, mediapipe_model_paths, needs_litert, rel_error


@pytest.fixture(scope="session")
def mediapipe_models() -> dict[str, Path]:
    paths, error = mediapipe_model_paths()
    if paths is None:
        oracles.missing(error)
    return paths


@pytest.mark.slow
@needs_litert
@pytest.mark.parametrize("name", sorted(MEDIAPIPE_MODELS))
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
@pytest.mark.parametrize("name", sorted(MEDIAPIPE_MODELS))
def test_mediapipe_model_plan_matches_litert(mediapipe_models, name):
    """The whole build (default passes: fusions, channels-last layouts) run by the simulator."""
    path = mediapipe_models[name]
    model = npucc.compile(path)
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(-1, 1, v.shape).astype(np.float32) for v in model.graph.inputs]
    want, _ = litert(path, inputs, resolver="AUTO")
    for got, w in zip(model.run(inputs), want):
        assert rel_error(got, w) <= 1e-4


@needs_litert
@pytest.mark.parametrize("name", ["face_detection_full_range_sparse", "face_detection_short_range"])
def test_rknn_facade_folds_mean_std_into_nhwc_inputs(mediapipe_models, name):
    """RKNN-style scripts give mean/std per channel of the (NHWC) TFLite input, also when the
    model's first op pads the input itself (the graph then does not show its layout): the built
    model takes raw pixels and agrees with LiteRT on the normalised image."""
    from npucc.rknn import RKNN

    path = mediapipe_models[name]
    rknn = RKNN(raise_errors=True)
    rknn.config(mean_values=[[127.5, 127.5, 127.5]], std_values=[[127.5, 127.5, 127.5]],
                target_platform="rk3588")
    rknn.load_tflite(str(path))
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    shape = load(path).inputs[0].shape
    pixels = np.random.default_rng(2).integers(0, 256, shape).astype(np.float32)
    want, _ = litert(path, [(pixels - 127.5) / 127.5], resolver="AUTO")
    for got, w in zip(rknn.inference(inputs=[pixels]), want):  # fp16, as RKNN's float build
        assert rel_error(got, w) <= 2e-2
