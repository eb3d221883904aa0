"""The ONNX per-operator node tests (inputs and expected outputs written by the ONNX project) for
every test whose ops npucc declares supported: each must pass or be declared unsupported
(an UnsupportedError for an attribute value or dtype); none may give wrong numbers or crash."""

import importlib.util
from collections import Counter
from pathlib import Path

from tests import oracles

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "onnx_conformance.py"


def _conformance():
    spec = importlib.util.spec_from_file_location("onnx_conformance", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CONFORMANCE = _conformance()
DATA_DIR = CONFORMANCE.find_data_dir(oracles.ONNX_NODE_TESTS)


@oracles.needs(DATA_DIR is not None, "the ONNX node test data are missing: apt-get install "
               "libonnx-testdata (Debian/Ubuntu), or set NPUCC_ONNX_NODE_TESTS to "
               "onnx/backend/test/data/node of an onnx source checkout")
def test_supported_ops_pass_the_onnx_node_tests():
    results = CONFORMANCE.run_all(DATA_DIR, supported_only=True)
    counts = Counter(status for status, _, _ in results.values())
    failed = {name: detail for name, (status, detail, _) in results.items() if status == "failed"}
    assert not failed, f"{len(failed)} node tests fail: {failed}"
    assert counts["passed"] >= 450, counts  # 475 with the onnx 1.12 data of Debian 12
