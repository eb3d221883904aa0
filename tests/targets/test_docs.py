"""docs/targets/*.md are generated from the target files and the constraint docstrings; they must
be regenerated whenever either changes."""

from pathlib import Path

from npucc.targets import get_target
from npucc.targets.docs import main, pages

DOCS = Path(__file__).resolve().parents[2] / "docs" / "targets"


def test_generated_docs_are_current():
    stale = [name for name, text in pages().items()
             if not (DOCS / name).exists() or (DOCS / name).read_text() != text]
    assert not stale, f"docs/targets/{stale} are stale: run `python -m npucc.targets.docs`"
    assert sorted(p.name for p in DOCS.glob("*.md")) == sorted(pages())  # no leftover page


def test_check_mode_detects_a_stale_page(tmp_path, capsys):
    assert main(["--output-dir", str(tmp_path)]) == 0
    assert main(["--output-dir", str(tmp_path), "--check"]) == 0
    (tmp_path / "rk3588.md").write_text("edited by hand\n")
    assert main(["--output-dir", str(tmp_path), "--check"]) == 1
    assert "rk3588.md" in capsys.readouterr().err


def test_page_shows_each_rule_reason_and_each_op():
    text = pages()["rk1808.md"]
    t = get_target("rk1808")
    assert "| `kernel_stride_limit` | Conv | Kernel height and width are between 1 and " \
           "11*stride - 1 (the stride on the same axis). |" in text
    assert "| DetectionOutput | no: CPU | `tensor_types_supported` |" in text
    assert "| Conv | yes | `tensor_types_supported`, `kernel_stride_limit`, " \
           "`dilation_not_mixed`, `fused_pool_fits` |" in text
    assert f"| {t.generation} | 792 MHz | 1 | int8: 1920, int16: 192, fp16: 64 |" in text
