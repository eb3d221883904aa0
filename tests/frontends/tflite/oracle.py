"""Helpers shared by the TensorFlow / TFLite frontend tests: committed fixtures and LiteRT."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from tests import oracles

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tf"
HAVE_LITERT = importlib.util.find_spec("ai_edge_litert") is not None
needs_litert = oracles.needs(HAVE_LITERT, "ai-edge-litert (LiteRT, the TFLite oracle) is not "
                             "installed: pip install -e '.[test]'")
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
needs_tf = oracles.needs(HAVE_TF, "tensorflow-cpu is not installed (it builds the model at test "
                         "time): pip install -e '.[tf]'")


def fixture(name: str):
    """(model path, inputs, expected outputs) of a committed fixture."""
    data = np.load(FIXTURES / f"{name}.npz")
    n_in = len([k for k in data if k.startswith("input_") and k[6:].isdigit()])
    n_out = len([k for k in data if k.startswith("expected_") and k[9:].isdigit()])
    ext = ".pb" if name.endswith("_pb") else ".tflite"
    return (FIXTURES / f"{name}{ext}", [data[f"input_{i}"] for i in range(n_in)],
            [data[f"expected_{i}"] for i in range(n_out)], data)


def rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want| (the tolerance the issue states as 'relative')."""
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got.astype(np.float64) - want).max() / max(np.abs(want).max(), 1e-12))


def litert(path, inputs, resolver: str = "BUILTIN_REF", all_tensors: bool = False,
           num_threads: int = 1):
    """Run a .tflite with LiteRT (one thread unless told: some kernels, such as
    TFLite_Detection_PostProcess's regular NMS, order ties by thread); returns (outputs,
    interpreter)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path),
                     experimental_op_resolver_type=getattr(OpResolverType, resolver),
                     experimental_preserve_all_tensors=all_tensors, num_threads=num_threads)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()], it


def random_int8_inputs(path, seed: int):
    """Random int8 inputs over the full range, shaped as the model's inputs."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(seed)
    it = Interpreter(model_path=str(path))
    return [rng.integers(-128, 128, d["shape"]).astype(d["dtype"])
            for d in it.get_input_details()]


# trained TFLite models in the mediapipe 0.10.21 wheel (unzipped, never installed)
MEDIAPIPE_MODELS = {
    "face_detection_short_range":
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "face_landmark": "mediapipe/modules/face_landmark/face_landmark.tflite",
    # per-channel PRelu fused into convs whose outputs the plan stores channels-last
    "iris_landmark": "mediapipe/modules/iris_landmark/iris_landmark.tflite",
    # MediaPipe's custom op Convolution2DTransposeBias (LiteRT runs it)
    "selfie_segmentation": "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "selfie_segmentation_landscape":
        "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
    # sparse (DENSIFY) weights; its first op pads the NHWC input itself
    "face_detection_full_range_sparse":
        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
}


def mediapipe_model_paths(cache: Path = oracles.MODEL_CACHE):
    """({name: .tflite path}, None), the models unzipped from the mediapipe==0.10.21 wheel that
    `pip download` fetches once into `cache`; or (None, why not)."""
    wheels = sorted(cache.glob("mediapipe-0.10.21-*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                            "mediapipe==0.10.21", "-d", str(cache)], capture_output=True,
                           text=True, timeout=900)
        wheels = sorted(cache.glob("mediapipe-0.10.21-*.whl"))
        if not wheels:
            return None, (f"the mediapipe==0.10.21 wheel (trained TFLite models) could not be "
                          f"downloaded into {cache}: {r.stderr[-300:]}")
    out = cache / "mediapipe-0.10.21-models"
    paths = {}
    with zipfile.ZipFile(wheels[0]) as z:
        for name, member in MEDIAPIPE_MODELS.items():
            p = out / f"{name}.tflite"
            if not p.exists():
                out.mkdir(parents=True, exist_ok=True)
                p.write_bytes(z.read(member))
            paths[name] = p
    return paths, None
