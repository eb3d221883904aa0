"""Target files: the shipped ones load, user files load by path, and every invalid file is
refused with a message naming the file and the key."""

from __future__ import annotations

import re

import numpy as np
import pytest

from npucc.errors import TargetError
from npucc.ir.graph import Graph
from npucc.ir.types import TensorType
from npucc.passes import PassManager
from npucc.passes.fuse_conv_pool import FuseConvPool
from npucc.targets import get_target, list_targets


def test_shipped_targets_hold_the_issue_figures():
    assert list_targets() == ["generic", "rk1808", "rk3566", "rk3588", "rv1126"]
    rk1808 = get_target("rk1808")
    assert (rk1808.macs_per_cycle, rk1808.clock_mhz) == \
        ({"int8": 1920, "int16": 192, "fp16": 64}, 792)
    assert set(rk1808.quant_dtypes) == {"u8", "dfp8", "dfp16", "fp16"}
    assert get_target("rv1126").clock_mhz == 934
    rk3566 = get_target("rk3566")
    assert (rk3566.cores, rk3566.clock_mhz, set(rk3566.precisions)) == (1, 1000, {"int8", "fp16"})
    rk3588 = get_target("rk3588")
    assert (rk3588.cores, rk3588.macs_per_cycle["int8"], rk3588.onchip_buffer_kib,
            set(rk3588.precisions)) == (3, 1024, 384, {"int8", "int16", "fp16"})
    assert get_target("RK3588") is rk3588  # names are case-insensitive and cached


def test_unknown_target_lists_the_shipped_ones():
    with pytest.raises(TargetError, match="unknown target 'rk9999'; shipped targets: generic, "):
        get_target("rk9999")


def write(tmp_path, text, name="my_npu.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


MINIMAL = """\
name: my_npu
description: a user NPU
generation: custom
clock_mhz: 500
cores: 1
macs_per_cycle: {int8: 256}
quant_dtypes: [i8]
default_precision: int8
dram_peak_gbps: 4
onchip_buffer_kib: 128
ops: [Conv, Relu]
constraints: {op_in_target_list: {}, kernel_size_range: {max: 5}}
cost: {mac_efficiency: 0.5, depthwise_efficiency: 0.1, dram_gbps: 2, channel_align_bytes: 1,
       layer_overhead_us: 5, profiling_overhead_us: 0, cpu_gflops: 1, cpu_gbps: 1,
       cpu_op_overhead_us: 10}
"""


def test_user_file_by_path_and_extends(tmp_path):
    t = get_target(write(tmp_path, MINIMAL))
    assert (t.name, t.ops, t.cost.mac_efficiency) == ("my_npu", {"Conv", "Relu"}, 0.5)
    assert t.source == str((tmp_path / "my_npu.yaml").resolve())
    # a file extending it (relative path) and one extending a shipped target; cost merges by key
    faster = get_target(write(tmp_path, "extends: my_npu.yaml\nname: faster\n"
                              "cost: {mac_efficiency: 0.9}\n", "faster.yaml"))
    assert (faster.name, faster.cost.mac_efficiency, faster.cost.dram_gbps) == ("faster", 0.9, 2)
    derived = get_target(write(tmp_path, "extends: rk3588\nname: rk3588_oc\nclock_mhz: 1200\n",
                               "oc.yaml"))
    assert derived.clock_mhz == 1200 and derived.ops == get_target("rk3588").ops


def test_an_edited_base_file_is_read_again(tmp_path):
    """The cache of user target files watches every file of the extends chain: a base edited
    to the same size, its modification time set back (coarse file-system clocks), is re-read."""
    import os

    base = write(tmp_path, MINIMAL)
    child = write(tmp_path, "extends: my_npu.yaml\nname: child\n", "child.yaml")
    assert get_target(child).cost.mac_efficiency == 0.5
    before = os.stat(base)
    base.write_text(base.read_text().replace("mac_efficiency: 0.5", "mac_efficiency: 0.7"))
    os.utime(base, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(base).st_size == before.st_size
    assert get_target(child).cost.mac_efficiency == 0.7


@pytest.mark.parametrize("change, key, message", [
    ({"clock_mhz": "fast"}, "clock_mhz", "expected a number >= 0, got 'fast'"),
    ({"clock_mhz": None}, "clock_mhz", "expected a number"),
    ({"colour": "red"}, "colour", "unknown key"),
    ({"cores": 1.5}, "cores", "expected an integer"),
    ({"cores": 0}, "cores", "must be >= 1"),  # not silently 1
    ({"macs_per_cycle": "{int4: 2048}"}, "macs_per_cycle.int4", "unknown precision"),
    ({"macs_per_cycle": "{int8: 0}"}, "macs_per_cycle.int8", "must be > 0"),
    ({"default_precision": "fp16"}, "default_precision", "not one of macs_per_cycle"),
    ({"quant_dtypes": "[i8, q7]"}, "quant_dtypes[1]", "unknown dtype 'q7'"),
    ({"ops": "[Conv, Convolution]"}, "ops[1]", "unknown op 'Convolution'"),
    ({"constraints": "{no_such_rule: {}}"}, "constraints.no_such_rule", "unknown constraint"),
    ({"constraints": "{kernel_size_range: {}}"}, "constraints.kernel_size_range.max",
     "missing"),
    ({"constraints": "{kernel_size_range: {max: 3, min: 1}}"},
     "constraints.kernel_size_range.min", "unknown key"),
    ({"pool_fusion": "[{kernel: 2, stride: 2, parity: prime}]"}, "pool_fusion[0].parity",
     "expected even, odd"),
    ({"pool_fusion": "[{kernel: 2}]"}, "pool_fusion[0].stride", "missing"),
    ({"cost": "{mac_efficiency: 1}"}, "cost.depthwise_efficiency", "missing"),
    ({"cost": "{mac_efficiency: 1, speed: 3}"}, "cost.speed", "unknown key"),
    ({"name": None}, "name", "expected a non-empty string"),
    # hostile values: numbers float() cannot hold, parameters of the wrong kind for the check
    ({"clock_mhz": "1" + "0" * 400}, "clock_mhz", "expected a number >= 0 (at most 2**53)"),
    ({"constraints": "{kernel_size_range: {max: big}}"}, "constraints.kernel_size_range.max",
     "expected an integer >= 0, got 'big'"),
    ({"constraints": "{kernel_size_range: {max: [3]}}"}, "constraints.kernel_size_range.max",
     "expected an integer"),
    ({"constraints": "{tensor_types_supported: {per_channel: 1}}"},
     "constraints.tensor_types_supported.per_channel", "expected true or false"),
    ({"constraints": "{pad_mode: {modes: [constant, [reflect]]}}"}, "constraints.pad_mode.modes",
     "expected a list of mode names"),
    ({"pool_fusion": "[{kernel: 2, stride: 2, excluded_sizes: [7, x]}]"},
     "pool_fusion[0].excluded_sizes.1", "expected an integer"),
    ({"pool_fusion": "[{kernel: 2, stride: 2, excluded_sizes: 7}]"},
     "pool_fusion[0].excluded_sizes", "expected a list"),
    ({"ops": "[Conv, [Relu]]"}, "ops[1]", "unknown op ['Relu']"),
])
def test_invalid_files_name_the_file_and_key(tmp_path, change, key, message):
    lines = [line for line in MINIMAL.splitlines()]
    text = "\n".join(line for line in lines
                     if not any(line.startswith(k + ":") for k in change)
                     and not (("cost" in change) and line.startswith("       ")))
    text += "\n" + "\n".join(f"{k}: {v}" if v is not None else f"{k}:"
                             for k, v in change.items()) + "\n"
    with pytest.raises(TargetError) as err:
        get_target(write(tmp_path, text))
    assert str(err.value).startswith(f"my_npu.yaml: {key}: "), str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("name: [unclosed\n", "my_npu.yaml: not valid YAML"),
    ("- a list\n", "my_npu.yaml: a target file is a mapping of keys, got list"),
    ("extends: nowhere\n", "my_npu.yaml: extends: no target or base file named 'nowhere'"),
    ("extends: my_npu.yaml\n", "my_npu.yaml: extends: cycle"),
    # keys of several types (YAML reads 1 as an int) are sorted without a TypeError
    (MINIMAL + "1: one\ncolour: red\n", "my_npu.yaml: 1: unknown key"),
    (MINIMAL.replace("cost: {", "cost: {2: x, "), "my_npu.yaml: cost.2: unknown key"),
    ("extends: /dev/zero\n", "my_npu.yaml: extends: no target or base file named '/dev/zero'"),
])
def test_unreadable_files(tmp_path, text, message):
    with pytest.raises(TargetError, match=re.escape(message)):
        get_target(write(tmp_path, text))


def test_a_bad_base_is_named_with_the_file_extending_it(tmp_path):
    write(tmp_path, "- a list\n", "base.yaml")
    with pytest.raises(TargetError, match=re.escape(
            "my_npu.yaml: extends base.yaml: a target file is a mapping of keys, got list")):
        get_target(write(tmp_path, "extends: base.yaml\n"))


def test_missing_file(tmp_path):
    with pytest.raises(TargetError, match="absent.yaml: cannot read the target file"):
        get_target(tmp_path / "absent.yaml")


def test_fuse_conv_pool_reads_the_target_rules(tmp_path):
    def graph():
        g = Graph()
        x = g.add_input("x", TensorType((1, 2, 8, 8), "f32"))
        y = g.op("Conv", x, g.add_constant(np.ones((3, 2, 3, 3), np.float32)), pads=(1, 1, 1, 1),
                 activation="relu")
        g.set_outputs([g.op("MaxPool", y, kernel_shape=(2, 2), strides=(2, 2))])
        return g

    counts = {}
    for target in ("rk1808", "rk3588", write(tmp_path, MINIMAL + "pool_fusion: "
                                             "[{kernel: 2, stride: 2, parity: odd}]\n")):
        g = graph()
        PassManager([FuseConvPool(target=str(target))]).run(g)
        counts[str(target).rsplit("/", 1)[-1]] = len(g)
    # RKNPU1 fuses a 2x2/2 pool over an even input; RKNPU2 has no fusion rule; the user file
    # fuses only over odd inputs
    assert counts == {"rk1808": 1, "rk3588": 2, "my_npu.yaml": 2}
