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
