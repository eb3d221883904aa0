"""Calibration and accuracy analysis on a Dask cluster of two worker processes give statistics
(and so ranges for every algorithm) and per-layer errors bit-identical to one process (shards
finish in whatever order)."""

import numpy as np
import pytest

import npucc
from npucc.quantization import calibrate, quantize_model, select_ranges
from npucc.quantization.analysis import accuracy_analysis
from npucc.quantization.distributed import pack_graph, unpack_graph

from .conftest import photos

distributed = pytest.importorskip("dask.distributed", reason="the dask extra is not installed")


def test_graph_travels_as_ir_text(small_onnx):
    from npucc.ir.text import graphs_equal

    graph = npucc.compile(small_onnx).graph
    text, weights = pack_graph(graph)
    assert text.startswith("graph ") and b"pickle" not in weights
    back, plan = unpack_graph((text, weights))
    assert graphs_equal(back, graph) and unpack_graph((text, weights))[1] is plan


def test_meta_travels_with_the_graph(small_onnx):
    graph = npucc.compile(small_onnx).graph
    q = quantize_model(graph, [np.zeros((1, 3, 32, 32), np.float32)], dtype="u8",
                       progress=False)
    back = unpack_graph(pack_graph(q.graph))[0]
    assert [n.meta for n in back.nodes] == [n.meta for n in q.graph.nodes]
    assert any(n.meta.get("conversion") for n in back.nodes)
    assert {v.name: v.meta for v in back.values()} == {v.name: v.meta for v in q.graph.values()}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            yield cluster, client


@pytest.fixture(scope="module")
def data(small_onnx, tmp_path_factory):
    """An NHWC graph, a dataset.txt of 12 photos and 10 in-memory arrays."""
    from PIL import Image

    graph = npucc.compile(small_onnx, input_layout="NHWC").graph
    root = tmp_path_factory.mktemp("photos")
    names = []
    for i, rgb in enumerate(photos(12, size=(40, 36))):
        Image.fromarray(rgb).save(root / f"{i:02d}.png")
        names.append(f"{i:02d}.png")
    (root / "dataset.txt").write_text("\n".join(names))
    arrays = [np.random.default_rng(i).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
              for i in range(10)]
    return graph, root / "dataset.txt", arrays


@pytest.mark.slow
def test_two_worker_processes_give_the_same_bits(cluster, data):
    graph, txt, arrays = data
    cluster, client = cluster
    local = calibrate(graph, txt, progress=False)
    local_arrays = calibrate(graph, arrays, progress=False)
    remote = calibrate(graph, txt, executor=client, shard_size=2, progress=False)
    remote_arrays = calibrate(graph, arrays, executor=cluster.scheduler_address,
                              shard_size=3, progress=False)
    assert remote.same_as(local) and remote_arrays.same_as(local_arrays)
    for algorithm in ("normal", "mean_minmax", "percentile", "kl_divergence", "mmse"):
        for dtype in ("u8", "i8", "dfp16"):
            assert select_ranges(remote, algorithm, dtype) == \
                select_ranges(local, algorithm, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["u8", "dfp16"])
def test_the_accuracy_analysis_shards_to_the_same_bits(cluster, data, dtype, tmp_path):
    graph, txt, arrays = data
    cluster, client = cluster
    q = quantize_model(graph, arrays[:4], dtype=dtype, progress=False)
    for inputs, executor, size in ((txt, client, 3), (arrays, cluster.scheduler_address, 4)):
        for mode in ("entire", "single"):
            local = accuracy_analysis(q.float_graph, q.graph, inputs, mode=mode, progress=False)
            remote = accuracy_analysis(q.float_graph, q.graph, inputs, mode=mode,
                                       executor=executor, shard_size=size, progress=False)
            assert remote.samples == local.samples == len(list(inputs if inputs is arrays
                                                                else txt.read_text().split()))
            assert remote.layers == local.layers and remote.outputs == local.outputs
    # the dumps come from the first shard: the same files as one process writes
    accuracy_analysis(q.float_graph, q.graph, txt, output_dir=tmp_path / "local",
                      progress=False, rknn_version=1)
    accuracy_analysis(q.float_graph, q.graph, txt, output_dir=tmp_path / "remote",
                      executor=client, shard_size=5, progress=False, rknn_version=1)
    files = sorted(p.relative_to(tmp_path / "local")
                   for p in (tmp_path / "local").rglob("*") if p.is_file())
    assert len(files) > 20
    for f in files:
        assert (tmp_path / "local" / f).read_bytes() == (tmp_path / "remote" / f).read_bytes(), f


@pytest.mark.slow
def test_a_threaded_worker_gives_the_same_bits(data):
    """Three threads of one worker run shards at once: each has its own plan and runner (their
    buffers serve one run at a time) and reads .npy samples safely (npucc.npyio)."""
    graph, txt, arrays = data
    q = quantize_model(graph, arrays[:4], dtype="u8", progress=False)
    root = txt.parent / "npy"
    root.mkdir(exist_ok=True)
    for i, a in enumerate(arrays):
        np.save(root / f"{i}.npy", a)
    npy = root / "dataset.txt"
    npy.write_text("".join(f"{i}.npy\n" for i in range(len(arrays))))
    local = calibrate(graph, npy, progress=False)
    local_report = accuracy_analysis(q.float_graph, q.graph, npy, mode="single", progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=3, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            remote = calibrate(graph, npy, executor=client, shard_size=1, progress=False)
            report = accuracy_analysis(q.float_graph, q.graph, npy, mode="single",
                                       executor=client, shard_size=1, progress=False)
    assert remote.same_as(local)
    assert report.layers == local_report.layers
