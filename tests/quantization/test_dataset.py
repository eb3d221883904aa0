"""Calibration datasets: RKNN's dataset.txt rules, directories, iterables, .npy shape checks,
and images decoded as OpenCV decodes them (the oracle), resized like OpenCV's bilinear resize."""

import logging

import numpy as np
import pytest

import npucc
from npucc.ir.text import parse
from npucc.quantization import CalibrationError, Dataset, read_dataset_txt

from .conftest import photos

cv2 = pytest.importorskip("cv2", reason="OpenCV is the image-decoding oracle")
PIL = pytest.importorskip("PIL", reason="Pillow decodes the images")

NCHW = parse("graph g(%x: f32[1,3,32,32]) -> (%y) {\n  %y = Relu(%x) : f32[1,3,32,32]\n"
             "  return %y\n}")
TWO = parse("graph g(%a: f32[1,3,32,32], %b: f32[1,4]) -> (%y, %z) {\n"
            "  %y = Relu(%a) : f32[1,3,32,32]\n  %z = Relu(%b) : f32[1,4]\n  return %y, %z\n}")


def write_png(path, rgb: np.ndarray) -> str:
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))  # cv2 writes BGR
    return str(path)


def test_dataset_txt_lines_paths_and_comments(tmp_path):
    imgs = photos(2, size=(32, 32))
    (tmp_path / "sub").mkdir()
    a = write_png(tmp_path / "sub" / "a.png", imgs[0])
    b = write_png(tmp_path / "b.PNG", imgs[1])
    np.save(tmp_path / "v.npy", np.arange(4, dtype=np.float32))
    txt = tmp_path / "dataset.txt"
    txt.write_text(f"# calibration set\nsub/a.png v.npy\n\n{b} v.npy\n")
    entries = read_dataset_txt(txt)
    assert entries == [(tmp_path / "sub" / "a.png", tmp_path / "v.npy"),
                       (tmp_path / "b.PNG", tmp_path / "v.npy")]
    samples = list(Dataset(txt).samples(TWO))
    assert len(samples) == 2 and samples[0][0].shape == (1, 3, 32, 32)
    np.testing.assert_array_equal(samples[1][1], np.arange(4, dtype=np.float32)[None])
    assert a


def test_missing_file_names_the_txt_the_line_and_the_path(tmp_path):
    txt = tmp_path / "dataset.txt"
    txt.write_text("# header\n\nmissing.jpg\n")
    with pytest.raises(CalibrationError, match=r"dataset\.txt:3: no such file 'missing\.jpg'"):
        Dataset(txt)
    with pytest.raises(CalibrationError, match="no such dataset file"):
        Dataset(tmp_path / "nope.txt")


def test_sample_with_the_wrong_number_of_inputs(tmp_path):
    write_png(tmp_path / "a.png", photos(1, size=(32, 32))[0])
    (tmp_path / "d.txt").write_text("a.png\n")
    with pytest.raises(CalibrationError, match="takes 2 inputs"):
        list(Dataset(tmp_path / "d.txt").samples(TWO))


def test_directory_is_sorted(tmp_path):
    for name in ("c.png", "a.png", "b.npy"):
        if name.endswith(".npy"):
            np.save(tmp_path / name, np.zeros((1, 3, 32, 32), np.float32))
        else:
            write_png(tmp_path / name, photos(1, size=(32, 32))[0])
    (tmp_path / "notes.txt").write_text("not a sample")
    assert [e[0].name for e in Dataset(tmp_path).entries] == ["a.png", "b.npy", "c.png"]


@pytest.mark.parametrize("rgb2bgr", [False, True])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_images_decode_as_opencv_does(tmp_path, small_onnx, rgb2bgr, layout):
    graph = npucc.compile(small_onnx, input_layout=layout).graph
    rgb = photos(1, size=(32, 32))[0]
    for name in ("x.png", "x.bmp", "x.jpg"):
        path = write_png(tmp_path / name, rgb)
        bgr = cv2.imread(path, cv2.IMREAD_COLOR).astype(np.float32)
        want = bgr if rgb2bgr else bgr[:, :, ::-1]
        want = want[None] if layout == "NHWC" else want.transpose(2, 0, 1)[None]
        (got,) = next(Dataset([path], rgb2bgr=rgb2bgr).samples(graph))
        assert got.dtype == np.float32
        # JPEG decoders may differ by one level (IDCT rounding); lossless formats are exact
        np.testing.assert_allclose(got, want, atol=2 if name.endswith(".jpg") else 0)


def test_images_are_resized_bilinear_without_crop(tmp_path):
    rgb = photos(1, size=(20, 24))[0]  # upscaled to 32 x 32: Pillow's and OpenCV's agree
    path = write_png(tmp_path / "small.png", rgb)
    (got,) = next(Dataset([path]).samples(NCHW))
    want = cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    np.testing.assert_allclose(got[0].transpose(1, 2, 0), want, atol=1)


def test_npy_shapes(tmp_path, caplog):
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "nchw.npy", x)
    np.save(tmp_path / "chw.npy", x[0])
    np.save(tmp_path / "nhwc.npy", x.transpose(0, 2, 3, 1))
    np.save(tmp_path / "u8.npy", (x * 255).astype(np.uint8))
    np.save(tmp_path / "bad.npy", x[:, :, :16])
    with caplog.at_level(logging.INFO, logger="npucc.quantization"):
        got = [s[0] for s in Dataset([tmp_path / f for f in
                                      ("nchw.npy", "chw.npy", "nhwc.npy")]).samples(NCHW)]
    for g in got:
        np.testing.assert_array_equal(g, x)
    assert "NHWC arrays" in caplog.text and "nhwc.npy" in caplog.text
    (u8,) = next(Dataset([tmp_path / "u8.npy"]).samples(NCHW))
    assert u8.dtype == np.float32
    with pytest.raises(CalibrationError, match=r"bad\.npy: input %x expects shape \[1, 3, 32, 32\]"
                                               r" \(NCHW\), got \[1, 3, 16, 32\]"):
        list(Dataset([tmp_path / "bad.npy"]).samples(NCHW))
    (tmp_path / "dataset.txt").write_text("nchw.npy\nbad.npy\n")
    with pytest.raises(CalibrationError, match=r"dataset .*dataset\.txt, sample 2: .*bad\.npy: "
                                               r"input %x expects shape"):
        list(Dataset(tmp_path / "dataset.txt").samples(NCHW))


def test_iterables_of_arrays_tuples_and_dicts():
    a = np.ones((1, 3, 32, 32), np.float32)
    b = np.arange(4, dtype=np.float32)
    for item in [(a, b), {"a": a, "b": b}, [a[0], b[None]]]:
        (x, y), = list(Dataset([item]).samples(TWO))
        np.testing.assert_array_equal(x, a)
        np.testing.assert_array_equal(y, b[None])
    with pytest.raises(CalibrationError, match="dataset item 0: no array for inputs"):
        list(Dataset([{"a": a}]).samples(TWO))
    with pytest.raises(CalibrationError, match="got 1"):
        list(Dataset([a]).samples(TWO))
    with pytest.raises(CalibrationError, match="a dataset is"):
        Dataset(a)


def test_oversized_images_are_refused_before_decoding(tmp_path, monkeypatch):
    """An image's declared size is checked against limits.MAX_IMAGE_PIXELS from its header,
    before decoding; a decompression bomb (a 20000 x 20000 PNG of a few hundred KB) is an error
    naming the file, never a raw Pillow DecompressionBombError or gigabytes of pixels."""
    from PIL import Image

    from npucc import limits
    from npucc.quantization import CalibrationError

    Image.new("L", (20000, 20000)).save(tmp_path / "bomb.png")
    with pytest.raises(CalibrationError, match="cannot decode image .*bomb.png"):
        next(Dataset([tmp_path / "bomb.png"]).samples(NCHW))
    write_png(tmp_path / "big.png", photos(1, size=(100, 120))[0])
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(CalibrationError, match=r"big.png: image of 120 x 100 pixels is over"):
        next(Dataset([tmp_path / "big.png"]).samples(NCHW))


def test_hostile_dataset_txt_lines_and_files(tmp_path):
    """Special files named by a dataset.txt (or given as one) would be read forever: refused
    naming the txt and the line; a UTF-8 byte order mark (Windows editors) is not a path."""
    import os

    np.save(tmp_path / "v.npy", np.zeros((1, 3, 32, 32), np.float32))
    os.mkfifo(tmp_path / "fifo.npy")
    os.symlink("/dev/zero", tmp_path / "zero.npy")
    for name in ("fifo.npy", "zero.npy", "/dev/zero"):
        (tmp_path / "d.txt").write_text(f"v.npy\n{name}\n")
        with pytest.raises(CalibrationError, match=rf"d\.txt:2: not a regular file '{name}'"):
            Dataset(tmp_path / "d.txt")
    for name in ("fifo.npy", "zero.npy"):
        with pytest.raises(CalibrationError, match=rf"{name}: not a regular file"):
            read_dataset_txt(tmp_path / name)
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfv.npy\n")
    assert read_dataset_txt(tmp_path / "bom.txt") == [(tmp_path / "v.npy",)]


def test_broken_images_are_calibration_errors_naming_the_file(tmp_path):
    """Pillow reports some broken PNGs with SyntaxError or ValueError, not OSError."""
    from tests.fuzz.format_fixtures import dataset_fixture, load_dataset

    dataset_fixture(tmp_path)
    data = (tmp_path / "s2.png").read_bytes()
    for name, at, value, error in [("chunk.png", 36, 0x80, "SyntaxError: broken PNG file"),
                                   ("ihdr.png", 11, 12, "ValueError: Truncated IHDR chunk")]:
        bad = bytearray(data)
        bad[at] = value
        (tmp_path / name).write_bytes(bytes(bad))
        with pytest.raises(CalibrationError, match=rf"cannot decode image .*{name}: {error}"):
            load_dataset(tmp_path / name)


def test_raw_binary_files_as_hb_mapper_writes_them(tmp_path):
    """numpy `tofile` samples (no header): float32 or uint8, in the file's own layout, any name,
    in a directory or a dataset.txt; the size must be exactly the input's."""
    from npucc.quantization.dataset import RawFormat

    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (1, 3, 32, 32)).astype(np.float32)
    (tmp_path / "d").mkdir()
    x.tofile(tmp_path / "d" / "a.rgbchw")
    x.transpose(0, 2, 3, 1).astype(np.uint8).tofile(tmp_path / "d" / "b.bin")
    (tmp_path / "d" / ".hidden").write_bytes(b"\0")  # not a sample
    (tmp_path / "dataset.txt").write_text("d/a.rgbchw\n")
    (a,) = next(Dataset(tmp_path / "dataset.txt", raw=RawFormat("float32", "NCHW")).samples(NCHW))
    np.testing.assert_array_equal(a, x)
    (b,) = next(Dataset([tmp_path / "d" / "b.bin"], raw=RawFormat("uint8", "NHWC"))
                .samples(NCHW))
    np.testing.assert_array_equal(b, x)
    flipped = RawFormat("float32", "NCHW", reverse_channels=True)
    (c,) = next(Dataset([tmp_path / "d" / "a.rgbchw"], raw=flipped).samples(NCHW))
    np.testing.assert_array_equal(c, x[:, ::-1])
    ds = Dataset(tmp_path / "d", raw=RawFormat("float32", "NCHW"))
    assert [p[0].name for p in ds.entries] == ["a.rgbchw", "b.bin"]
    with pytest.raises(CalibrationError, match=r"raw sample .*b\.bin holds 3072 bytes; input "
                                               r"%x \[1, 3, 32, 32\] float32 \(NCHW\) takes "
                                               r"12288"):
        list(ds.samples(NCHW))
    x.tofile(tmp_path / "big.bin")
    with pytest.raises(CalibrationError, match=r"big\.bin for input %x \[1, 3, 32, 32\] uint8 "
                                               r"\(NCHW\), 3072 bytes: 12288 bytes, over the "
                                               r"limit of 3072"):
        list(Dataset([tmp_path / "big.bin"], raw=RawFormat("uint8")).samples(NCHW))
    with pytest.raises(CalibrationError, match=r"is not one of"):  # raw needs the option
        Dataset(tmp_path / "dataset.txt")
    (tmp_path / "z.bin").symlink_to("/dev/zero")
    (tmp_path / "zero.txt").write_text("z.bin\n")
    with pytest.raises(CalibrationError, match=r"zero\.txt:1: not a regular file 'z\.bin'"):
        Dataset(tmp_path / "zero.txt", raw=RawFormat("uint8"))
