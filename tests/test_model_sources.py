"""The public model definitions under tests/models are verbatim upstream files, each listed in
tests/models/SOURCES.md with its git blob id; and the code and tests read nothing from outside the
repository (a fresh clone has no shared folder beside it)."""

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "models"


def git_blob_id(data: bytes) -> str:
    """What `git hash-object` prints for a file with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_every_model_file_is_listed_with_its_blob_id():
    rows = re.findall(r"^\| `([^`]+)` \|.*\| ([0-9a-f]{40}) \| [^|]+ \|$",
                      (MODELS / "SOURCES.md").read_text(), re.M)
    listed = dict(rows)
    files = sorted(str(p.relative_to(MODELS)) for d in ("caffe", "darknet")
                   for p in (MODELS / d).rglob("*") if p.is_file())
    assert files and sorted(listed) == files
    for rel in files:
        assert git_blob_id((MODELS / rel).read_bytes()) == listed[rel], rel


def test_nothing_reads_outside_the_repository():
    outside = re.compile(r"""\.\./shared|["']shared["']\s*/""")
    files = [p for top in ("src", "tests") for p in (ROOT / top).rglob("*.py")]
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in files
            for i, line in enumerate(p.read_text().splitlines(), 1) if outside.search(line)]
    assert not hits, f"files under src/ or tests/ read the team's shared folder: {hits}"
