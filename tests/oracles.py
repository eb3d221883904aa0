"""Optional oracles and data the suite can use when they are present: the one place that decides
whether a missing one skips or fails.

A fresh clone has none of the system packages (Debian's libonnx-testdata and darknet) and may have
no network for the wheels some tests unzip models from (rapidocr-onnxruntime, mediapipe): the
tests that need them skip, with the reason. `.ci/run` installs everything and sets
NPUCC_REQUIRE_ORACLES=1, under which the same absences fail instead.

    pytestmark = needs(LIB.exists(), "Debian package 'darknet' is not installed")   # a marker
    missing("could not download the mediapipe wheel: ...")     # at run time, in a fixture/test

Where the suite looks for system data (override to point elsewhere, or at nothing to hide it):
NPUCC_ONNX_NODE_TESTS (the ONNX node-test folder), NPUCC_DARKNET_LIB (Debian's libdarknet.so),
NPUCC_TEST_MODELS (where downloaded wheels are cached; default ~/.cache/npucc-test-models).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_ENV = "NPUCC_REQUIRE_ORACLES"
MARKER = "oracle"

ONNX_NODE_TESTS = os.environ.get("NPUCC_ONNX_NODE_TESTS")  # None: the default locations
DARKNET_LIB = Path(os.environ.get("NPUCC_DARKNET_LIB", "/usr/lib/darknet/libdarknet.so"))
MODEL_CACHE = Path(os.environ.get("NPUCC_TEST_MODELS",
                                  Path.home() / ".cache" / "npucc-test-models"))


def required() -> bool:
    """True when missing oracles must fail the run (NPUCC_REQUIRE_ORACLES=1)."""
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def missing(reason: str, *, module_level: bool = False):
    """Skip the current test (or module) because an optional oracle is absent; fail instead when
    NPUCC_REQUIRE_ORACLES is set."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: every oracle is required)", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


def needs(available: bool, reason: str) -> pytest.MarkDecorator:
    """Marker: the test needs an optional oracle; `reason` says what is missing and how to get
    it. Applied by tests/conftest.py through `missing`."""
    return getattr(pytest.mark, MARKER)(available=bool(available), reason=reason)
