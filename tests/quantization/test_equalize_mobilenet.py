"""Cross-layer equalization on the net it exists for: a MobileNetV2 (ReLU, as Nagel et al. run
it) whose BN statistics look trained (tests.models.trained_like_bn), so BN folding spreads the
depthwise weight ranges over orders of magnitude. Per-tensor u8 then collapses, and equalization
(every conv pair is exact across ReLU) repairs it, measured against torch's float output.
benchmarks/equalization.py has the full figures."""

import numpy as np
import pytest

from .conftest import photos

torch = pytest.importorskip("torch", reason="torch builds and runs the reference MobileNetV2")


def _inputs(n: int, seed: int) -> list[np.ndarray]:
    return [((p.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None].copy()
            for p in photos(n, size=(64, 64), seed=seed)]


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    import npucc
    from npucc.passes import default_pipeline, run_passes
    from tests.models import build, export_onnx, relu6_to_relu, trained_like_bn

    model, _ = build("mobilenet_v2")
    relu6_to_relu(model)
    trained_like_bn(model, torch.from_numpy(np.concatenate(_inputs(8, seed=5))))
    path = tmp_path_factory.mktemp("mobilenet") / "mobilenet_v2_relu.onnx"
    path.write_bytes(export_onnx(model, torch.zeros(1, 3, 64, 64)))
    graph = npucc.load(path)
    run_passes(graph, default_pipeline())
    return model, graph


def _cosine(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.slow
def test_equalization_repairs_per_tensor_u8_on_mobilenet_v2(mobilenet):
    from npucc.numerics import run_graph
    from npucc.passes.equalize import equalize_graph, pairs
    from npucc.quantization import quantize_model

    model, graph = mobilenet
    assert len(pairs(graph)) == 36  # every conv -> depthwise -> conv pair crosses a ReLU
    calib, held_out = _inputs(8, seed=0), _inputs(4, seed=1)
    with torch.no_grad():
        want = [model(torch.from_numpy(x)).numpy() for x in held_out]
    equalized = equalize_graph(graph)  # the same float function
    for x, w in zip(held_out, want):
        got = run_graph(equalized, [x])[0]
        assert np.abs(got - w).max() <= 1e-4 * np.abs(w).max()
    cos = {}
    for eq in (False, True):
        q = quantize_model(graph, calib, dtype="u8", equalize=eq, progress=False)
        cos[eq] = np.mean([_cosine(run_graph(q.graph, [x])[0], w) for x, w in zip(held_out, want)])
    assert cos[False] < 0.85 and cos[True] > cos[False] + 0.1, cos
