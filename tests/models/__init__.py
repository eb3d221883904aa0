"""Real CNN architectures in plain torch.nn (torchvision does not work here), shared by the tests
and the benchmarks. Weights are random but deterministic: `build(name, seed)` also randomizes
BatchNorm running statistics and affine parameters so BN is not an identity in eval mode.

    model, example = build("resnet18")       # eval-mode nn.Module and an example input tensor
    MODELS["yolo"].input_shape                # (1, 3, 128, 128)
    trained_like_bn(relu6_to_relu(model), batch)  # synthetic BN statistics shaped like a
                                              # trained net's (benchmarks/equalization.py)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn


def conv_bn(c_in, c_out, k=3, stride=1, groups=1, act: type[nn.Module] | None = nn.ReLU):
    layers = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(c_out)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# ---- ResNet-18 ----
class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, 3, stride)
        self.conv2 = conv_bn(c_out, c_out, 3, 1, act=None)
        self.down = conv_bn(c_in, c_out, 1, stride, act=None) \
            if stride != 1 or c_in != c_out else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.down(x))


class ResNet18(nn.Module):
    def __init__(self, num_classes=1000, width=64):
        super().__init__()
        w = width
        self.stem = nn.Sequential(conv_bn(3, w, 7, 2), nn.MaxPool2d(3, 2, 1))
        layers, c = [], w
        for i, c_out in enumerate((w, 2 * w, 4 * w, 8 * w)):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(c, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c = c_out
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


# ---- ResNet-50 (bottleneck blocks, stride on the 3x3 as in torchvision) ----
class Bottleneck(nn.Module):
    def __init__(self, c_in, width, stride, expansion=4):
        super().__init__()
        c_out = width * expansion
        self.block = nn.Sequential(conv_bn(c_in, width, 1), conv_bn(width, width, 3, stride),
                                   conv_bn(width, c_out, 1, act=None))
        self.down = conv_bn(c_in, c_out, 1, stride, act=None) \
            if stride != 1 or c_in != c_out else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.block(x) + self.down(x))


class ResNet50(nn.Module):
    def __init__(self, num_classes=1000, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1))
        layers, c = [], 64
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            for j in range(n):
                layers.append(Bottleneck(c, width, 2 if i > 0 and j == 0 else 1))
                c = width * 4
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


# ---- MobileNet v1 (width 1.0): depthwise-separable blocks ----
class MobileNetV1(nn.Module):
    # (output channels, stride) of the 13 depthwise-separable blocks
    SETTINGS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
                (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))

    def __init__(self, num_classes=1000):
        super().__init__()
        layers, c = [conv_bn(3, 32, 3, 2)], 32
        for c_out, s in self.SETTINGS:
            layers += [conv_bn(c, c, 3, s, groups=c), conv_bn(c, c_out, 1)]
            c = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


# ---- MobileNetV2 ----
class InvertedResidual(nn.Module):
    def __init__(self, c_in, c_out, stride, expand):
        super().__init__()
        hidden = c_in * expand
        layers = [conv_bn(c_in, hidden, 1, act=nn.ReLU6)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                   conv_bn(hidden, c_out, 1, act=None)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    # (expand, channels, repeats, stride)
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes=1000):
        super().__init__()
        layers, c = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)], 32
        for t, ch, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(c, ch, s if i == 0 else 1, t))
                c = ch
        layers.append(conv_bn(c, 1280, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = self.features(x).mean((2, 3))
        return self.classifier(x)


# ---- YOLO-style detector: CSP-ish backbone, SPP, FPN with upsample + concat, 2 heads ----
class Yolo(nn.Module):
    def __init__(self, num_classes=4, anchors=3):
        super().__init__()
        act = nn.SiLU
        self.b1 = nn.Sequential(conv_bn(3, 16, 3, 2, act=act), conv_bn(16, 32, 3, 2, act=act))
        self.b2 = nn.Sequential(conv_bn(32, 64, 3, 2, act=act), conv_bn(64, 64, 1, act=act))
        self.b3 = nn.Sequential(conv_bn(64, 128, 3, 2, act=act), conv_bn(128, 64, 1, act=act))
        self.spp_pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in (5, 9, 13))
        self.spp_out = conv_bn(64 * 4, 128, 1, act=lambda: nn.LeakyReLU(0.1))
        self.lateral = conv_bn(128, 64, 1, act=act)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = conv_bn(128, 64, 3, act=act)
        self.out_ch = anchors * (5 + num_classes)
        self.head_small = nn.Conv2d(128, self.out_ch, 1)
        self.head_large = nn.Conv2d(64, self.out_ch, 1)
        self.anchors = anchors

    def _decode(self, p):
        n, _, h, w = p.shape
        p = p.view(n, self.anchors, -1, h, w).permute(0, 1, 3, 4, 2)
        xy, wh, rest = p.split((2, 2, p.shape[-1] - 4), dim=-1)
        return torch.cat((torch.sigmoid(xy), torch.exp(wh.clamp(max=4.0)), torch.sigmoid(rest)),
                         -1).reshape(n, -1, p.shape[-1])

    def forward(self, x):
        c3 = self.b2(self.b1(x))
        c4 = self.b3(c3)
        spp = self.spp_out(torch.cat([c4] + [pool(c4) for pool in self.spp_pools], 1))
        up = self.up(self.lateral(spp))
        fused = self.fuse(torch.cat((up, c3), 1))
        return torch.cat((self._decode(self.head_small(spp)),
                          self._decode(self.head_large(fused))), 1)


# ---- ConvTranspose + Resize (segmentation-style decoder) ----
class DeconvResize(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = conv_bn(3, 16, 3, 2)
        self.enc2 = conv_bn(16, 32, 3, 2)
        self.deconv = nn.ConvTranspose2d(32, 16, 4, 2, 1)
        self.deconv_odd = nn.ConvTranspose2d(16, 8, 3, 2, 1, output_padding=1)
        self.head = nn.Conv2d(8 + 16, 2, 3, padding=1)
        self.prelu = nn.PReLU(16)

    def forward(self, x):
        e1 = self.enc1(x)
        d = self.prelu(self.deconv(self.enc2(e1)))
        d = torch.relu(self.deconv_odd(d + e1))
        skip = nn.functional.interpolate(e1, size=d.shape[2:], mode="bilinear",
                                         align_corners=False)
        y = self.head(torch.cat((d, skip), 1))
        y = nn.functional.interpolate(y, scale_factor=0.5, mode="bilinear", align_corners=True)
        return torch.softmax(y, dim=1)


# ---- 1-D convolutions (an audio front end / keyword spotter) ----
class Audio1d(nn.Module):
    """Strided, depthwise, dilated and grouped Conv1d with BatchNorm, a ConvTranspose1d and a
    pooled linear head: the 1-D paths of every layer (quantized ones included)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(1, 16, 10, stride=5), nn.BatchNorm1d(16), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv1d(16, 16, 5, padding=2, groups=16), nn.BatchNorm1d(16),
                                nn.ReLU6())
        self.dilated = nn.Conv1d(16, 32, 3, stride=2, dilation=2)
        self.grouped = nn.Conv1d(32, 32, 3, groups=4, padding=1)
        self.up = nn.ConvTranspose1d(32, 8, 4, stride=2)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        h = self.dw(self.stem(x))
        h = torch.relu(self.grouped(torch.relu(self.dilated(h))))
        return self.head(torch.relu(self.up(h)).mean(2))


class ModelSpec(NamedTuple):
    factory: Callable[[], nn.Module]
    input_shape: tuple[int, ...]


MODELS: dict[str, ModelSpec] = {
    "resnet18": ModelSpec(ResNet18, (1, 3, 224, 224)),
    "mobilenet_v2": ModelSpec(MobileNetV2, (1, 3, 224, 224)),
    "resnet50": ModelSpec(ResNet50, (1, 3, 224, 224)),
    "mobilenet_v1": ModelSpec(MobileNetV1, (1, 3, 224, 224)),
    "yolo": ModelSpec(Yolo, (1, 3, 128, 128)),
    "deconv_resize": ModelSpec(DeconvResize, (1, 3, 64, 64)),
    "audio1d": ModelSpec(Audio1d, (1, 1, 1600)),
}


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Deterministic random parameters and BatchNorm statistics; eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(0.25 * torch.rand(m.weight.shape, generator=g))
    return model.eval()


def trained_like_bn(model: nn.Module, batch: torch.Tensor, seed: int = 0, decades: float = 2.0,
                    dead: float = 0.03) -> nn.Module:
    """Give every BatchNorm per-channel statistics shaped like a trained net's (synthetic: no
    trained weights can be downloaded here): gamma log-uniform over `decades` below 1 (a fraction
    `dead` of the channels at 1e-3, the near-dead channels of trained nets), beta ~ N(0, gamma / 2),
    and running mean/var measured on `batch` (one train-mode forward with momentum 1), so BN
    normalizes what each channel really sees. BN folding then spreads the per-channel weight
    ranges of the following depthwise convs over orders of magnitude (a small channel feeding a
    depthwise conv gets a large folded weight), the cause of Nagel et al.'s per-tensor collapse."""
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in norms:
            n = m.num_features
            gamma = 10 ** (-decades * torch.rand(n, generator=g))
            gamma[torch.rand(n, generator=g) < dead] = 1e-3
            m.weight.copy_(gamma)
            m.bias.copy_(gamma * 0.5 * torch.randn(n, generator=g))
            m.momentum = 1.0
        model.train()
        model(batch)
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def relu6_to_relu(model: nn.Module) -> nn.Module:
    """Replace every nn.ReLU6 by nn.ReLU in place (the DFQ paper's step before equalization)."""
    for m in list(model.modules()):
        for name, child in list(m.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(m, name, nn.ReLU())
    return model


def build(name: str, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """An eval-mode model with random weights and a random example input (same seed)."""
    spec = MODELS[name]
    torch.manual_seed(seed)
    model = randomize(spec.factory(), seed)
    example = torch.randn(spec.input_shape, generator=torch.Generator().manual_seed(seed + 1))
    return model, example


def relative_error(ours, ref) -> float:
    """The comparison metric of the whole-model tests: max |ours - ref| / max |ref|."""
    import numpy as np

    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f"shape {ours.shape} vs reference {ref.shape}"
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-30))


def export_onnx(model: nn.Module, example: torch.Tensor, opset: int = 17) -> bytes:
    """torch.onnx.export (the TorchScript-based exporter: the dynamo one needs onnxscript) to
    bytes, with input 'input' and output 'output'."""
    import io
    import warnings

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), f, dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["output"])
    return f.getvalue()


def npucc_graph(name: str, target: str = "rk1808", seed: int = 0):
    """A zoo model exported to ONNX (`export_onnx`), imported by npucc and run through the default
    pipeline with `target`'s pool fusion rules: the graph the NPU cost model sees."""
    import os
    import tempfile

    import npucc
    from npucc.passes import Pipeline, default_pipeline, run_passes
    from npucc.passes.fuse_conv_pool import FuseConvPool

    model, example = build(name, seed)
    with tempfile.NamedTemporaryFile(suffix=".onnx", delete=False) as f:
        f.write(export_onnx(model, example))
    try:
        graph = npucc.load(f.name)
    finally:
        os.unlink(f.name)
    run_passes(graph, Pipeline([FuseConvPool(target=target) if p.name == "fuse-conv-pool"
                                else p for p in default_pipeline()]))
    return graph
