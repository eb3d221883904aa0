"""SSD priors: PriorBox depends only on shapes, so it becomes a constant; a prior-box graph output
stays an output (same name, same values), now served from the constant."""

import numpy as np

from npucc.ir import Graph, TensorType, run_graph
from npucc.passes import PassManager, default_pipeline
from npucc.testing import check_pass


def ssd_head():
    g = Graph("ssd")
    image = g.add_input("data", TensorType((1, 3, 32, 32), "f32"))
    w = np.random.default_rng(0).uniform(-1, 1, (6, 3, 3, 3)).astype(np.float32)
    feat = g.op("Conv", image, g.add_constant(w), strides=(4, 4), pads=(1, 1, 1, 1),
                activation="relu", name="conv_feat")
    loc = g.op("Conv", feat, g.add_constant(w[:, :, :1, :1].repeat(2, 1)), name="loc")
    prior = g.op("PriorBox", feat, image, min_sizes=(8.0,), max_sizes=(16.0,),
                 aspect_ratios=(2.0,), clip=True, variances=(0.1, 0.1, 0.2, 0.2),
                 name="priorbox", provenance=["mbox_priorbox"])
    flat = g.op("Reshape", prior, shape=(1, 2, prior.shape[2] // 4, 4), name="priors_4")
    g.set_outputs([loc, prior, flat])
    return g


def test_priors_fold_to_constants_and_stay_outputs():
    g = ssd_head()
    before = g.copy()
    check_pass("fold-shape-only", g)
    PassManager(default_pipeline()).run(g)
    assert "PriorBox" not in [n.op for n in g.nodes]
    assert [v.name for v in g.outputs] == ["loc", "priorbox", "priors_4"]
    assert g.outputs[1].is_constant and g.outputs[2].is_constant
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, 32, 32)).astype(np.float32)
    want, got = run_graph(before, [x]), run_graph(g, [x])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)


def test_node_reading_a_live_value_is_not_folded():
    g = Graph()
    x = g.add_input("x", TensorType((1, 2, 3, 3), "f32"))
    g.set_outputs([g.op("Relu", x)])
    report = check_pass("fold-shape-only", g)
    assert not report.changed
