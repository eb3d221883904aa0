"""The layering rules of docs/ARCHITECTURE.md, checked on every import statement of the package.

ruff's banned-api rule catches `from onnx import x`; this test also catches `import onnx.helper`,
imports inside functions, and imports between npucc's own layers.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "npucc"
FRAMEWORKS = {"onnx", "onnxruntime", "torch", "tflite", "tensorflow", "tensorboard", "google",
              "cv2", "caffe"}

# layer -> npucc layers it may import (besides itself and npucc.errors). `registry` and `compare`
# are single modules below the layers: the generic name registry and the numeric comparison the
# testing kit and the validate-each instrument share.
ALLOWED = {
    "registry": set(),
    "compare": {"ir", "numerics"},
    "ir": {"registry"},
    "numerics": {"ir", "registry"},
    "passes": {"ir", "numerics", "targets", "registry", "compare"},
    "backends": {"ir", "numerics", "passes", "targets", "registry", "compare"},
    "testing": {"ir", "numerics", "passes", "registry", "compare"},
    "frontends": {"ir", "passes", "registry"},
    "exporters": {"ir", "numerics", "passes", "registry"},
    "quantization": {"ir", "numerics", "passes", "backends", "targets", "registry", "compare"},
    "targets": {"ir", "registry"},
}
# layers that may import a framework's format library (besides frontends)
FORMAT_LIBRARIES = {"frontends": FRAMEWORKS, "exporters": {"onnx"}}


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
    return rel[0] if len(rel) > 1 else path.stem if path.stem in ALLOWED else None


SOURCES = sorted(p for p in SRC.rglob("*.py") if _layer(p) in ALLOWED and "_pb2" not in p.name)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_layer_imports(path):
    layer = _layer(path)
    bad = []
    for line, mod in _imports(path):
        top = mod.split(".")[0]
        if top in FRAMEWORKS and top not in FORMAT_LIBRARIES.get(layer, ()):
            bad.append(f"line {line}: {mod} (framework import outside npucc.frontends and "
                       "the exporters' own format)")
        if top == "npucc" and mod.count(".") >= 1:
            other = mod.split(".")[1]
            if other in ALLOWED and other != layer and other not in ALLOWED[layer]:
                bad.append(f"line {line}: {mod} (npucc.{layer} may not import npucc.{other})")
    assert not bad, f"{path.relative_to(SRC)}:\n  " + "\n  ".join(bad)


def test_passes_never_load_the_testing_kit():
    """Importing npucc.passes and running every instrument (validate-each compares numerics)
    loads neither npucc.testing nor hypothesis: passes sit below the kit."""
    code = """
import sys
from npucc.ir.text import parse
from npucc.passes import PassManager, PrintIR, Timing, ValidateEach, VerifyEach
g = parse('graph g(%x: f32[2,3]) -> (%y) { %r = Relu(%x) %y = Identity(%r) return %y }')
sink = open("/dev/null", "w")
PassManager("eliminate-noops,cse,dce",
            [VerifyEach(), ValidateEach(), Timing(), PrintIR(after=["dce"], file=sink)]).run(g)
assert [n.op for n in g.nodes] == ["Relu"], g
loaded = sorted(m for m in sys.modules if m.startswith(("npucc.testing", "hypothesis")))
assert not loaded, loaded
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr


MAX_MODULE_LINES = 600  # issue 14: one concept per module; a module past this is split by concept


def test_no_module_grows_past_its_budget():
    """Hand-written modules of the package stay under MAX_MODULE_LINES lines (generated *_pb2
    modules excepted)."""
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines())
             for p in SRC.rglob("*.py") if "_pb2" not in p.name}
    over = {str(p.relative_to(SRC)): n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    assert len(sizes) > 100 and not over, f"split these by concept: {over}"
