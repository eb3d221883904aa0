"""pytest plugin (auto-loaded through the `pytest11` entry point when npucc is installed).

Provides the `npucc_verify_each` fixture: within the test that requests it, every PassManager run
also runs the `VerifyEach` instrument (the IR verifier after each pass, and the check that a pass
reporting no change left the graph text identical) — like TVM's well-formedness fixture.

Turn it on for more than one test:
- a whole suite: `npucc_verify_each = true` in the pytest ini options, or an autouse fixture in a
  conftest.py that requests `npucc_verify_each`;
- one test or module: `@pytest.mark.npucc_verify_each` (or `pytestmark = ...`).
"""

from __future__ import annotations

import pytest

INI_OPTION = "npucc_verify_each"
MARKER = "npucc_verify_each"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI_OPTION, type="bool", default=False,
                  help="npucc: run the IR verifier after every pass of every PassManager run")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: run the IR verifier after every pass of every "
                                       "PassManager run in this test")


@pytest.fixture
def npucc_verify_each():
    """Every PassManager run in the requesting test verifies the graph after each pass."""
    from npucc.passes import VerifyEach, default_instruments  # lazy: keep pytest startup light

    with default_instruments(VerifyEach()):
        yield


@pytest.fixture(autouse=True)
def _npucc_verify_each_when_asked(request: pytest.FixtureRequest):
    """Activates `npucc_verify_each` for tests under the ini option or the marker."""
    if request.config.getini(INI_OPTION) or request.node.get_closest_marker(MARKER) is not None:
        request.getfixturevalue("npucc_verify_each")
    yield
