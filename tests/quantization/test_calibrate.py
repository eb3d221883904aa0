"""The calibration runner: Plan.run(observe=) sees every value as the reference interpreter
computes it; statistics keyed by value names, equal to numpy's over those values; the model's
preprocessing applied exactly as at inference (onnxruntime on the original model, fed images
decoded by OpenCV and normalised by numpy, is the oracle); saved and reloaded bit for bit."""

import re

import numpy as np
import pytest

import npucc
from npucc.ir.interpreter import run_graph
from npucc.passes import Preprocess
from npucc.quantization import CalibrationError, CalibrationStats, calibrate, select_ranges

from .conftest import photos

MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 3, (1, 3, 32, 32)).astype(np.float32) for _ in range(n)]


def test_observe_sees_every_value_as_the_interpreter_computes_it(small_onnx):
    model = npucc.compile(small_onnx)
    graph, plan = model.graph, model.plan
    assert any(not a.flags.c_contiguous for p in plan.nodes for a in p.outputs), \
        "the test model should have channels-last values"
    (x,) = inputs(1)
    ref = {graph.inputs[0].name: x}
    run_graph(graph, [x], hook=lambda node, outs: ref.update(
        {v.name: a for v, a in zip(node.outputs, outs)}))
    seen = []

    def observe(name, array):
        seen.append(name)
        np.testing.assert_allclose(array, ref[name], rtol=1e-5, atol=1e-5, err_msg=name)

    outs = plan.run([x], observe=observe)
    assert seen == [graph.inputs[0].name] + [v.name for n in graph.nodes for v in n.outputs]
    np.testing.assert_array_equal(outs[0], plan.run([x])[0])


def test_stats_are_numpys_over_every_float_value(small_onnx):
    graph = npucc.compile(small_onnx).graph
    xs = inputs(5)
    values: dict[str, list] = {}
    for x in xs:
        values.setdefault(graph.inputs[0].name, []).append(x)
        run_graph(graph, [x], hook=lambda node, outs: [
            values.setdefault(v.name, []).append(a) for v, a in zip(node.outputs, outs)])
    stats = calibrate(graph, xs, progress=False)
    assert list(stats) == list(values)
    for name, arrays in values.items():
        s = stats[name]
        assert s.runs == 5 and s.count == s.hist.total == sum(a.size for a in arrays)
        assert s.min == pytest.approx(min(a.min() for a in arrays), rel=1e-5, abs=1e-6)
        assert s.max == pytest.approx(max(a.max() for a in arrays), rel=1e-5, abs=1e-6)
        assert s.mean_max == pytest.approx(np.mean([a.max() for a in arrays]), rel=1e-5)
    # a view (the Flatten before the Gemm) has its source's statistics
    flat = next(n for n in graph.nodes if n.op in ("Reshape", "Flatten"))
    assert stats[flat.output.name].same_as(stats[flat.inputs[0].name]) is False  # shape differs
    assert stats[flat.output.name].hist == stats[flat.inputs[0].name].hist
    # the weights' per-output-channel ranges
    conv = next(n for n in graph.nodes if n.op == "Conv")
    w = stats.weights[conv.inputs[1].name]
    assert w.axis == 0
    np.testing.assert_array_equal(w.channel_max, conv.inputs[1].const.max(axis=(1, 2, 3)))


def test_deterministic_and_saved_bit_for_bit(small_onnx, tmp_path):
    graph = npucc.compile(small_onnx).graph
    a = calibrate(graph, inputs(4), progress=False)
    b = calibrate(graph, iter(inputs(4)), progress=True)
    assert a.same_as(b)
    npz, js = a.save(tmp_path / "calib")
    assert npz.name == "calib.npz" and js.name == "calib.json"
    c = CalibrationStats.load(tmp_path / "calib.npz")
    assert c.same_as(a)
    for algorithm in ("normal", "kl_divergence", "mmse"):
        assert select_ranges(c, algorithm) == select_ranges(a, algorithm)
    np.testing.assert_array_equal(next(iter(c.weights.values())).channel_min,
                                  next(iter(a.weights.values())).channel_min)
    # merging with itself doubles every count, keeps every range
    d = a.merged(c)
    assert all(d[n].count == 2 * a[n].count and d[n].min == a[n].min for n in a)
    # a mismatched pair is refused
    calibrate(graph, inputs(1, seed=9), progress=False).save(tmp_path / "other.npz")
    (tmp_path / "other.npz").replace(tmp_path / "calib.npz")
    with pytest.raises(CalibrationError, match="does not match"):
        CalibrationStats.load(tmp_path / "calib.npz")


def test_threads_give_the_statistics_of_one_thread(small_onnx, monkeypatch):
    """calibrate() runs the samples on NPUCC_NUM_THREADS threads (a plan each, BLAS on one
    thread): the merged statistics are the bits one thread gives, and the selected ranges the
    same; a sample that fails in a worker thread is raised to the caller, naming its file."""
    import importlib

    module = importlib.import_module("npucc.quantization.calibrate")
    graph = npucc.compile(small_onnx).graph
    runs = []
    real = module.run_threads
    monkeypatch.setattr(module, "run_threads", lambda *a, **k: runs.append(a[2]) or real(*a, **k))
    stats = {}
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("NPUCC_NUM_THREADS", threads)
        stats[threads] = calibrate(graph, inputs(7, seed=4), progress=False)
    assert runs == [2, 3]  # (one thread: the plain loop)
    assert stats["1"].same_as(stats["2"]) and stats["1"].same_as(stats["3"])
    assert stats["1"][graph.inputs[0].name].runs == 7
    for algorithm in ("normal", "kl_divergence", "mmse"):
        assert select_ranges(stats["2"], algorithm) == select_ranges(stats["1"], algorithm)

    one = module.run_threads(graph, [[a] for a in inputs(1)], 3)  # two threads get nothing
    assert one.same_as(module.run_shard(graph, [[a] for a in inputs(1)]))

    def samples():
        yield from ([a] for a in inputs(3))
        raise CalibrationError("broken.jpg: cannot decode")

    monkeypatch.setenv("NPUCC_NUM_THREADS", "2")
    with pytest.raises(CalibrationError, match="broken.jpg"):
        module.run_threads(graph, samples(), 2)


@pytest.mark.parametrize("field, value, message", [
    ("runs", 0, "over 0 runs"),
    ("max", -1e9, r"range \["),
    ("hist_exponent", 3, "not on the grid"),
    ("hist_start", -10 ** 6, "reaches past the range"),
    ("count", 1, "do not add up"),
    ("shape", ["x"], "malformed"),
    ("min", "-inf", r"range \["),
])
def test_loaded_statistics_are_checked(small_onnx, tmp_path, field, value, message):
    """Statistics files are untrusted: a loaded value whose numbers break calibration's
    invariants is refused, naming the value, instead of reaching a selector as an OverflowError
    or a division by zero."""
    import hashlib
    import json

    a = calibrate(npucc.compile(small_onnx).graph, inputs(2), progress=False)
    npz, js = a.save(tmp_path / "calib")
    meta = json.loads(js.read_text())
    entry = next(v for v in meta["values"] if v["min"] < 0 < v["max"])
    entry[field] = value
    meta["npz_sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    js.write_text(json.dumps(meta))
    with pytest.raises(CalibrationError, match=message):
        CalibrationStats.load(npz)


def test_empty_dataset_is_an_error(small_onnx):
    with pytest.raises(CalibrationError, match="no sample"):
        calibrate(npucc.compile(small_onnx).graph, [], progress=False)


@pytest.mark.parametrize("rgb2bgr", [False, True])
def test_calibration_sees_what_inference_sees(small_onnx, tmp_path, rgb2bgr):
    """Images through dataset.txt into a graph with RKNN-style preprocessing (reorder 2 1 0,
    mean/std) and NHWC input: the graph input's statistics are those of the pixels OpenCV
    decodes, and the output's are those of onnxruntime running the original model on the
    pixels normalised by numpy."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the oracle")
    cv2 = pytest.importorskip("cv2", reason="OpenCV decodes the reference pixels")
    pre = {"input": Preprocess.from_rknn(mean_values=[MEAN], std_values=[STD],
                                         reorder_channel="2 1 0")}
    graph = npucc.compile(small_onnx, preprocess=pre, input_layout="NHWC").graph
    lines = []
    for i, rgb in enumerate(photos(6, size=(32, 32))):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.ascontiguousarray(rgb[:, :, ::-1]))
        lines.append(f"{i}.png")
    (tmp_path / "dataset.txt").write_text("\n".join(lines) + "\n")
    stats = calibrate(graph, tmp_path / "dataset.txt", rgb2bgr=rgb2bgr, progress=False)

    session = ort.InferenceSession(small_onnx, providers=["CPUExecutionProvider"])
    raw, outs = [], []
    for name in lines:
        bgr = cv2.imread(str(tmp_path / name)).astype(np.float32)
        fed = bgr if rgb2bgr else bgr[:, :, ::-1]  # what the model is given, NHWC
        raw.append(fed)
        model_in = fed[:, :, (2, 1, 0)]  # reorder_channel 2 1 0, then (x - mean) / std
        model_in = (model_in - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
        outs.append(session.run(None, {"input": model_in.transpose(2, 0, 1)[None]})[0])
    s_in = stats[graph.inputs[0].name]
    assert (s_in.min, s_in.max) == (float(np.min(raw)), float(np.max(raw)))
    assert s_in.mean_max == pytest.approx(np.mean([r.max() for r in raw]), rel=1e-12)
    s_out = stats[graph.outputs[0].name]
    span = float(np.max(outs) - np.min(outs))
    assert s_out.min == pytest.approx(float(np.min(outs)), abs=1e-5 * span)
    assert s_out.max == pytest.approx(float(np.max(outs)), abs=1e-5 * span)
    assert s_out.mean_min == pytest.approx(np.mean([o.min() for o in outs]), abs=1e-5 * span)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.pop("graph"), "malformed calibration statistics: KeyError: 'graph'"),
    (lambda m: m.update(version=True), "not npucc calibration statistics version 1"),
    (lambda m: m.update(histogram_sample=-5), "histogram_sample -5"),
    (lambda m: m["weights"][0].update(axis="0"), "weight axis '0'"),
    (lambda m: m["values"][0].update(shape="999"), "a name string and a shape list"),
    (lambda m: m["values"][0].update(count=12.7), "12.7 is not an integer"),  # not truncated
    (lambda m: m["values"][0].update(runs=True), "True is not an integer"),
    (lambda m: m["values"][0].update(sum_run_min=1.5), "1.5 is not an integer"),
])
def test_hostile_statistics_files_name_the_file(tmp_path, edit, message):
    """The metadata of a pair whose checksums match is still untrusted: a missing key or a value
    of the wrong type is a CalibrationError naming the .json, not a KeyError."""
    import hashlib
    import json

    from tests.fuzz.format_fixtures import stats_fixture

    npz = stats_fixture(tmp_path)
    js = npz.with_suffix(".json")
    meta = json.loads(js.read_text())
    edit(meta)
    meta["npz_sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    js.write_text(json.dumps(meta))
    with pytest.raises(CalibrationError, match=f"{re.escape(str(js))}.*{re.escape(message)}"):
        CalibrationStats.load(npz)
    js.write_text('{"a":' * 100000 + "1" + "}" * 100000)  # RecursionError in json
    with pytest.raises(CalibrationError, match=r"stats\.json / .*stats\.npz: RecursionError"):
        CalibrationStats.load(npz)
