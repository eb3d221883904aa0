"""Mutation fuzzing of the PyTorch frontend: every mutated .pt2 or TorchScript .pt file either
loads or raises an npucc error naming the file (tests/fuzz/mutate.py). Files are mutated as
whole zip archives (most variants then fail the CRC check) and member by member inside an
intact archive (so the mutation reaches the JSON program, payload configs, pickles, TorchScript
code and debug tables). A TorchScript file that crashes torch must end only npucc's child
process (see npucc.frontends.pytorch_script)."""

import re
import zipfile
from pathlib import Path

import pytest
import torch

import npucc
from tests.fuzz.mutate import fuzz_file

SHAPE = [1, 3, 8, 8]


class _Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    torch.manual_seed(0)
    model, x = _Small().eval(), torch.rand(*SHAPE)
    d = tmp_path_factory.mktemp("torch")
    torch.export.save(torch.export.export(model, (x,)), d / "small.pt2")
    torch.jit.trace(model, (x,)).save(str(d / "small.pt"))
    return {"pt2": d / "small.pt2", "pt": d / "small.pt"}


def _load(path: Path):
    return npucc.load(path) if path.suffix == ".pt2" else npucc.load(path, input_shapes=[SHAPE])


def _fuzz_member(original: Path, member: str, tmp: Path, n: int, seed: int):
    """Mutate one member's bytes (`member`: a regex of its name below the archive's root);
    each variant is written as a complete, intact archive."""
    z = zipfile.ZipFile(original)
    name = next(m for m in z.namelist() if re.fullmatch(member, m.split("/", 1)[1]))
    source = tmp / "member" / original.name  # named like the archive, so errors name it
    source.parent.mkdir()
    source.write_bytes(z.read(name))

    def write(target: Path, blob: bytes) -> None:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as out:
            for info in z.infolist():
                out.writestr(info.filename,
                             blob if info.filename == name else z.read(info))

    return fuzz_file(_load, source, tmp / "out", n, seed, write=write)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pt2", "pt"])
def test_mutated_archive(files, tmp_path, kind):
    counts = fuzz_file(_load, files[kind], tmp_path, 150, seed=1)
    assert counts["npucc-error"] and counts["loaded"], counts


PT2_MEMBERS = [("models/model.json", 60), ("data/weights/model_weights_config.json", 50),
               ("data/constants/model_constants_config.json", 20), ("archive_version", 10)]
# TorchScript mangles a class's code path when the process compiled that class before
CONV_CODE = r"code/__torch__/torch/nn/modules/conv(/___torch_mangle_\d+)?\.py"
PT_MEMBERS = [("data.pkl", 30), ("constants.pkl", 20), (CONV_CODE, 20),
              (CONV_CODE + r"\.debug_pkl", 40)]


@pytest.mark.slow
@pytest.mark.parametrize("kind, member, n", [("pt2", *m) for m in PT2_MEMBERS]
                         + [("pt", *m) for m in PT_MEMBERS])
def test_mutated_member(files, tmp_path, kind, member, n):
    counts = _fuzz_member(files[kind], member, tmp_path, n, seed=2)
    assert sum(counts.values()) == n and counts["npucc-error"], counts
