"""Pipeline text: parsing, options and their types, printing, ordering rules, insertion."""

from __future__ import annotations

import enum
from typing import Literal

import attrs
import pytest

from npucc.errors import PassError
from npucc.ir.types import DType
from npucc.passes import Pass, PassResult, Pipeline, get_pass, parse_pipeline, register_pass
from npucc.passes import pipeline as pipeline_mod


class Mode(enum.Enum):
    fast = "fast"
    exact = "exact"


@register_pass
@attrs.frozen
class OptionsPass(Pass):
    """Test pass with one option of every supported type."""

    name = "test-options"
    count: int = 3
    ratio: float = 0.5
    enabled: bool = False
    label: str = "x"
    axes: tuple[int, ...] = (0, 1)
    mode: Mode = Mode.fast
    dtype: DType = DType.f32
    limit: int | None = None
    kind: Literal["a", "b"] = "a"

    def run(self, graph):
        return PassResult(False)


@register_pass
@attrs.frozen
class NeedsDce(Pass):
    """Test pass that requires dce earlier."""

    name = "test-needs-dce"
    requires = ("dce",)

    def run(self, graph):
        return False


@register_pass
@attrs.frozen
class AfterCse(Pass):
    """Test pass that must come after cse when cse is present."""

    name = "test-after-cse"
    after = ("cse",)

    def run(self, graph):
        return False


def test_text_round_trips_and_converts_option_types():
    text = "dce,fold-constants{max-elements=1000000},cse"
    p = parse_pipeline(text)
    assert p.names == ["dce", "fold-constants", "cse"]
    assert p.passes[1].max_elements == 1000000
    assert str(p) == text
    assert parse_pipeline(str(p)) == p
    assert parse_pipeline(" dce , fold-constants{ max-elements = 7 } ").passes[1].max_elements == 7


def test_every_option_type():
    p = parse_pipeline('test-options{count=0x10,ratio=2.5e-1,enabled=true,label="a,b{c}",'
                       'axes=[2, 3,4],mode=exact,dtype=i8,limit=5,kind=b}')
    o = p.passes[0]
    assert o == OptionsPass(count=16, ratio=0.25, enabled=True, label="a,b{c}", axes=(2, 3, 4),
                            mode=Mode.exact, dtype=DType.i8, limit=5, kind="b")
    assert parse_pipeline(str(p)) == p
    assert parse_pipeline("test-options{limit=none,axes=[]}").passes[0].axes == ()
    assert str(parse_pipeline("test-options{count=3}")) == "test-options"  # defaults not printed


@pytest.mark.parametrize("text, words", [
    ("dce,nope", ["unknown pass 'nope'", "dce", "fold-constants"]),
    ("fold-constants{size=3}", ["no option 'size'", "max-elements"]),
    ("fold-constants{max-elements=big}", ["bad value 'big'", "max-elements", "int"]),
    ("fold-constants{max-elements=-1}", ["invalid options", "max_elements"]),
    ("test-options{enabled=maybe}", ["enabled", "true or false"]),
    ("test-options{mode=slow}", ["mode", "fast, exact"]),
    ("test-options{kind=c}", ["kind", "a, b"]),
    ("test-options{axes=1}", ["axes", "[1,2,3]"]),
    ("fold-constants{max-elements}", ["needs a value"]),
    ("fold-constants{max-elements=1", ["unbalanced"]),
    ("dce,,cse", ["empty pass name"]),
])
def test_errors_name_the_problem_and_the_choices(text, words):
    with pytest.raises(PassError) as e:
        parse_pipeline(text)
    for w in words:
        assert w in str(e.value)


def test_requires_and_after_are_checked_when_built():
    with pytest.raises(PassError, match="test-needs-dce requires dce earlier"):
        parse_pipeline("test-needs-dce,dce")
    assert parse_pipeline("dce,test-needs-dce").names == ["dce", "test-needs-dce"]
    assert parse_pipeline("test-after-cse").names == ["test-after-cse"]  # cse absent: fine
    assert parse_pipeline("cse,test-after-cse").names == ["cse", "test-after-cse"]
    with pytest.raises(PassError, match="test-after-cse must run after cse"):
        parse_pipeline("test-after-cse,cse")


def test_list_forms():
    fold = get_pass("fold-constants")(max_elements=5)
    p = Pipeline.of(["dce", fold, get_pass("cse"), "test-options{count=1}"])
    assert str(p) == "dce,fold-constants{max-elements=5},cse,test-options{count=1}"
    assert Pipeline.of(p) is p
    with pytest.raises(PassError, match="a pipeline entry must be"):
        Pipeline([42])


def test_insert_before_and_after_in_place_with_rollback():
    p = parse_pipeline("fold-constants,cse")
    assert p.insert_after("fold-constants", "dce") is p
    p.insert_before("fold-constants", "test-options{count=1}")
    assert str(p) == "test-options{count=1},fold-constants,dce,cse"
    with pytest.raises(PassError, match="'nope' is not in pipeline"):
        p.insert_after("nope", "dce")
    with pytest.raises(PassError, match="test-after-cse must run after cse"):
        p.insert_before("cse", "test-after-cse")
    assert str(p) == "test-options{count=1},fold-constants,dce,cse"  # unchanged


def test_plugin_placement_in_default_pipeline(monkeypatch):
    monkeypatch.setattr(pipeline_mod, "_PLACEMENTS", [])
    base = pipeline_mod.default_pipeline().names
    pipeline_mod.place_in_default_pipeline("test-options{count=2}", after="fold-constants")
    pipeline_mod.place_in_default_pipeline("test-needs-dce", before="dce")  # dce comes later
    with pytest.raises(PassError, match="requires dce earlier"):
        pipeline_mod.default_pipeline()
    pipeline_mod._PLACEMENTS.pop()
    names = pipeline_mod.default_pipeline().names
    i = base.index("fold-constants")
    assert names == base[:i + 1] + ["test-options"] + base[i + 1:]
    with pytest.raises(PassError, match="exactly one"):
        pipeline_mod.place_in_default_pipeline("dce")
