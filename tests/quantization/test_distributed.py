"""Calibration on a Dask cluster of two worker processes gives statistics, and so ranges for
every algorithm, bit-identical to one process (shards merged in whatever order they finish)."""

import numpy as np
import pytest

import npucc
from npucc.quantization import calibrate, select_ranges
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


@pytest.mark.slow
def test_two_worker_processes_give_the_same_bits(small_onnx, tmp_path):
    graph = npucc.compile(small_onnx, input_layout="NHWC").graph
    from PIL import Image

    names = []
    for i, rgb in enumerate(photos(12, size=(40, 36))):
        Image.fromarray(rgb).save(tmp_path / f"{i:02d}.png")
        names.append(f"{i:02d}.png")
    (tmp_path / "dataset.txt").write_text("\n".join(names))
    arrays = [np.random.default_rng(i).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
              for i in range(10)]
    local = calibrate(graph, tmp_path / "dataset.txt", progress=False)
    local_arrays = calibrate(graph, arrays, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            remote = calibrate(graph, tmp_path / "dataset.txt", executor=client,
                               shard_size=2, progress=False)
            remote_arrays = calibrate(graph, arrays, executor=cluster.scheduler_address,
                                      shard_size=3, progress=False)
            assert len(client.scheduler_info()["workers"]) == 2
    assert remote.same_as(local) and remote_arrays.same_as(local_arrays)
    for algorithm in ("normal", "mean_minmax", "percentile", "kl_divergence", "mmse"):
        for dtype in ("u8", "i8", "dfp16"):
            assert select_ranges(remote, algorithm, dtype) == \
                select_ranges(local, algorithm, dtype)
