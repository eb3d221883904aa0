"""docs/OPS.md is generated from the registry and must be kept in step with it."""

from __future__ import annotations

from pathlib import Path

from npucc.ir.ops import doc
from npucc.ir.registry import OPS

OPS_MD = Path(__file__).resolve().parents[3] / "docs" / "OPS.md"


def test_every_op_has_a_row_with_its_inputs_attributes_and_semantics():
    text = doc.render()
    for name, op in OPS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        assert ", ".join(op.inputs) in row
        for attr in op.attrs:
            assert f"`{attr}: " in row
    assert "`kernel_shape: ints = required`" in text
    assert "`strides: ints = (1, 1)`" in text


def test_committed_ops_md_is_up_to_date():
    assert OPS_MD.read_text() == doc.render(), \
        "docs/OPS.md is stale: run `python -m npucc.ir.ops.doc`"


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    out = tmp_path / "OPS.md"
    assert doc.main(["--output", str(out), "--check"]) == 1
    assert doc.main(["--output", str(out)]) == 0
    assert doc.main(["--output", str(out), "--check"]) == 0
