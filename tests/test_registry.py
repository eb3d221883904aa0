"""The generic Registry, and that every name table of the package is one."""

import pytest

from npucc.errors import FrontendError, IRError, NpuccError, PassError, TargetError
from npucc.registry import Registry


def relu():
    pass


def relu6():
    pass


def test_duplicates_raise_unless_the_same_item_or_replace_is_asked():
    r = Registry("ONNX op", error=FrontendError)
    r["Relu"] = relu
    r.add("Relu", relu)  # the same item again (a module imported twice) is harmless
    with pytest.raises(FrontendError, match=r"ONNX op 'Relu' is registered twice: "
                                            r"\S*test_registry.relu and \S*test_registry.relu6"):
        r["Relu"] = relu6
    assert r["Relu"] is relu
    loose = Registry("graph applier", duplicates="replace")
    loose["Relu"] = relu
    loose["Relu"] = relu6
    assert loose["Relu"] is relu6


def test_unknown_names_suggest_close_ones_or_list_all():
    r = Registry("pass", {"dce": 1, "cse": 2, "fold-constants": 3}, error=PassError,
                 plural="passes")
    with pytest.raises(PassError, match=r"^unknown pass 'fold-constant'; did you mean "
                                        r"fold-constants\?$"):
        r.lookup("fold-constant")
    with pytest.raises(PassError, match=r"^unknown pass 'DCE'; did you mean dce or cse\?$"):
        r.lookup("DCE")  # case is ignored when suggesting
    with pytest.raises(PassError, match=r"^unknown pass 'xyz'; known passes: cse, dce, "
                                        r"fold-constants$"):
        r.lookup("xyz")
    assert r.get("xyz") is None and "dce" in r and sorted(r) == ["cse", "dce", "fold-constants"]
    assert Registry("op").unknown("x") == "unknown op 'x'; known ops: (none)"


def test_names_are_non_empty_strings_and_policies_are_checked():
    with pytest.raises(NpuccError, match="name must be a non-empty string"):
        Registry("op")[""] = relu
    with pytest.raises(ValueError, match="duplicates must be"):
        Registry("op", duplicates="ignore")


def test_copy_is_independent_and_del_unregisters(monkeypatch):
    r = Registry("op", {"Relu": relu}, error=IRError)
    c = r.copy()
    c["Relu6"] = relu6
    assert "Relu6" not in r and c.error is IRError
    monkeypatch.setitem(r, "Relu6", relu6)  # monkeypatch adds, then deletes on undo
    monkeypatch.undo()
    assert list(r) == ["Relu"]


def test_every_name_table_is_a_registry():
    import npucc.cli
    import npucc.frontends
    import npucc.frontends.caffe.importer
    import npucc.frontends.darknet
    import npucc.frontends.onnx.converters
    import npucc.frontends.pytorch
    import npucc.frontends.tensorflow
    import npucc.frontends.tflite
    import npucc.passes.base
    from npucc.backends.simulator.kernels import FAST_KERNELS
    from npucc.ir import OPS
    from npucc.numerics.profiles import KERNELS, LIMITS
    from npucc.targets.constraints import CONSTRAINTS
    from npucc.testing.strategies import APPLIERS

    tables = [npucc.cli.SUBCOMMANDS, npucc.frontends.FRONTENDS, npucc.frontends.pytorch.ATEN,
              npucc.frontends.darknet.SECTIONS, npucc.frontends.caffe.importer.MAPPERS,
              npucc.frontends.onnx.converters.CONVERTERS, npucc.frontends.tensorflow.CONVERTERS,
              npucc.frontends.tflite.CONVERTERS, npucc.passes.base._PASSES, FAST_KERNELS, OPS,
              APPLIERS, KERNELS, LIMITS, KERNELS["tflite"], LIMITS["affine"], CONSTRAINTS]
    assert all(isinstance(t, Registry) and len(t) for t in tables)
    assert all(isinstance(t, Registry) for t in (*KERNELS.values(), *LIMITS.values()))
    with pytest.raises(IRError, match="unknown op 'Reluu'; did you mean Relu"):
        OPS.lookup("Reluu")
    with pytest.raises(TargetError, match="unknown target constraint .stride_rang.; did you mean "
                                          "stride_range"):
        CONSTRAINTS.lookup("stride_rang")
