"""Suite-wide test configuration: hypothesis profiles, and the IR verifier after every pass.

Optional oracles: tests marked `oracles.needs(available, reason)` skip (or fail under
NPUCC_REQUIRE_ORACLES=1) when the oracle is absent; see tests/oracles.py.

Profiles: "ci" (chosen when the CI environment variable is set) is derandomized so CI runs are
reproducible; "dev" explores new examples each run. HYPOTHESIS_PROFILE=name overrides the choice.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from tests import oracles

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _verify_every_pass(npucc_verify_each):
    """Every PassManager run in this project's tests verifies the graph after each pass."""
    yield


def _subnormals_flush_to_zero() -> bool:
    import numpy as np

    return bool(np.float32(1e-38) * np.float32(1e-3) == 0)


@pytest.fixture(autouse=True, scope="module")
def _no_flush_to_zero_leak(request):
    """Fail in the module that turns on flush-to-zero for the process (e.g. by loading a library
    built with -ffast-math): it silently changes every later float result in the same worker."""
    yield
    assert not _subnormals_flush_to_zero(), (
        f"{request.module.__name__} left the process flushing subnormal floats to zero; run the "
        "library that does this in a child process")


@pytest.fixture(autouse=True, scope="module")
def _no_test_op_leak(request):
    """Fail in the module that leaves an op it declared in the global op registry: later modules
    (docs/OPS.md's check, drawn-graph coverage) would see it, so results depend on test order.
    Declare test ops in a fixture that deletes them (`del OPS[name]`)."""
    from npucc.ir.registry import OPS

    before = set(OPS)
    yield
    leaked = sorted(name for name in set(OPS) - before
                    if not OPS[name].kernel.__module__.startswith("npucc."))
    assert not leaked, f"{request.module.__name__} left test op(s) {leaked} in npucc's op registry"


def pytest_collection_modifyitems(config, items):
    """Tests whose oracle is absent: skipped (reported at the test), or failed when required."""
    for item in items:
        for mark in item.iter_markers(oracles.MARKER):
            if not mark.kwargs["available"] and not oracles.required():
                item.add_marker(pytest.mark.skip(reason=mark.kwargs["reason"]))


def pytest_runtest_setup(item):
    for mark in item.iter_markers(oracles.MARKER):
        if not mark.kwargs["available"]:
            oracles.missing(mark.kwargs["reason"])
