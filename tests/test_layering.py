"""The layering rules of docs/ARCHITECTURE.md, checked on every import statement of the package.

ruff's banned-api rule catches `from onnx import x`; this test also catches `import onnx.helper`,
imports inside functions, and imports between npucc's own layers.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "npucc"
FRAMEWORKS = {"onnx", "onnxruntime", "torch", "tflite", "tensorflow", "tensorboard", "google",
              "cv2", "caffe"}

# layer -> npucc layers it may import (besides itself and npucc.errors)
ALLOWED = {
    "ir": set(),
    "targets": {"ir"},
    "passes": {"ir", "testing", "targets"},  # testing only lazily, for the validate-each instrument
    "backends": {"ir", "passes", "targets"},
    "testing": {"ir", "passes"},
    "frontends": {"ir", "passes"},
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    pkg = path.relative_to(SRC.parent).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                mod = ".".join(base + ((node.module,) if node.module else ()))
            else:
                mod = node.module or ""
            yield node.lineno, mod


def _layer(path: Path):
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else None


SOURCES = sorted(p for p in SRC.rglob("*.py") if _layer(p) in ALLOWED and "_pb2" not in p.name)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_layer_imports(path):
    layer = _layer(path)
    bad = []
    for line, mod in _imports(path):
        top = mod.split(".")[0]
        if layer != "frontends" and top in FRAMEWORKS:
            bad.append(f"line {line}: {mod} (framework import outside npucc.frontends)")
        if top == "npucc" and mod.count(".") >= 1:
            other = mod.split(".")[1]
            if other in ALLOWED and other != layer and other not in ALLOWED[layer]:
                bad.append(f"line {line}: {mod} (npucc.{layer} may not import npucc.{other})")
    assert not bad, f"{path.relative_to(SRC)}:\n  " + "\n  ".join(bad)
