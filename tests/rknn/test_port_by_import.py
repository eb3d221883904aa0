"""RKNN-Toolkit example scripts run unchanged but for their import line, on models made here;
their outputs are checked against the framework's own runtime (onnxruntime, OpenCV dnn, LiteRT,
torch) on the same preprocessed image: close for float builds (RKNN builds float models in
float16), cosine-close for quantized builds."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from npucc.frontends import caffe, darknet
from tests.frontends.caffe.conftest import write_caffemodel
from tests.frontends.darknet.conftest import MODELS as DARKNET_MODELS
from tests.frontends.darknet.conftest import write_weights

from .conftest import cosine, rel_err, run_script, write_images

HERE = Path(__file__).resolve().parent
torch = pytest.importorskip("torch", reason="torch (test extra) makes the ONNX/PyTorch models")
nn = torch.nn

pytestmark = pytest.mark.slow


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


def small_resnet():
    """A ResNet-18-shaped net (stem, basic blocks with downsampling shortcuts, pooled head)."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                      nn.MaxPool2d(3, 2, 1), Block(16, 16, 1), Block(16, 32, 2),
                      Block(32, 64, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(64, 100))
    for mod in m.modules():  # non-trivial BatchNorm statistics
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


def rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32)


def test_onnx_resnet_quantized_follows_onnxruntime(tmp_path, monkeypatch, capsys):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")
    torch.onnx.export(small_resnet(), torch.zeros(1, 3, 64, 64), tmp_path / "resnet.onnx",
                      input_names=["input"], dynamo=False)
    write_images(tmp_path, (64, 64), 8)
    ns = run_script("onnx_resnet.py", tmp_path, monkeypatch)
    x = ((rgb(tmp_path / "img_0.jpg") - [123.675, 116.28, 103.53]) / 58.82)
    sess = ort.InferenceSession(str(tmp_path / "resnet.onnx"), providers=["CPUExecutionProvider"])
    (want,) = sess.run(None, {"input": x.transpose(2, 0, 1)[None].astype(np.float32)})
    got = ns["outputs"][0]
    assert got.shape == want.shape and cosine(got, want) > 0.99
    out = capsys.readouterr().out
    assert "-----TOP 5-----" in out and "I build: quantizing to i8" in out
    assert (tmp_path / "resnet.rknn").read_bytes()[:4] != b"RKNN"  # an npucc blob
    assert ns["perf"].startswith("Performance estimated") and ns["memory"]["total_memory"] > 0


def test_caffe_mobilenet_with_channel_mean_value_follows_opencv(tmp_path, monkeypatch):
    proto = tmp_path / "mobilenet_v2.prototxt"
    shutil.copy(HERE / "mobilenet_v2_mini.prototxt", proto)
    write_caffemodel(tmp_path / "mobilenet_v2.caffemodel", caffe.random_blobs(proto, seed=1))
    write_images(tmp_path, (64, 64), 8)
    ns = run_script("caffe_mobilenet.py", tmp_path, monkeypatch)
    net = cv2.dnn.readNetFromCaffe(str(proto), str(tmp_path / "mobilenet_v2.caffemodel"))
    bgr = cv2.imread(str(tmp_path / "img_0.jpg"))
    # RKNN: RGB input, reorder '2 1 0' (to BGR), then (x - M) / S: OpenCV's blob of the BGR image
    net.setInput(cv2.dnn.blobFromImage(bgr, 1 / 58.82, mean=(103.94, 116.78, 123.68)))
    want = net.forward()
    got = ns["outputs"][0]
    assert got.shape == want.shape and cosine(got, want) > 0.98


def test_darknet_yolov3_tiny_with_a_dataset_follows_opencv(tmp_path, monkeypatch):
    cfg = tmp_path / "yolov3-tiny.cfg"
    text = (DARKNET_MODELS / "yolov3-tiny.cfg").read_text()
    cfg.write_text(text.replace("width=416", "width=160").replace("height=416", "height=160"))
    weights = write_weights(tmp_path / "yolov3-tiny.weights",
                            darknet.random_weights(cfg, seed=2))
    write_images(tmp_path, (120, 150), 6)
    ns = run_script("darknet_yolov3.py", tmp_path, monkeypatch)
    names = [v.name for v in darknet.load(cfg, weights).outputs]
    ours = dict(zip(names, ns["outputs"]))
    heads = sorted({int(k.split("_")[0]) for k in names})
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    img = cv2.resize(rgb(tmp_path / "img_1.jpg"), (160, 160)) / 255.0  # channel_mean '0 0 0 255'
    net.setInput(img.transpose(2, 0, 1)[None].astype(np.float32))
    theirs = net.forward([f"conv_{i - 1}" for i in heads])
    for i, want in zip(heads, theirs):
        got = ours[f"{i}_raw"].reshape(want.shape)
        assert cosine(got, want) > 0.98, f"head {i}"


def test_tflite_mobilenet_float_build_follows_litert(tmp_path, monkeypatch):
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (test extra) is the oracle")
    from tests.frontends.tflite.oracle import litert

    src = HERE.parent / "fixtures" / "tf" / "mobilenet_v2_float.tflite"
    shutil.copy(src, tmp_path / "mobilenet.tflite")
    write_images(tmp_path, (96, 96), 2)
    ns = run_script("tflite_mobilenet.py", tmp_path, monkeypatch)
    x = ((rgb(tmp_path / "img_0.jpg") - 128) / 128)[None].astype(np.float32)
    (want,), _ = litert(tmp_path / "mobilenet.tflite", [x])
    got = ns["outputs"][0]
    # float16 build (RKNN's float build): a few % on the softmax; float32 is exact below
    assert got.shape == want.shape and cosine(got, want) > 0.999 and rel_err(got, want) < 5e-2


def test_float32_build_matches_litert_tightly(tmp_path):
    """npucc's float_dtype='float32' extension: the preprocessing and layout handling are exact."""
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (test extra) is the oracle")
    from npucc.rknn import RKNN
    from tests.frontends.tflite.oracle import litert

    src = HERE.parent / "fixtures" / "tf" / "mobilenet_v2_float.tflite"
    x = np.random.default_rng(0).uniform(0, 255, (1, 96, 96, 3)).astype(np.float32)
    (want,), _ = litert(src, [(x - 128) / 128])
    rknn = RKNN(raise_errors=True)
    rknn.config(channel_mean_value="128 128 128 128", float_dtype="float32")
    rknn.load_tflite(src)
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    assert rel_err(rknn.inference([x])[0], want) < 1e-4
    assert rel_err(rknn.inference([x.transpose(0, 3, 1, 2)], data_format="nchw")[0], want) < 1e-4


def test_pytorch_resnet_float_build_follows_torch(tmp_path, monkeypatch):
    model = small_resnet()
    torch.jit.trace(model, torch.zeros(1, 3, 64, 64)).save(str(tmp_path / "resnet.pt"))
    write_images(tmp_path, (64, 64), 2)
    ns = run_script("pytorch_resnet.py", tmp_path, monkeypatch)
    x = (rgb(tmp_path / "img_0.jpg") - [123.675, 116.28, 103.53]) / 58.395
    with torch.no_grad():
        want = model(torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))).numpy()
    got = ns["outputs"][0]
    assert got.shape == want.shape and rel_err(got, want) < 2e-2  # float16 build


def test_v1_caffe_without_reorder_channel_reverses_the_channels(tmp_path):
    """RKNN-Toolkit v1: reorder_channel=None on a 3-channel Caffe model means 'reverse the
    channels' (the RGB input becomes Caffe's BGR): OpenCV's blob with swapRB of the RGB image."""
    from npucc.rknn import RKNN

    proto = HERE / "mobilenet_v2_mini.prototxt"
    weights = write_caffemodel(tmp_path / "m.caffemodel", caffe.random_blobs(proto, seed=3))
    rknn = RKNN(raise_errors=True)
    rknn.config(mean_values=[[103.94, 116.78, 123.68]], std_values=[[58.82]],
                target_platform=["rk1808"], float_dtype="float32")
    rknn.load_caffe(proto, "caffe", weights)
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    img = np.random.default_rng(4).uniform(0, 255, (64, 64, 3)).astype(np.float32)
    net = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
    net.setInput(cv2.dnn.blobFromImage(img, 1 / 58.82, mean=(103.94, 116.78, 123.68),
                                       swapRB=True))
    assert rel_err(rknn.inference([img])[0], net.forward()) < 1e-4


def test_load_tensorflow_v1_arguments_follow_tensorflow(tmp_path):
    """RKNN v1's load_tensorflow(tf_pb, inputs, input_size_list (NHWC, no batch), outputs) on a
    committed frozen graph; the reference outputs were computed by TensorFlow
    (scripts/gen_tf_fixtures.py)."""
    from npucc.rknn import RKNN

    data = np.load(HERE.parent / "fixtures" / "tf" / "mobilenet_v2_pb.npz")
    x = data["input_0"]
    rknn = RKNN(raise_errors=True)
    rknn.config(mean_values=[[0, 0, 0]], std_values=[[1, 1, 1]], target_platform=["rk1808"],
                float_dtype="float32")
    rknn.load_tensorflow(tf_pb=str(HERE.parent / "fixtures" / "tf" / "mobilenet_v2_pb.pb"),
                         inputs=[str(n) for n in data["input_names"]],
                         input_size_list=[list(x.shape[1:])],
                         outputs=[str(n) for n in data["output_names"]])
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    assert rel_err(rknn.inference([x[0]])[0], data["expected_0"]) < 1e-4


# ---- the call shapes of more RKNN-Toolkit scripts (sources named in each script's header) ----

def ort_session(path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


class ThreeHeads(nn.Module):
    """A YOLOv5-shaped net: three detection heads (3 anchors x (5 + 2 classes)) at strides 2, 4
    and 8."""

    def __init__(self):
        super().__init__()
        self.s1 = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.SiLU())
        self.s2 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.SiLU())
        self.s3 = nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), nn.SiLU())
        self.heads = nn.ModuleList(nn.Conv2d(c, 21, 1) for c in (8, 16, 16))

    def forward(self, x):
        a = self.s1(x)
        b = self.s2(a)
        c = self.s3(b)
        return tuple(h(f) for h, f in zip(self.heads, (a, b, c)))


def test_toolkit2_onnx_yolov5_three_heads_follow_onnxruntime(tmp_path, monkeypatch):
    torch.manual_seed(3)
    torch.onnx.export(ThreeHeads().eval(), torch.zeros(1, 3, 64, 64), tmp_path / "yolo.onnx",
                      input_names=["images"], output_names=["o0", "o1", "o2"], dynamo=False)
    write_images(tmp_path, (80, 96), 6)
    ns = run_script("onnx_yolov5.py", tmp_path, monkeypatch)
    img = cv2.resize(rgb(tmp_path / "img_0.jpg").astype(np.uint8), (64, 64)) / 255.0
    want = ort_session(tmp_path / "yolo.onnx").run(
        None, {"images": img.transpose(2, 0, 1)[None].astype(np.float32)})
    got = [np.load(tmp_path / f"onnx_yolov5_{i}.npy") for i in range(3)]
    for g, w in zip(got, want):
        assert g.shape == w.shape and cosine(g, w) > 0.99
    assert ns["input_data"][0].shape == (32, 32, 3, 7)


@pytest.mark.parametrize("platform, dtype", [("rk3566", "i8"), ("rk1808", "fp")])
def test_model_zoo_convert_then_executor_demo(tmp_path, monkeypatch, capsys, platform, dtype):
    """convert.py (RKNPU1: input_size_list without the batch) writes the model; the demo loads it
    with rknn_executor's container, whose init_runtime(target=platform) runs the simulator."""
    torch.onnx.export(small_resnet(), torch.zeros(1, 3, 64, 64), tmp_path / "resnet.onnx",
                      input_names=["data"], dynamo=False)
    write_images(tmp_path, (64, 64), 6)
    monkeypatch.setattr("sys.argv", ["convert.py", "resnet.onnx", platform, dtype, "m.rknn"])
    run_script("zoo_convert.py", tmp_path, monkeypatch)
    monkeypatch.setattr("sys.argv", ["resnet.py", "m.rknn", platform])
    ns = run_script("zoo_executor.py", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert f"W init_runtime: target='{platform}': npucc has no device runtime" in out
    assert "-----TOP 5-----" in out and not any(x.startswith("E ") for x in out.splitlines())
    x = (rgb(tmp_path / "img_0.jpg") / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    (want,) = ort_session(tmp_path / "resnet.onnx").run(
        None, {"data": x.transpose(2, 0, 1)[None].astype(np.float32)})
    got = ns["outputs"][0]
    assert got.shape == want.shape
    assert cosine(got, want) > 0.99 if dtype == "i8" else rel_err(got, want) < 2e-2


def test_v1_single_channel_mnist_follows_torch(tmp_path, monkeypatch):
    torch.manual_seed(4)
    m = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(8 * 13 * 13, 10)).eval()
    torch.jit.trace(m, torch.zeros(1, 1, 28, 28)).save(str(tmp_path / "mnist_cnn.pt"))
    yy, xx = np.mgrid[0:28, 0:28]
    digit = (255 * (np.hypot(yy - 14, xx - 14) < 8) * (np.abs(yy - 14) > 2)).astype(np.uint8)
    np.save(tmp_path / "test.npy", digit.reshape(28, 28, 1))
    ns = run_script("v1_mnist.py", tmp_path, monkeypatch)
    with torch.no_grad():
        want = m(torch.from_numpy(((digit / 255.0 - 0.1307) / 0.3081)[None, None]
                                  .astype(np.float32))).numpy()
    got = ns["outputs"][0]
    assert got.shape == want.shape and cosine(got, want) > 0.99


class FourInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, img, f1, f2, gray):
        return torch.relu(self.a(img) + 0.5 * self.a(f1) - self.a(f2) + self.b(gray))


def test_toolkit2_multi_input_follows_onnxruntime(tmp_path, monkeypatch):
    torch.manual_seed(5)
    torch.onnx.export(FourInputs().eval(), (torch.zeros(1, 3, 32, 32),) * 3 +
                      (torch.zeros(1, 1, 32, 32),), tmp_path / "conv_4in.onnx",
                      input_names=["input1", "input2", "input3", "input4"],
                      output_names=["output"], dynamo=False)
    write_images(tmp_path, (32, 32), 4)
    rng = np.random.default_rng(6)
    rows = []
    for k in range(4):  # calibration: NHWC .npy for the float inputs (RKNN's rule)
        for name in ("input2", "input3"):
            np.save(tmp_path / f"{name}_{k}.npy", rng.normal(0, 1, (32, 32, 3)).astype(np.float32))
        cv2.imwrite(str(tmp_path / f"gray_{k}.png"), rng.integers(0, 256, (32, 32), np.uint8))
        rows.append(f"img_{k}.jpg input2_{k}.npy input3_{k}.npy gray_{k}.png\n")
    (tmp_path / "dataset_4in.txt").write_text("".join(rows))
    shutil.copy(tmp_path / "input2_0.npy", tmp_path / "input2.npy")
    shutil.copy(tmp_path / "input3_1.npy", tmp_path / "input3.npy")
    shutil.copy(tmp_path / "gray_2.png", tmp_path / "gray.png")
    ns = run_script("multi_input.py", tmp_path, monkeypatch)
    gray = cv2.imread(str(tmp_path / "gray.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    feeds = {"input1": ((rgb(tmp_path / "img_0.jpg") - 127.5) / 128).transpose(2, 0, 1)[None],
             "input2": np.load(tmp_path / "input2.npy").transpose(2, 0, 1)[None],
             "input3": np.load(tmp_path / "input3.npy").transpose(2, 0, 1)[None],
             "input4": ((gray - 127.5) / 128)[None, None]}
    (want,) = ort_session(tmp_path / "conv_4in.onnx").run(
        None, {k: v.astype(np.float32) for k, v in feeds.items()})
    got = ns["outputs"][0]
    assert got.shape == want.shape and cosine(got, want) > 0.99


class Decoder(nn.Module):
    """MobileSAM's decoder interface: embeddings, point coordinates and labels, a mask input and
    its flag; two outputs."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(8, 16)
        self.conv = nn.Conv2d(16, 4, 3, padding=1)
        self.mask = nn.Conv2d(1, 4, 3, stride=2, padding=1)

    def forward(self, embeds, coords, labels, mask, has_mask):
        tokens = self.emb(labels.long()).mean(1) + coords.mean((1, 2))[:, None]
        feats = self.conv(embeds) + self.mask(mask) * has_mask
        iou = (feats.mean((2, 3)) * tokens[:, :4]).relu()
        low = torch.nn.functional.interpolate(feats, scale_factor=2.0, mode="bilinear")
        return iou, low


def test_model_zoo_mobilesam_decoder_follows_onnxruntime(tmp_path, monkeypatch):
    torch.manual_seed(7)
    args = (torch.zeros(1, 16, 8, 8), torch.zeros(1, 2, 2), torch.zeros(1, 2),
            torch.zeros(1, 1, 16, 16), torch.ones(1))
    names = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"]
    torch.onnx.export(Decoder().eval(), args, tmp_path / "decoder.onnx", input_names=names,
                      output_names=["iou_predictions", "low_res_masks"], dynamo=False)
    embeds = np.random.default_rng(8).normal(0, 1, (1, 16, 8, 8)).astype(np.float32)
    np.save(tmp_path / "embeds.npy", embeds)
    ns = run_script("mobilesam_decoder.py", tmp_path, monkeypatch)
    feeds = dict(zip(names, [embeds, np.array([[[10.0, 20.0], [30.0, 5.0]]], np.float32),
                             np.array([[2, 3]], np.float32),
                             np.zeros((1, 1, 16, 16), np.float32), np.zeros(1, np.float32)]))
    want = ort_session(tmp_path / "decoder.onnx").run(None, feeds)
    for got, w in zip((ns["iou_predictions"], ns["low_res_masks"]), want):
        assert got.shape == w.shape and rel_err(got, w) < 2e-2  # a float16 build


def test_toolkit2_dynamic_input_runs_every_shape_set(tmp_path, monkeypatch, capsys):
    """config(dynamic_input=...): one model per shape set, calibrated at the largest (RKNN's
    MaxShape); each inference runs the set its input fits, checked against onnxruntime."""
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1),
                      nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()
    torch.onnx.export(m, torch.zeros(1, 3, 64, 64), tmp_path / "dyn.onnx", input_names=["x"],
                      dynamo=False, dynamic_axes={"x": {2: "h", 3: "w"}})
    write_images(tmp_path, (64, 64), 6)
    ns = run_script("dynamic_input.py", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "I dynamic_input: loading at the largest shape set [[1, 3, 64, 64]]" in out
    assert "W export_rknn: dynamic_input: the blob holds the largest shape set only" in out
    sess = ort_session(tmp_path / "dyn.onnx")
    bgr = cv2.imread(str(tmp_path / "img_0.jpg"))
    for size in (32, 48, 64):
        x = (cv2.resize(bgr, (size, size)) - [103.94, 116.78, 123.68]) / 58.82
        (want,) = sess.run(None, {"x": x.transpose(2, 0, 1)[None].astype(np.float32)})
        got = ns["results"][size]
        assert got.shape == want.shape and cosine(got, want) > 0.99, size


def test_toolkit_lite_board_script_runs_on_the_simulator(tmp_path, monkeypatch, capsys):
    """rknn-toolkit-lite2's on-board example (`from rknnlite.api import RKNNLite`) on a PC: the
    model convert.py wrote for rk3566 loads, init_runtime() runs the simulator, and the top-5
    comes from outputs that follow onnxruntime."""
    torch.onnx.export(small_resnet(), torch.zeros(1, 3, 64, 64), tmp_path / "resnet.onnx",
                      input_names=["data"], dynamo=False)
    write_images(tmp_path, (64, 64), 6)
    monkeypatch.setattr("sys.argv", ["convert.py", "resnet.onnx", "rk3566", "i8",
                                     "resnet_for_rk3566_rk3568.rknn"])
    run_script("zoo_convert.py", tmp_path, monkeypatch)
    capsys.readouterr()
    ns = run_script("lite_resnet.py", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "-----TOP 5-----" in out and not any(x.startswith("E ") for x in out.splitlines())
    x = (rgb(tmp_path / "img_0.jpg") / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    (want,) = ort_session(tmp_path / "resnet.onnx").run(
        None, {"data": x.transpose(2, 0, 1)[None].astype(np.float32)})
    got = ns["outputs"][0]
    assert got.shape == want.shape and cosine(got, want) > 0.99
    top = np.argsort(got.reshape(-1))[::-1][:5]
    assert f"[{top[0]}] score:" in out.split("-----TOP 5-----")[1].splitlines()[1]
