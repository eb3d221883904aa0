"""Preprocessing folded into the model: fed raw 0-255 images, the built model matches the original
model fed images normalized by hand in numpy, at the borders of padded convolutions too."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.errors import PassError
from npucc.ir import Graph, TensorType, run_graph
from npucc.passes import PassManager
from npucc.passes.default_passes import build_pipeline
from npucc.passes.preprocess import InsertPreprocess, Preprocess

from .chains import conv_chains

RNG = np.random.default_rng(1)


def normalize(raw, p: Preprocess, axis=1):
    """The preprocessing by hand: reorder the channels, then (x - mean) / std."""
    x = raw if p.reorder is None else np.take(raw, p.reorder, axis=axis)
    shape = [1] * raw.ndim
    shape[axis] = -1
    mean = np.broadcast_to(np.asarray(p.mean, np.float32), (x.shape[axis],)).reshape(shape)
    std = np.broadcast_to(np.asarray(p.std, np.float32), (x.shape[axis],)).reshape(shape)
    return ((x - mean) / std).astype(np.float32)


def conv_model(c, pads, group=1, h=7, w=6):
    g = Graph("model")
    x = g.add_input("image", TensorType((1, c, h, w), "f32"))
    wt = RNG.uniform(-1, 1, (4 * group, c // group, 3, 3)).astype(np.float32)
    y = g.op("Conv", x, g.add_constant(wt), g.add_constant(RNG.uniform(-1, 1, 4 * group)
                                                           .astype(np.float32)),
             pads=pads, group=group, activation="relu")
    g.set_outputs([y])
    return g


def check_raw_matches_normalized(model, p: Preprocess, axis=1, name="image"):
    built = model.copy()
    PassManager(build_pipeline(preprocess={name: p})).run(built)
    raw = RNG.integers(0, 256, model.inputs[0].shape).astype(np.float32)
    want = run_graph(model, [normalize(raw, p, axis)])
    got = run_graph(built, [raw])
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    return built


def test_rknn_strings():
    p = Preprocess.from_rknn(channel_mean_value="103.94 116.78 123.68 58.82",
                             reorder_channel="2 1 0")
    assert p == Preprocess((103.94, 116.78, 123.68), (58.82,), (2, 1, 0))
    q = Preprocess.from_rknn(mean_values=[[123.675, 116.28, 103.53]],
                             std_values="58.395 57.12 57.375")
    assert q.mean == (123.675, 116.28, 103.53) and q.std == (58.395, 57.12, 57.375)
    with pytest.raises(PassError, match="not both"):
        Preprocess.from_rknn(channel_mean_value="1 2", mean_values="1")


@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 1, 1, 1), (2, 0, 1, 1)])
def test_equal_means_fold_completely_or_keep_one_add_for_the_padding(pads):
    """Without padding the whole affine folds into the Conv; with it one Add stays at the input
    and the Conv keeps its zero pads: no Pad with a non-zero value, which no NPU runs once
    quantized (it would split the model into CPU and NPU partitions)."""
    p = Preprocess(mean=(127.5,), std=(127.5, 64.0, 32.0), reorder=(2, 1, 0))
    built = check_raw_matches_normalized(conv_model(3, pads), p)
    names = [n.op for n in built.nodes]
    assert names == (["Add", "Conv"] if any(pads) else ["Conv"])
    if any(pads):
        add, conv = built.nodes
        assert add.inputs[1].const.reshape(-1) == pytest.approx([-127.5] * 3)
        assert conv.attrs["pads"] == pads


def test_unequal_means_keep_one_add_at_the_input_and_stay_exact_at_the_borders():
    p = Preprocess(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
                   reorder=(2, 1, 0))
    built = check_raw_matches_normalized(conv_model(3, (1, 1, 1, 1)), p)
    assert [n.op for n in built.nodes] == ["Add", "Conv"]


@pytest.mark.parametrize("c, group", [(1, 1), (5, 1), (4, 2), (4, 4)])
def test_single_and_many_channel_inputs(c, group):
    reorder = tuple(int(i) for i in RNG.permutation(c)) if group == 1 else None
    p = Preprocess(mean=tuple(RNG.uniform(0, 255, c)), std=tuple(RNG.uniform(20, 80, c)),
                   reorder=reorder)
    check_raw_matches_normalized(conv_model(c, (1, 1, 1, 1), group), p)
    check_raw_matches_normalized(conv_model(c, (0, 0, 0, 0), group), p)


def test_nhwc_input_is_preprocessed_along_its_channel_axis():
    g = Graph("tf")
    x = g.add_input("image", TensorType((1, 6, 5, 3), "f32"))
    wt = RNG.uniform(-1, 1, (2, 3, 3, 3)).astype(np.float32)
    y = g.op("Conv", g.op("Transpose", x, perm=(0, 3, 1, 2)), g.add_constant(wt),
             pads=(1, 1, 1, 1))
    g.set_outputs([g.op("Transpose", y, perm=(0, 2, 3, 1))])
    p = Preprocess(mean=(10.0, 20.0, 30.0), std=(2.0, 3.0, 4.0), reorder=(1, 2, 0))
    check_raw_matches_normalized(g, p, axis=3)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["NCHW", "NHWC"]).flatmap(
    lambda layout: st.tuples(st.just(layout), conv_chains(layout, preprocess=False))),
    st.integers(0, 2 ** 32 - 1))
def test_drawn_models_with_preprocessing(layout_graph, seed):
    layout, graph = layout_graph
    c = graph.inputs[0].shape[3 if layout == "NHWC" else 1]
    rng = np.random.default_rng(seed)
    p = Preprocess(mean=tuple(rng.uniform(0, 255, c)), std=tuple(rng.uniform(20, 80, c)),
                   reorder=tuple(int(i) for i in rng.permutation(c)))
    check_raw_matches_normalized(graph, p, axis=3 if layout == "NHWC" else 1, name="x")


def test_bad_settings_are_errors():
    g = conv_model(3, (0, 0, 0, 0))
    with pytest.raises(PassError, match="no input 'img'"):
        InsertPreprocess(inputs={"img": Preprocess()}).run(g)
    with pytest.raises(PassError, match="1 or 3 values"):
        InsertPreprocess(inputs={"image": Preprocess(mean=(1, 2))}).run(g)
    with pytest.raises(PassError, match="not a permutation"):
        InsertPreprocess(inputs={"image": Preprocess(reorder=(0, 0, 1))}).run(g)
