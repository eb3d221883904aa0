"""Suite-wide test configuration: hypothesis profiles, and the IR verifier after every pass.

Profiles: "ci" (chosen when the CI environment variable is set) is derandomized so CI runs are
reproducible; "dev" explores new examples each run. HYPOTHESIS_PROFILE=name overrides the choice.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _verify_every_pass(npucc_verify_each):
    """Every PassManager run in this project's tests verifies the graph after each pass."""
    yield
