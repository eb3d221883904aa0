"""Property tests: every graph-optimization pass keeps its contract (npucc.testing.check_pass:
valid, honest about changes, numerically equivalent, idempotent) on drawn conv-block graphs in
NCHW and NHWC, and leaves none of the patterns it promises to remove."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.ir.verify import verify
from npucc.passes import PassManager, default_pipeline
from npucc.passes.channel_affine import foldable_linear
from npucc.testing import check_pass

from .chains import conv_chains

EXAMPLES = settings(max_examples=200, deadline=None)
GRAPHS = st.sampled_from(["NCHW", "NHWC"]).flatmap(lambda layout: conv_chains(layout))


def _single_use(v, graph):
    return len(v.uses) == 1 and not graph.is_output(v)


def no_foldable_batchnorm(g):
    for n in g.nodes:
        if n.op == "BatchNorm" and n.inputs[0].producer is not None:
            p = n.inputs[0].producer
            assert not (foldable_linear(p) and _single_use(p.output, g)), f"{n.describe()} left"


def no_fusable_activation(g):
    for n in g.nodes:
        if n.op in ("Relu", "Clip", "LeakyRelu", "HardSwish", "Sigmoid"):
            p = n.inputs[0].producer
            assert p is None or p.op not in ("Conv", "ConvTranspose", "Gemm", "MatMul") or \
                p.attrs["activation"] != "none" or p.attrs.get("pool_kernel") or \
                not _single_use(p.output, g), f"{n.describe()} left unfused after {p.describe()}"


def no_zero_pad_before_conv(g):
    for n in g.nodes:
        if n.op == "Conv" and n.inputs[0].producer is not None:
            p = n.inputs[0].producer
            assert not (p.op == "Pad" and p.attrs["value"] == 0 and p.attrs["mode"] == "constant"
                        and not any(p.attrs["pads"][i] for i in (0, 1, 4, 5))), "Pad left"


def transposes_only_at_the_boundary(g):
    for n in g.nodes:
        if n.op == "Transpose":
            assert n.inputs[0] in g.inputs or g.is_output(n.output), f"{n.describe()} inside"


POSTCONDITIONS = {
    "fuse-batchnorm": None,  # the BN of a Conv -> Mul -> BN chain is fold-conv-affine's job
    "fold-conv-affine": no_foldable_batchnorm,
    "fuse-pad": no_zero_pad_before_conv,
    "fuse-activation": no_fusable_activation,
    "fuse-conv-pool": None,
    "fold-input-affine": None,
    "canonicalize-layout": None,
    "fold-shape-only": None,
    "cleanup": None,
}


@pytest.mark.parametrize("name", sorted(POSTCONDITIONS))
def test_pass_contract(name):
    @EXAMPLES
    @given(GRAPHS)
    def run(graph):
        report = check_pass(name, graph)
        if POSTCONDITIONS[name] is not None:
            POSTCONDITIONS[name](report.after)

    run()


@EXAMPLES
@given(GRAPHS)
def test_default_pipeline_is_equivalent_idempotent_and_leaves_no_inner_transposes(graph):
    report = check_pass(default_pipeline(), graph, idempotent=True)
    transposes_only_at_the_boundary(report.after)
    no_foldable_batchnorm(report.after)
    no_fusable_activation(report.after)


@settings(max_examples=50, deadline=None)
@given(conv_chains("NHWC"))
def test_canonicalize_layout_then_dce_leaves_transposes_only_at_inputs_and_outputs(graph):
    PassManager("canonicalize-layout,dce").run(graph)
    verify(graph)
    transposes_only_at_the_boundary(graph)
