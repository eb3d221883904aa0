"""Port-by-import: RKNN-Toolkit example scripts (tests/rknn/scripts, written against
`from rknn.api import RKNN`) run with only that line changed to `from npucc.rknn import RKNN`."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPTS = Path(__file__).resolve().parent / "scripts"
RKNN_IMPORT = "from rknn.api import RKNN"
LITE_IMPORT = "from rknnlite.api import RKNNLite"


def run_script(name: str, workdir: Path, monkeypatch) -> dict:
    """Exec scripts/<name> in `workdir` with its RKNN (or RKNNLite) import replaced; returns its
    globals."""
    text = (SCRIPTS / name).read_text()
    imports = [(old, new) for old, new in ((RKNN_IMPORT, "from npucc.rknn import RKNN"),
                                           (LITE_IMPORT, "from npucc.rknn import RKNNLite"))
               if old in text]
    assert len(imports) == 1 and text.count(imports[0][0]) == 1, \
        f"{name} imports RKNN (or RKNNLite) once, as RKNN's examples do"
    text = text.replace(*imports[0])
    monkeypatch.chdir(workdir)
    namespace = {"__name__": "__main__"}
    exec(compile(text, str(SCRIPTS / name), "exec"), namespace)
    return namespace


def write_images(folder: Path, size: tuple[int, int], n: int, seed: int = 0) -> list[Path]:
    """`n` smooth RGB test pictures (gradients and blobs, deterministic) as .jpg files, and a
    dataset.txt listing them; returns the image paths."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    paths = []
    for k in range(n):
        img = np.zeros((h, w, 3), np.float32)
        for c in range(3):
            a, b, p = rng.uniform(-1, 1, 3)
            img[..., c] = 128 + 90 * np.sin(a * xx / 7 + b * yy / 9 + p * 6)
        cy, cx, r = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w, rng.uniform(4, h / 3)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
        path = folder / f"img_{k}.jpg"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=95)
        paths.append(path)
    (folder / "dataset.txt").write_text("".join(f"{p.name}\n" for p in paths))
    return paths


def cosine(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def rel_err(got, want) -> float:
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-12))


@pytest.fixture
def workdir(tmp_path):
    return tmp_path
