"""Trained PaddleOCR models (exported by paddle2onnx, shipped in the rapidocr-onnxruntime wheel):
npucc's import run by the reference interpreter against onnxruntime on the same random input.

Metric: max |npucc - onnxruntime| / max |onnxruntime| <= 1e-4.
"""

import numpy as np
import onnxruntime as ort
import pytest

from npucc.frontends import load
from npucc.ir import run_graph
from tests.models import relative_error


@pytest.mark.slow
@pytest.mark.parametrize("file, shape", [
    ("ch_PP-OCRv4_det_infer.onnx", (1, 3, 160, 224)),  # DBNet: symbolic N, H, W
    ("ch_ppocr_mobile_v2.0_cls_infer.onnx", (1, 3, 48, 192)),  # dim_value -1 and '?' dims
    ("ch_PP-OCRv4_rec_infer.onnx", (1, 3, 48, 160)),  # SVTR neck: MatMul, LayerNorm-like math
])
def test_paddleocr_matches_onnxruntime(paddleocr_models, file, shape):
    path = paddleocr_models / file
    graph = load(path, input_shapes={"x": shape})
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ours = run_graph(graph, [x])
    theirs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None,
                                                                                    {"x": x})
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert relative_error(a, b) <= 1e-4


@pytest.mark.slow
def test_paddleocr_symbolic_dims_need_input_shapes(paddleocr_models):
    from npucc.errors import FrontendError

    with pytest.raises(FrontendError, match=r"input 'x' has unknown dim 0 .*input_shapes"):
        load(paddleocr_models / "ch_PP-OCRv4_det_infer.onnx")
