"""PyTorch frontend: modules, ExportedPrograms, .pt2 and TorchScript files lowered from ATen,
against torch itself on the same random input.

Metric: max |npucc - torch| / max |torch| <= 1e-4.
"""

import pytest
import torch

from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends import load
from npucc.ir import run_graph
from tests.models import MODELS, build, relative_error

TOL = 1e-4


def _torch(model, x):
    with torch.no_grad():
        return model(x).numpy()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_module_matches_torch(name):
    model, x = build(name)
    graph = load(model, example_inputs=(x,))
    (ours,) = run_graph(graph, [x.numpy()])
    assert relative_error(ours, _torch(model, x)) <= TOL
    assert [v.name for v in graph.inputs] == ["x"] and [v.name for v in graph.outputs] == ["output"]
    assert all(n.provenance for n in graph.nodes)


@pytest.mark.slow
def test_exported_program_object_and_pt2_file(tmp_path):
    model, x = build("deconv_resize")
    ep = torch.export.export(model, (x,))
    path = tmp_path / "m.pt2"
    torch.export.save(ep, path)
    want = _torch(model, x)
    for source in (ep, path):
        (ours,) = run_graph(load(source), [x.numpy()])
        assert relative_error(ours, want) <= TOL


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_bidirectional_recurrent_pt2(tmp_path, kind):
    """A two-layer bidirectional LSTM / GRU and a linear head as a .pt2 (torch runs the reverse
    direction on the time-flipped sequence: aten.flip)."""
    torch.manual_seed(0)

    class Recurrent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(8, 12, num_layers=2, batch_first=True,
                                               bidirectional=True)
            self.fc = torch.nn.Linear(24, 5)

        def forward(self, x):
            return self.fc(self.rnn(x)[0])

    model, x = Recurrent().eval(), torch.randn(2, 7, 8)
    path = tmp_path / "rnn.pt2"
    torch.export.save(torch.export.export(model, (x,)), path)
    (ours,) = run_graph(load(path), [x.numpy()])
    assert relative_error(ours, _torch(model, x)) <= TOL


def test_flip_over_several_dims():
    class Flip(torch.nn.Module):
        def forward(self, x):
            return torch.flip(x, [0, -1]) + torch.flip(x, [1])

    x = torch.randn(3, 4, 5)
    (ours,) = run_graph(load(Flip(), example_inputs=(x,)), [x.numpy()])
    assert relative_error(ours, _torch(Flip(), x)) <= TOL


def test_token_classifier_with_embedding_and_transformer_encoder(tmp_path):
    """A text model as a .pt2: token embedding (aten.embedding), two GELU transformer encoder
    layers (fused multi-head attention), mean pooling, a linear head; int64 token ids in."""
    torch.manual_seed(0)

    class Tokens(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(100, 32)
            layer = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True,
                                                     activation="gelu")
            self.enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = torch.nn.Linear(32, 3)

        def forward(self, ids):
            return self.head(self.enc(self.emb(ids)).mean(1))

    model, ids = Tokens().eval(), torch.randint(0, 100, (2, 12))
    path = tmp_path / "tokens.pt2"
    torch.export.save(torch.export.export(model, (ids,)), path)
    (ours,) = run_graph(load(path), [ids.numpy()])
    assert relative_error(ours, _torch(model, ids)) <= TOL


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolo", "deconv_resize"])
def test_torchscript_file(tmp_path, name):
    """Both lower from ATen directly; the upsampling to a size, which torch's TorchScript
    converter writes as upsample_bilinear2d.default, stays one Resize."""
    model, x = build(name)
    path = tmp_path / f"{name}.pt"
    torch.jit.trace(model, (x,)).save(str(path))
    graph = load(path, input_shapes=[list(x.shape)])
    assert [v.name for v in graph.inputs] == ["x"]
    (ours,) = run_graph(graph, [x.numpy()])
    assert relative_error(ours, _torch(model, x)) <= TOL
    assert "Gather" not in {n.op for n in graph.nodes}


@pytest.mark.parametrize("suffix", [".jit", ".torchscript"])
def test_torchscript_suffixes_silero_and_ultralytics_use(tmp_path, suffix):
    """Silero VAD ships silero_vad.jit, Ultralytics exports model.torchscript: npucc.load tells
    the framework from those suffixes too; against torch."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    path = tmp_path / f"m{suffix}"
    torch.jit.trace(model, (x,)).save(str(path))
    (ours,) = run_graph(load(path, input_shapes=[[1, 3, 8, 8]]), [x.numpy()])
    assert relative_error(ours, _torch(model, x)) <= TOL


class _Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = torch.nn.functional.pad(self.conv(x), (1, 2, 0, -1), value=0.5)
        return torch.cat([y[:, :2, 1:].sigmoid(), y[:, 2:, :-1] * 2.0], 1).flatten(2)


def test_input_shapes_instead_of_example_inputs():
    torch.manual_seed(0)
    model = _Small().eval()
    graph = load(model, input_shapes=[[1, 3, 6, 5]])
    x = torch.randn(1, 3, 6, 5)
    (ours,) = run_graph(graph, [x.numpy()])
    assert relative_error(ours, _torch(model, x)) <= TOL


class _Cummax(torch.nn.Module):
    def forward(self, x):
        return torch.cummax(x, 1)[0]


def test_unsupported_torch_op_is_named():
    with pytest.raises(UnsupportedError) as e:
        load(_Cummax(), example_inputs=(torch.ones(2, 3),))
    msg = str(e.value)
    assert "torch op aten.cummax.default" in msg
    assert "supported torch ops: npucc.frontends.pytorch.supported_ops()" in msg


def test_module_without_inputs_or_shapes_is_an_error():
    with pytest.raises(FrontendError, match="example_inputs"):
        load(_Small())


def test_corrupt_pt2_file(tmp_path):
    path = tmp_path / "bad.pt2"
    path.write_bytes(b"not a zip")
    with pytest.raises(FrontendError, match=r"bad.pt2: not a readable .pt2"):
        load(path)


class _Ops(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


F = torch.nn.functional
_GN = torch.nn.GroupNorm(4, 8).eval()
with torch.no_grad():
    _GN.weight.uniform_(0.5, 2.0)
    _GN.bias.uniform_(-1.0, 1.0)
_THETA = torch.tensor([[[0.9, 0.1, 0.05], [-0.1, 0.8, 0.0]]])
OPS = {
    "group_norm": (lambda x: _GN(x), (2, 8, 5, 3)),
    "repeat": (lambda x: x.repeat(2, 1, 3) + 0, (3, 4)),
    "topk": (lambda x: torch.cat([v.float() for v in torch.topk(x, 3, dim=1)], 1), (2, 7)),
    "topk smallest": (lambda x: torch.topk(x, 2, largest=False)[0], (3, 5)),
    "argmax, argmin": (lambda x: torch.stack([x.argmax(), x.argmin(1).sum(),
                                              x.argmax(0, keepdim=True).sum()]).float(), (4, 6)),
    "cumsum, cumprod": (lambda x: torch.cat([x.cumsum(1), (x * 0.5).cumprod(0),
                                             (x > 0).cumsum(1).float()], 1), (3, 5)),
    "mean, sum of all": (lambda x: torch.stack([x.mean(), x.sum()]), (3, 4)),
    "var, std": (lambda x: torch.stack([x.var(), x.std(1).sum(),
                                        x.var((0, 1), correction=0, keepdim=True).sum()]),
                 (3, 5, 2)),
    "grid_sample": (lambda x: torch.cat([F.grid_sample(
        x, F.affine_grid(_THETA.repeat(2, 1, 1), list(x.shape), align_corners=a), mode=m,
        padding_mode=p, align_corners=a) for m, p, a in
        (("bilinear", "zeros", False), ("nearest", "border", True),
         ("bicubic", "reflection", False))], 1), (2, 3, 6, 7)),
    "log1p, expm1, softplus, elu": (lambda x: torch.cat([
        torch.log1p(x.abs() - 0.9), torch.expm1(x), F.softplus(x * 30), F.elu(x)]), (4, 9)),
    "trunc, frac, atan2, hypot": (lambda x: torch.cat([
        torch.trunc(x * 3), torch.frac(x * 3), torch.atan2(x, x.flip(0)),
        torch.atan2(torch.tensor([0.0, 1.0, -1.0, 0.0]), torch.tensor([-1.0, 0.0, 0.0, 0.0])),
        torch.hypot(x, x + 1).flatten()]), (6,)),
    "vector norms, normalize": (lambda x: torch.cat([
        torch.linalg.vector_norm(x, o, dim=d).flatten() for o, d in
        ((2, None), (1, 1), (float("inf"), (0, 2)), (-float("inf"), 2), (0, 1), (3, -1))] +
        [F.normalize(x, dim=1).flatten()]), (2, 3, 4)),
    "sort": (lambda x: torch.cat([torch.sort(x, 1)[0], torch.sort(x, 0, descending=True)[1]
                                  .float(), torch.sort(x.round(), stable=True)[1].float()]),
             (4, 5)),
    "gather, scatter": (lambda x: torch.cat([
        torch.gather(x, 1, torch.tensor([[0, 2], [1, 1], [4, 0]])),
        torch.zeros(3, 5).scatter(1, torch.tensor([[0, 2], [1, 3], [4, 0]]), x[:, :2])[:, :2],
        x.scatter(0, torch.tensor([[2, 0]]), -7.0)[:, :2]], 1), (3, 5)),
    "index_put": (lambda x: torch.cat([
        x.index_put((torch.tensor([0, -1]),), torch.ones(5)),
        x.index_put((torch.tensor([[1], [2]]), torch.tensor([0, 3, 4])), torch.tensor(-2.0)),
        x.index_put((torch.tensor([1, 1]), torch.tensor([2, 2])), torch.tensor([1.0, 3.0]),
                    accumulate=True)]), (3, 5)),
    "clamp by tensors, log2, exp2, masks": (lambda x: torch.cat([
        torch.clamp(x, x.flip(1) * 0.5, x.abs() + 0.1), torch.log2(x.abs() + 1),
        torch.exp2(x), ((x > 0) ^ (x > 0.5)).float(), ((x > 0) & (x < 0.5)).float(),
        (~(x > 0)).float(), torch.isnan(x.log()).float(), torch.isinf(1 / (x * 0)).float()]),
        (3, 4)),
    "trigonometric, hyperbolic": (lambda x: torch.cat([
        f(x.clamp(-0.9, 0.9)) for f in (torch.tan, torch.asin, torch.acos, torch.atan,
                                         torch.sinh, torch.cosh, torch.asinh, torch.atanh)] +
        [torch.acosh(x.abs() + 1)]), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_aten_ops_match_torch(name):
    """ATen ops a model reaches through torch's decompositions (GroupNorm, repeat, topk,
    argmax, cumsum, var / std, grid_sample, softplus's log1p, elu's expm1), as a module."""
    fn, shape = OPS[name]
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    model = _Ops(fn).eval()
    (ours,) = run_graph(load(model, example_inputs=(x,)), [x.numpy()])
    assert relative_error(ours, _torch(model, x)) <= TOL
