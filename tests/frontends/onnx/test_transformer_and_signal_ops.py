"""Attention, RotaryEmbedding, DFT / STFT / MelWeightMatrix, MaxUnpool, Det, DeformConv,
BitCast, CausalConvWithState, LinearAttention and Range-27 beyond the one-node onnxruntime
families of test_ops_vs_onnxruntime.py: the forms onnxruntime refuses (against the ONNX
reference implementation, onnx.reference), torch's scaled_dot_product_attention exported at
opset 23 (against onnxruntime and torch), SegNet's pool / unpool pair, the simulator plan
against the reference interpreter, and the errors for refused forms and hostile sizes."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from npucc.backends.simulator import compile_plan
from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends.onnx import load
from npucc.ir import run_graph
from tests import oracles
from tests.frontends.onnx.test_ops_vs_onnxruntime import FAMILIES, Case
from tests.ir.ops.onnx_oracle import run_model, single_node_model
from tests.ir.ops.strategies import random_array, seeds

F32 = np.float32


def _feeds(case: Case) -> dict:
    return {f"in{i}": a for i, a in enumerate(case.inputs)
            if a is not None and i not in case.inits}


@settings(deadline=None, max_examples=40)
@given(seed=seeds, sq=st.integers(1, 4), skv=st.integers(1, 4), keep=st.integers(1, 4),
       kind=st.sampled_from(["bool", "float"]), causal=st.booleans(), rank=st.sampled_from([2, 4]))
def test_attention_mask_shorter_than_the_keys_matches_the_onnx_reference(seed, sq, skv, keep,
                                                                          kind, causal, rank):
    """The spec pads a mask shorter than the keys with -inf (False); onnxruntime refuses such a
    mask, so the oracle is onnx.reference (with is_causal too, and fully masked rows: 0)."""
    rng = np.random.default_rng(seed)
    keep = min(keep, skv)
    q, k, v = (random_array(rng, [1, 2, n, 3], F32) for n in (sq, skv, skv))
    mshape = [1, 2, sq, keep] if rank == 4 else [sq, keep]
    mask = rng.random(mshape) < 0.7 if kind == "bool" else random_array(rng, mshape, F32)
    model = single_node_model("Attention", [q, k, v, mask], {"is_causal": int(causal)}, (F32,),
                              opset=23)
    feeds = {"in0": q, "in1": k, "in2": v, "in3": mask}
    (ours,) = run_graph(load(model), feeds)
    (theirs,) = ReferenceEvaluator(model).run(None, feeds)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def _sdpa_module():
    import torch

    class Block(torch.nn.Module):
        """Masked and causal attention of one input, as a decoder layer uses both."""

        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(16, 48)

        def forward(self, x, mask):
            b, s, _ = x.shape
            q, k, v = self.qkv(x).reshape(b, s, 3, 2, 8).permute(2, 0, 3, 1, 4)
            sdpa = torch.nn.functional.scaled_dot_product_attention
            return sdpa(q, k, v, attn_mask=mask) + sdpa(q, k, v, is_causal=True)

    return Block()


@pytest.mark.slow
@oracles.needs(importlib.util.find_spec("onnxscript") is not None,
               "torch's dynamo ONNX exporter needs onnxscript (pip install onnxscript)")
def test_torch_scaled_dot_product_attention_exports_attention_and_matches(tmp_path):
    """torch.onnx.export(dynamo=True, opset_version=23) writes scaled_dot_product_attention
    (with a bool mask, and is_causal) as ONNX Attention nodes: npucc's import matches onnxruntime
    and torch, in the reference interpreter and the simulator plan (relative error 1e-5)."""
    import torch

    torch.manual_seed(0)
    block = _sdpa_module().eval()
    x = torch.randn(2, 5, 16)
    mask = torch.rand(5, 5) < 0.7
    mask[:, 0] = True
    path = tmp_path / "sdpa.onnx"
    torch.onnx.export(block, (x, mask), str(path), dynamo=True, opset_version=23,
                      input_names=["x", "mask"], output_names=["y"], verbose=False,
                      external_data=False)
    model = onnx.load(str(path))
    assert [n.op_type for n in model.graph.node].count("Attention") == 2
    feeds = {"x": x.numpy(), "mask": mask.numpy()}
    graph = load(model)
    (ours,) = run_graph(graph, feeds)
    (plan,) = compile_plan(graph).run(feeds)
    (theirs,) = run_model(model, feeds)
    with torch.no_grad():
        want = block(x, mask).numpy()
    for other in (theirs, want, plan):
        assert np.max(np.abs(ours - other)) <= 1e-5 * np.max(np.abs(other))


@pytest.mark.parametrize("family", ["attention", "rotary_embedding", "spectral",
                                    "unpool_det_deform", "stateful_sequence"])
@settings(deadline=None, max_examples=15)
@given(data=st.data())
def test_simulator_plan_runs_the_new_ops_as_the_reference_interpreter(family, data):
    """The new core ops (DFT, Det, DeformConv, MaxUnpool, BitCast, LinearAttention) and the
    lowerings of Attention, RotaryEmbedding and CausalConvWithState give the same numbers in the
    simulator plan."""
    case = data.draw(FAMILIES[family])
    model = single_node_model(case.op, case.inputs, case.attrs,
                              case.out_dtypes or (case.inputs[0].dtype,),
                              initializers=case.inits, opset=case.opset)
    graph = load(model)
    feeds = _feeds(case)
    for a, b in zip(compile_plan(graph).run(feeds), run_graph(graph, feeds)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _node_model(op, inputs, attrs, opset, inits=(), outs=1):
    """A one-node model whose inputs are (name, array) pairs; arrays in `inits` by name are
    initializers, the rest f32 graph inputs of the given shape."""
    graph_inputs, initializers, names = [], [], []
    for name, a in inputs:
        names.append(name)
        if not name:  # an absent optional input
            continue
        if name in inits:
            initializers.append(onnx.numpy_helper.from_array(np.asarray(a), name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, a))
    node = helper.make_node(op, names, [f"y{i}" for i in range(outs)], name="the_node", **attrs)
    graph = helper.make_graph([node], "g", graph_inputs,
                              [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None)
                               for i in range(outs)], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


HOSTILE = {
    "DFT": lambda: _node_model("DFT", [("x", [1, 8, 1]), ("n", np.int64(2**40))], {}, 20,
                               {"n"}),
    "STFT": lambda: _node_model("STFT", [("x", [1, 2**20, 1]), ("step", np.int64(1)),
                                         ("", None), ("len", np.int64(2**19))], {}, 17,
                                {"step", "len"}),
    "MaxUnpool": lambda: _node_model("MaxUnpool", [("x", [1, 1, 2, 2]), ("i", [1, 1, 2, 2]),
                                                   ("s", np.asarray([1, 1, 2**20, 2**20]))],
                                     {"kernel_shape": [2, 2]}, 11, {"s"}),
    "MelWeightMatrix": lambda: _node_model(
        "MelWeightMatrix", [("a", np.int64(2**20)), ("b", np.int64(2**20)),
                            ("c", np.int64(16000)), ("d", np.float32(0)),
                            ("e", np.float32(8000))], {}, 17, {"a", "b", "c", "d", "e"}),
}


@pytest.mark.parametrize("op", sorted(HOSTILE))
def test_sizes_from_the_model_file_are_checked_before_allocating(op):
    model = HOSTILE[op]()
    with pytest.raises(FrontendError, match=r"the_node.*(bytes, over|limit)"):
        load(model)


REFUSED = [
    ("DeformConv", lambda: _node_model("DeformConv", [("x", [1, 1, 5]), ("w", [1, 1, 2]),
                                                      ("o", [1, 2, 4])], {}, 19),
     "1-D DeformConv"),
    ("DFT", lambda: _node_model("DFT", [("x", [1, 4, 2]), ("n", np.int64(3))],
                                {"inverse": 1, "onesided": 1}, 20, {"n"}),
     "IRFFT.*disagree"),
    ("Attention", lambda: _node_model("Attention", [("q", [1, 1, 2, 2]), ("k", [1, 1, 2, 2]),
                                                    ("v", [1, 1, 2, 2])], {"scale": -1.0}, 23),
     "negative scale"),
    ("MaxPool", lambda: _node_model("MaxPool", [("x", [1, 1, 40, 40])],
                                    {"kernel_shape": [40, 40]}, 12, outs=2),
     "Indices output of a \\[40, 40\\] window"),
    ("RandomNormal", lambda: _node_model("RandomNormal", [], {"shape": [2]}, 17),
     "op RandomNormal is not supported"),
    ("Bernoulli", lambda: _node_model("Bernoulli", [("x", [2])], {}, 17),
     "op Bernoulli is not supported"),
]


@pytest.mark.parametrize("op,make,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_forms_name_the_node_and_what_is_refused(op, make, message):
    with pytest.raises(UnsupportedError, match=rf"node 'the_node' \(op {op}.*{message}"):
        load(make())


@pytest.mark.parametrize("size", [(8, 8), (7, 9)])
def test_segnet_style_pool_and_unpool_match_onnxruntime(size):
    """SegNet's encoder/decoder pair: MaxPool with its Indices, a Conv between, and MaxUnpool
    back to the pooled input's shape (output_shape from Shape, odd sizes too): the same as
    onnxruntime in the reference interpreter and the simulator plan."""
    rng = np.random.default_rng(0)
    x = random_array(rng, [2, 3, *size], F32)
    w = onnx.numpy_helper.from_array(random_array(rng, [3, 3, 3, 3], F32) / 3, "w")
    nodes = [helper.make_node("MaxPool", ["x"], ["p", "i"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("MaxUnpool", ["c", "i", "s"], ["y"], kernel_shape=[2, 2],
                              strides=[2, 2])]
    graph = helper.make_graph(nodes, "segnet", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, x.shape)], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (theirs,) = run_model(model, {"x": x})
    g = load(model)
    (ours,) = run_graph(g, {"x": x})
    (plan,) = compile_plan(g).run({"x": x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plan, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bounds", [(0, 3, 1), (1000, 1010, 0.5), (2000, 2050, 1.3)])
def test_range_27_steps_float16_bounds_in_float32(bounds):
    """Range at opset 27 (stash_type 1, the default): float16 bounds are stepped in float32 and
    rounded once, as onnxruntime computes them (Range is folded at import)."""
    ins = [np.asarray(v, np.float16) for v in bounds]
    model = single_node_model("Range", ins, {}, (np.float16,), initializers={0, 1, 2},
                              opset=27)
    (ours,) = run_graph(load(model), {})
    (theirs,) = run_model(model, {})
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("src, dst", [(np.float16, np.int16), (np.int16, np.float16)])
def test_bitcast_of_float16_reads_its_own_bits(src, dst):
    """A float16 BitCast computes in the fp16 profile, which widens float16 inputs to float32
    for every other op: it must read the float16 bits (a widened input gave twice as many
    values and a plan error). Against onnxruntime, in the interpreter and the plan."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5)).astype(np.float16).view(src)
    x.reshape(-1)[:2] = np.array([np.inf, np.nan], np.float16).view(src)
    model = single_node_model("BitCast", [x], {"to": int(onnx.helper.np_dtype_to_tensor_dtype(
        np.dtype(dst)))}, (dst,), opset=26)
    (want,) = run_model(model, {"in0": x})
    graph = load(model)
    for got in (run_graph(graph, [x])[0], compile_plan(graph).run([x])[0]):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
