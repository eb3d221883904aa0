"""A pass class whose options would be silently ignored is rejected when it is registered, with a
message saying what to write instead."""

from typing import ClassVar

import attrs
import pytest

import npucc.passes.base as base
from npucc.errors import PassError
from npucc.passes import Pass, get_pass, register_pass


@pytest.fixture(autouse=True)
def scratch_registry(monkeypatch):
    base.all_passes()
    monkeypatch.setattr(base, "_PASSES", base._PASSES.copy())


def test_a_well_declared_pass_with_options_and_constants_registers():
    @register_pass
    @attrs.frozen
    class Scale(Pass):
        """Guarantee: nothing (a test pass)."""

        name = "test-scale"
        limit: ClassVar[int] = 3  # a constant, not an option
        factor: float = 2.0

        def run(self, graph):
            return False

    assert get_pass("test-scale") is Scale and Scale().factor == 2.0


@pytest.mark.parametrize("decorate, message", [
    (lambda c: c, r"is not an attrs class, so it cannot have options .* put @attrs.frozen on it, "
                  r"below @register_pass"),
    # the decorators in the wrong order: register_pass sees the plain class
    (None, r"is not an attrs class"),
])
def test_forgetting_attrs_is_an_error(decorate, message):
    class Forgot(Pass):
        """Guarantee: nothing."""

        name = "test-forgot"
        factor: float = 2.0

    with pytest.raises(PassError, match=message):
        if decorate is None:
            attrs.frozen(register_pass(Forgot))
        else:
            register_pass(decorate(Forgot))
    assert "test-forgot" not in base._PASSES


def test_an_unannotated_option_is_an_error_naming_the_fix():
    @attrs.frozen
    class Plain(Pass):
        """Guarantee: nothing."""

        name = "test-plain"
        factor = 2.0  # meant as an option; attrs makes only annotated attributes fields

    with pytest.raises(PassError, match=r"class attribute factor = 2.0 is not an option .* "
                                        r"write `factor: float = 2.0` for an option"):
        register_pass(Plain)


def test_a_setting_that_became_an_option_is_an_error():
    @attrs.frozen
    class Named(Pass):
        """Guarantee: nothing."""

        name: str = "test-named"  # annotated: attrs makes it a field, i.e. an option

    with pytest.raises(PassError, match=r"'name' became an option .* write `name = \.\.\.`"):
        register_pass(Named)


def test_a_subclass_adding_options_must_be_decorated_itself():
    @attrs.frozen
    class Parent(Pass):
        """Guarantee: nothing."""

        name = "test-parent"
        factor: float = 1.0

        def run(self, graph):
            return False

    class Child(Parent):
        """Guarantee: nothing."""

        name = "test-child"
        bias: float = 0.0  # not a field: Child itself is not an attrs class

    with pytest.raises(PassError, match=r"'bias' is not an option \(the class inherits attrs "
                                        r"fields but is not decorated itself: add @attrs.frozen"):
        register_pass(Child)

    class Renamed(Parent):  # no new options: inheriting the parent's is fine
        """Guarantee: nothing."""

        name = "test-renamed"

    assert register_pass(Renamed) is Renamed


def test_not_a_pass_at_all():
    with pytest.raises(PassError, match="not a subclass of npucc.passes.Pass"):
        register_pass(attrs.frozen(type("NotAPass", (), {"name": "x", "__doc__": "d"})))
