"""A small CNN exported to ONNX by torch (conv+BN+ReLU, depthwise convs that the plan stores
channels-last, a residual Add, a Flatten view and a Gemm), and calibration images made from
scikit-image's photos."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def small_onnx(tmp_path_factory) -> str:
    torch = pytest.importorskip("torch", reason="torch exports the test model")
    from torch import nn

    from tests.models import conv_bn, export_onnx, randomize

    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = conv_bn(3, 16, 3, 2)
            self.dw = conv_bn(16, 16, 3, 1, groups=16, act=nn.ReLU6)
            self.pw = conv_bn(16, 16, 1, act=None)
            self.head = nn.Linear(16 * 8 * 8, 10)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            y = self.stem(x)
            y = self.pool(y + self.pw(self.dw(y)))
            return self.head(torch.flatten(y, 1))

    model = randomize(Small(), seed=3)
    path = tmp_path_factory.mktemp("model") / "small.onnx"
    path.write_bytes(export_onnx(model, torch.randn(1, 3, 32, 32)))
    return str(path)


def photos(n: int, size=(48, 40), seed: int = 0) -> list[np.ndarray]:
    """n RGB uint8 crops (H x W = size) of scikit-image's photos, some flipped."""
    data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photos")
    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = sources[i % len(sources)]
        y = rng.integers(0, img.shape[0] - size[0])
        x = rng.integers(0, img.shape[1] - size[1])
        crop = img[y:y + size[0], x:x + size[1]]
        out.append(np.ascontiguousarray(crop[:, ::-1] if i % 2 else crop))
    return out
