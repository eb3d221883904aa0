"""The load entry points' contract: every failure is an npucc error naming the model file."""

import pytest

from npucc.errors import FrontendError, InternalFrontendError, IRError, UnsupportedError
from npucc.frontends.guard import guarded


def _loader(exc):
    @guarded
    def load(source, **options):
        raise exc
    return load


@pytest.mark.parametrize("exc, cls", [
    (IRError("zero point 300 outside the i8 range"), FrontendError),
    (FrontendError("tensor 'w' holds 12 bytes"), FrontendError),
    (UnsupportedError("op FOO is not supported"), UnsupportedError),
])
def test_npucc_errors_get_the_file_name(exc, cls, tmp_path):
    path = tmp_path / "m.tflite"
    with pytest.raises(cls) as info:
        _loader(exc)(path)
    assert str(info.value) == f"{path}: {exc}"


def test_an_error_that_names_the_file_is_left_as_it_is(tmp_path):
    exc = FrontendError(f"{tmp_path / 'm.onnx'}: node 'conv': bad pads")
    with pytest.raises(FrontendError) as info:
        _loader(exc)(tmp_path / "m.onnx")
    assert info.value is exc


def test_an_unexpected_exception_becomes_an_internal_error_naming_the_file(tmp_path):
    exc = KeyError(17)
    with pytest.raises(InternalFrontendError, match=r"m.pb: internal error .*KeyError") as info:
        _loader(exc)(tmp_path / "m.pb")
    assert info.value.__cause__ is exc and isinstance(info.value, FrontendError)


def test_interrupts_are_not_caught(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _loader(KeyboardInterrupt())(tmp_path / "m.pb")
