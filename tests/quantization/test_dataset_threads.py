"""Loading .npy samples from several threads at once (a threaded Dask worker) gives every
sample's values. numpy parses .npy headers with ast.literal_eval, whose state CPython 3.11
shares between threads: without npucc.npyio's lock this fails now and then with `SystemError:
AST constructor recursion depth mismatch`. The race needs a thread switch inside the parser,
which garbage collection running finalizers provides, so the test makes plenty of both."""

import gc
import sys
import threading

import numpy as np

from npucc.ir.text import parse
from npucc.npyio import npz_from_bytes, read_npy
from npucc.quantization import Dataset

GRAPH = parse("graph g(%x: f32[1,3,4,4]) -> (%y) {\n  %y = Relu(%x) : f32[1,3,4,4]\n"
              "  return %y\n}")


class _Finalized:
    def __del__(self):
        sum(range(16))  # Python code run by the collector: a chance to switch threads


def test_threads_load_every_sample_right(tmp_path):
    rng = np.random.default_rng(0)
    want = [rng.standard_normal((1, 3, 4, 4)).astype(np.float32) for _ in range(48)]
    for i, a in enumerate(want):
        np.save(tmp_path / f"s{i}.npy", a)
    (tmp_path / "dataset.txt").write_text("".join(f"s{i}.npy\n" for i in range(len(want))))
    ds = Dataset(tmp_path / "dataset.txt")
    results, errors = {}, []

    def load(k: int) -> None:
        try:
            for _ in range(20):
                got = []
                for sample in ds.samples(GRAPH):
                    junk = _Finalized()
                    junk.cycle = junk  # freed only by the collector
                    got.append(sample[0])
            results[k] = got
        except Exception as e:  # noqa: BLE001 - every failure of a thread is reported
            errors.append(f"{type(e).__name__}: {e}")

    interval, threshold = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(10)
    try:
        threads = [threading.Thread(target=load, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*threshold)
    assert not errors, errors[:3]
    assert sorted(results) == [0, 1, 2, 3]
    for got in results.values():
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_npyio_reads_what_numpy_wrote_and_refuses_pickles(tmp_path):
    a = np.arange(12, dtype=np.int16).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    np.testing.assert_array_equal(read_npy(tmp_path / "a.npy"), a)
    np.savez(tmp_path / "b.npz", x=a, y=a.T.astype(np.float64))
    arrays = npz_from_bytes((tmp_path / "b.npz").read_bytes())
    assert sorted(arrays) == ["x", "y"]
    np.testing.assert_array_equal(arrays["y"], a.T)
    np.save(tmp_path / "o.npy", np.array([{"k": 1}], dtype=object), allow_pickle=True)
    try:
        read_npy(tmp_path / "o.npy")
    except ValueError as e:
        assert "pickle" in str(e)
    else:
        raise AssertionError("an object array was unpickled")
