"""Patterns of torchvision's architectures that npucc's PyTorch frontend once failed on, each as a
small plain-torch module (torchvision is not a test dependency), loaded as a module, a .pt2 file
and/or a traced TorchScript file and compared with torch on the same input.

Found by running torchvision's classification and segmentation models through npucc (regnet,
convnext, vit, swin, maxvit) and its detectors (whose post-processing must be refused clearly).
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends import load
from npucc.frontends.pytorch_files import _expression_ok
from npucc.ir import run_graph
from tests.models import relative_error

TOL = 1e-5


def _outputs(out) -> list[np.ndarray]:
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]


def _source(model, inputs, kind, tmp_path):
    if kind == "module":
        return model
    path = tmp_path / f"model.{kind}"
    with torch.no_grad():  # as users trace: nn.MultiheadAttention then takes its fast path
        if kind == "pt2":
            torch.export.save(torch.export.export(model, inputs), path)
        else:
            torch.jit.trace(model, inputs).save(str(path))
    return path


def _assert_matches_torch(model, inputs, tmp_path, kinds=("module", "pt2", "pt")):
    model.eval()
    with torch.no_grad():
        want = _outputs(model(*inputs))
    for kind in kinds:
        graph = load(_source(model, inputs, kind, tmp_path), example_inputs=inputs)
        got = run_graph(graph, [x.numpy() for x in inputs])
        assert len(got) == len(want), kind
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype, kind
            if w.dtype.kind == "f":
                assert relative_error(g, w) <= TOL, kind
            else:
                np.testing.assert_array_equal(g, w, err_msg=kind)


# ---- module paths and symbolic sizes in the files ----
class _DashedName(torch.nn.Module):
    """regnet names its blocks "block1-0": module paths are not always identifiers."""

    def __init__(self):
        super().__init__()
        self.add_module("block1-0", torch.nn.Conv2d(3, 4, 3))

    def forward(self, x):
        return getattr(self, "block1-0")(x)


@pytest.mark.slow
def test_module_path_with_a_dash(tmp_path):
    _assert_matches_torch(_DashedName(), (torch.randn(1, 3, 8, 8),), tmp_path, ("pt2", "pt"))


class _Patches(torch.nn.Module):
    """vit / maxvit: traced size arithmetic (h // p), which torch's TorchScript converter turns
    into tensors read back with .item(): the program then has unbacked size symbols, which torch
    serializes as sympy srepr ("Symbol('u0', integer=True)")."""

    def forward(self, x):
        n, c, h, w = x.shape
        p = 2
        x = x.reshape(n, c, h // p, p, w // p, p)
        return x.permute(0, 1, 3, 5, 2, 4).reshape(n, c * p * p, h // p, w // p)


@pytest.mark.slow
def test_traced_size_arithmetic(tmp_path):
    _assert_matches_torch(_Patches(), (torch.randn(1, 3, 8, 8),), tmp_path, ("pt",))


@pytest.mark.parametrize("expr", [
    "Symbol('u0', integer=True)",
    "Equality(Mul(Integer(3136), Symbol('u0', integer=True), Symbol('s1', integer=True, "
    "positive=True)), Integer(200704))",
    "Add(Float('1.5', precision=53), Rational(1, 2))", "FloorDiv(s0, 2) + 1", "-oo",
])
def test_srepr_size_expressions_are_accepted(expr):
    assert _expression_ok(expr)


@pytest.mark.parametrize("expr", [
    "Symbol('os', integer=True)", "Symbol('u0', integer=__import__('os'))",
    "Symbol(\"u0\")", "Symbol('u0').__class__", "Symbol('u0'.join('ab'))", "lambda: 1",
])
def test_size_expressions_that_are_code_are_refused(expr):
    """sympify evaluates these: a quoted string is only ever a size symbol's name or a number."""
    assert not _expression_ok(expr)


class _FloatScale(torch.nn.Module):
    """maxvit scales q by a python float; in a trace it becomes a 0-d float64 constant."""

    def __init__(self):
        super().__init__()
        self.scale = 8 ** -0.5

    def forward(self, x):
        return torch.softmax((x * self.scale) @ x.transpose(-1, -2), -1)


@pytest.mark.slow
def test_python_float_scale_in_a_trace(tmp_path):
    _assert_matches_torch(_FloatScale(), (torch.randn(2, 5, 8),), tmp_path, ("pt",))


# ---- ops ----
class _LayerNorms(torch.nn.Module):
    """convnext, vit, swin, maxvit: aten.native_layer_norm."""

    def __init__(self):
        super().__init__()
        self.ln = torch.nn.LayerNorm(8)
        self.ln2 = torch.nn.LayerNorm([4, 8], elementwise_affine=False)
        self.ln3 = torch.nn.LayerNorm(8, bias=False)
        for p in self.parameters():
            torch.nn.init.normal_(p)

    def forward(self, x):
        return self.ln3(self.ln2(self.ln(x)))


@pytest.mark.slow
def test_layer_norm(tmp_path):
    _assert_matches_torch(_LayerNorms(), (torch.randn(2, 4, 8) * 3 + 1,), tmp_path)


class _Rounding(torch.nn.Module):
    def forward(self, x, i):
        return (torch.div(x, 0.7, rounding_mode="floor"), torch.div(x, -0.3, rounding_mode="trunc"),
                torch.div(i, 3, rounding_mode="floor"), torch.div(i, -3, rounding_mode="trunc"),
                i // torch.tensor([2, -3, 5]), x % 0.6, torch.fmod(x, -0.6), i % -4,
                torch.fmod(i, 4), x != x.round())


def test_division_rounding_and_remainder(tmp_path):
    torch.manual_seed(0)
    inputs = (torch.randn(4, 3) * 5, torch.randint(-20, 20, (4, 3)))
    _assert_matches_torch(_Rounding(), inputs, tmp_path, ("module",))


class _MixedDtypes(torch.nn.Module):
    """torch promotes mixed operands (the TorchScript converter's index arithmetic for bilinear
    upsampling subtracts int64 from float32); int / int is a true division."""

    def forward(self, x, i):
        return (i - x, i * 0.5, i / 4, torch.rsub(i, 0.5), 1 - i, i > 0.5,
                torch.where(i > 0, i, 0.5), x * torch.tensor(2.0, dtype=torch.float64),
                torch.pow(i.abs(), 0.5), i + True)


def test_mixed_dtype_arithmetic(tmp_path):
    torch.manual_seed(0)
    inputs = (torch.randn(3, 4), torch.randint(-5, 5, (3, 4)))
    _assert_matches_torch(_MixedDtypes(), inputs, tmp_path, ("module",))


class _Attention(torch.nn.Module):
    """vit: nn.MultiheadAttention. Traced under no_grad it records the fused
    aten._native_multi_head_attention; exported, scaled dot-product attention decomposes with
    a check for fully masked rows (aten.any, aten.full_like)."""

    def __init__(self):
        super().__init__()
        self.mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0], self.mha(x, x, x)[1]


@pytest.mark.slow
def test_multi_head_attention(tmp_path):
    torch.manual_seed(0)
    _assert_matches_torch(_Attention(), (torch.randn(2, 7, 16),), tmp_path, ("pt2", "pt"))


class _ChannelsLastPool(torch.nn.Module):
    """convnext pools a permuted tensor: the decomposition restrides the mean with
    aten.as_strided."""

    def forward(self, x):
        y = F.adaptive_avg_pool2d(x.permute(0, 3, 1, 2), 1).permute(0, 2, 3, 1)
        return y, torch.as_strided(x.permute(0, 2, 1, 3), (3, 2, 2), (1, 12, 3), 1)


def test_as_strided(tmp_path):
    _assert_matches_torch(_ChannelsLastPool(), (torch.randn(1, 5, 4, 3),), tmp_path,
                          ("module",))


class _RelativePositionBias(torch.nn.Module):
    """swin, maxvit: a bias table indexed by a buffer of positions (aten.index.Tensor,
    aten.index_select), and other advanced indexing."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.table = torch.nn.Parameter(torch.randn(13, 3))
        self.register_buffer("index", torch.randint(-13, 13, (4, 4)))
        self.register_buffer("j", torch.tensor([0, 4, 2]))

    def forward(self, x):
        bias = self.table[self.index.flatten()].view(4, 4, 3).permute(2, 0, 1)
        return (x + bias, x[:, self.j % 3, :, self.j % 4], x[:, :, self.index[:2, :3] % 4 - 4],
                x.index_select(-1, self.j % 4))


@pytest.mark.slow
def test_tensor_indexing(tmp_path):
    _assert_matches_torch(_RelativePositionBias(), (torch.randn(2, 3, 4, 4),), tmp_path)


class _ShiftedWindowMask(torch.nn.Module):
    """swin builds its attention mask by slice assignment into zeros (aten.copy,
    aten.slice_scatter) and masks with `!= 0`."""

    def forward(self, x):
        mask = x.new_zeros(6, 5)
        mask[1:3, 2:] = 1.0
        mask[::2, 0] = x[0, :3, 0]
        mask[4] = 7.0
        y = x.clone()
        y[:, 1:4:2] = y[:, 1:4:2] * 2
        return x + mask.masked_fill(mask != 0, -100.0), y


def test_slice_assignment(tmp_path):
    _assert_matches_torch(_ShiftedWindowMask(), (torch.randn(2, 6, 5),), tmp_path,
                          ("module", "pt2"))


# ---- routes and errors ----
class _PadRoll(torch.nn.Module):
    """swin's shifted window: pad to a multiple of the window, then roll. torch's TorchScript
    converter cannot follow the traced pad sizes (a data-dependent guard in roll), so the file
    takes the ONNX route."""

    def forward(self, x):
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, (4 - w % 4) % 4, 0, (4 - h % 4) % 4))
        return torch.roll(x, shifts=(-2, -2), dims=(1, 2))[:, :h, :w, :] * 2


@pytest.mark.slow
def test_converter_failure_takes_the_onnx_route(tmp_path):
    _assert_matches_torch(_PadRoll(), (torch.randn(1, 6, 7, 3),), tmp_path, ("pt",))


class _Cdist(torch.nn.Module):
    def forward(self, x):
        return torch.cdist(x, x * 2) * 2


@pytest.mark.slow
def test_unsupported_op_takes_the_onnx_route(tmp_path):
    """npucc lowers no aten._cdist_forward; torch's ONNX exporter writes it as ops the ONNX
    frontend reads."""
    _assert_matches_torch(_Cdist(), (torch.randn(4, 5),), tmp_path, ("pt",))


class _ThresholdedScores(torch.nn.Module):
    """A detector's post-processing in miniature: the scores over a threshold."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        s = self.conv(x).sigmoid().flatten()
        return s[s > 0.5]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pt", "pt2"])
def test_data_dependent_post_processing_is_refused(tmp_path, kind):
    x = torch.randn(1, 3, 8, 8)
    path = _source(_ThresholdedScores().eval(), (x,), kind, tmp_path)
    with pytest.raises(UnsupportedError, match=rf"model\.{kind}: node 'index' \(torch op "
                                               r"aten\.index\.Tensor\): indexing with a boolean "
                                               r"mask \(its result's size depends on the data\)"):
        load(path, example_inputs=(x,))


_LIBRARY_OP_MODEL = """
import sys

import torch

import npucc

torch.library.define("npucc_test::boxes", "(Tensor x) -> Tensor")
torch.library.impl("npucc_test::boxes", "CompositeExplicitAutograd")(lambda x: x * 2)
torch.library.register_fake("npucc_test::boxes")(lambda x: torch.empty_like(x))


class M(torch.nn.Module):
    def forward(self, x):
        return torch.ops.npucc_test.boxes(x.relu())


x = torch.randn(1, 3, 4, 4)
torch.jit.trace(M(), (x,)).save("{dir}/lib.pt")
torch.export.save(torch.export.export(M(), (x,)), "{dir}/lib.pt2")
for name in ("lib.pt", "lib.pt2"):  # where the operator is registered
    try:
        npucc.load("{dir}/" + name, input_shapes=[[1, 3, 4, 4]])
    except npucc.errors.UnsupportedError as e:
        print(e)
"""


@pytest.mark.slow
def test_library_operator_is_named(tmp_path):
    """A library's operator (torchvision::nms, say) is not an ATen op npucc lowers, and is
    registered only where the library is imported: either way the error names it."""
    code = textwrap.dedent(_LIBRARY_OP_MODEL).format(dir=tmp_path)
    registered = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.splitlines()
    assert len(registered) == 2
    for line, name in zip(registered, ("lib.pt", "lib.pt2")):
        assert name + ": node 'boxes' (torch op npucc_test.boxes.default" in line
        assert "not supported: npucc lowers ATen ops only; save the model without this " in line
    with pytest.raises(FrontendError, match=r"lib\.pt: the TorchScript code calls "
                                            r"npucc_test::boxes, an operator this torch does "
                                            r"not have .*save the model without it"):
        load(tmp_path / "lib.pt", input_shapes=[[1, 3, 4, 4]])
    with pytest.raises(FrontendError, match=r"lib\.pt2: node target 'torch\.ops\.npucc_test\."
                                            r"boxes\.default' is not a registered torch "
                                            r"operator .*; it is a library's operator"):
        load(tmp_path / "lib.pt2")
