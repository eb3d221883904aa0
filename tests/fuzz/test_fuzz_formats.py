"""Mutation fuzzing of npucc's own file formats (tests/fuzz/targets.py's FORMAT_TARGETS: the
.npub blob whole and section by section, the IR text form, the `npucc build` config, the hybrid
quantization YAML, dataset.txt and the .npy / image files it names, `npucc run` inputs, saved
calibration statistics, user target files): every variant either loads or raises an npucc error
naming the mutated file; nothing else escapes (tests/fuzz/mutate.py's verdict)."""

import pytest

from .targets import FORMAT_TARGETS, fuzz_target


@pytest.mark.parametrize("target", FORMAT_TARGETS, ids=lambda t: f"{t.format}: {t.name}")
def test_mutated_files_load_or_fail_naming_the_file(target, tmp_path):
    counts, escapes = fuzz_target(target, 120, seed=3, d=tmp_path)
    assert not escapes, "\n".join(escapes[:5])
    assert counts["npucc-error"] > 0
