"""Property tests of quantized execution over drawn graphs of every scheme: the simulator plan runs
every quantized node with the reference interpreter's kernel (bit for bit), and every integer
value is within one step of a float64 fake-quantization of the same node on the same inputs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings

from npucc.backends.simulator import compile_plan
from npucc.numerics import profile_of, run_graph, select_kernel
from npucc.testing.fake_quant import lsb_differences
from npucc.testing.inputs import random_inputs
from npucc.testing.quantized_strategies import quantization_cases

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def plan_values(plan, inputs) -> dict[str, np.ndarray]:
    """Every value the plan computes (its layer dump), by name."""
    with tempfile.TemporaryDirectory() as d:
        plan.run(inputs, dump_dir=d)
        index = json.loads((Path(d) / "index.json").read_text())
        return {e["value"]: np.load(Path(d) / e["file"]) for e in index["layers"]}


@SETTINGS
@given(quantization_cases(numerics=("affine", "tflite")))
def test_plan_runs_every_quantized_node_as_the_interpreter(case):
    """Each node outside the float profile, fed the plan's own values of its inputs, gives the
    plan's outputs bit for bit; graphs whose float part is only conversions agree end to end."""
    q = case.quantized
    inputs = random_inputs(q, 7)
    plan = compile_plan(q)
    seen = plan_values(plan, inputs)
    seen.update({v.name: a for v, a in zip(q.inputs, inputs)})
    seen.update({c.name: c.const for c in q.constants})
    checked = 0
    for node in q.nodes:
        if profile_of(node) == "float":
            continue
        outs = select_kernel(node)([None if v is None else seen[v.name] for v in node.inputs])
        for v, a in zip(node.outputs, outs):
            assert np.array_equal(_bits(a), _bits(seen[v.name])), (node.describe(), str(q))
        checked += 1
    if all(profile_of(n) != "float" or n.op in ("QuantizeLinear", "DequantizeLinear")
           for n in q.nodes):
        for a, b in zip(run_graph(q, inputs), plan.run(inputs)):
            assert np.array_equal(_bits(a), _bits(b)), str(q)


@SETTINGS
@given(quantization_cases(("u8", "i8", "dfp8", "dfp16")))
def test_integer_values_within_one_step_of_fake_quant(case):
    q = case.quantized
    diffs = lsb_differences(q, random_inputs(q, 3))
    bad = {k: v for k, v in diffs.items() if v[1] > 1}
    assert not bad, (bad, case)
