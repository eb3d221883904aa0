"""Rendered text inputs for the PP-OCR quantization benchmark (benchmarks/quant_accuracy_ocr.py).

Pages for the detector: lines of words in the DejaVu fonts (14-56 px, dark on light, light on
dark, or on a plate over a photo), a quarter of them rotated (+-35 or 90 degrees), on a flat
colour, a noisy gradient or a crop of a scikit-image / darknet photo. Lines for the direction
classifier: one line each, cropped to its box, half of them turned 180 degrees. Everything is
drawn from a seed, so calibration and evaluation sets are disjoint and the same every run.
"""

from __future__ import annotations

import math
import os

import numpy as np

FONTS = "/usr/share/fonts/truetype/dejavu"
WORDS = ("npucc", "quantize", "Rockchip", "2026", "EfficientNet", "calibration", "tensor",
         "ReLU6", "hello world", "0.75 dB", "depthwise", "NPU", "int8", "ONNX", "Model 42",
         "invoice", "TOTAL", "$19.99", "Straße", "kilogram", "Monday", "ticket", "No. 7731",
         "www.example.org", "PARKING", "open 9-17", "exit", "café", "A4 paper", "receipt",
         "convolution", "(+49) 30 1234", "SALE -30%", "platform 3", "vegetables", "ISBN",
         "quick brown fox", "lazy dog", "π ≈ 3.1416", "Ωμέγα", "Привет", "e-mail")


def _faces() -> list[str]:
    return sorted(os.path.join(FONTS, f) for f in os.listdir(FONTS)
                  if f.endswith(".ttf") and "Math" not in f)


def _phrase(rng) -> str:
    words = [str(w) for w in rng.choice(WORDS, int(rng.integers(1, 5)))]
    if rng.random() < 0.3:
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghkmnpqrstuvwxyz0123456789"
        words.append("".join(rng.choice(list(letters), int(rng.integers(3, 9)))))
    return " ".join(words)


def _background(rng, size, photos):
    from PIL import Image

    w, h = size
    kind = rng.integers(3)
    if kind == 0:
        light = rng.random() < 0.7
        lo, hi = (170, 256) if light else (0, 80)
        return Image.new("RGB", size, tuple(int(v) for v in rng.integers(lo, hi, 3)))
    if kind == 1:
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0, 1, w if rng.integers(2) else h)
        ramp = a[None] * (1 - t[:, None]) + b[None] * t[:, None]
        img = np.broadcast_to(ramp[None], (h, w, 3)) if len(t) == w else \
            np.broadcast_to(ramp[:, None], (h, w, 3))
        img = img + rng.normal(0, 6, (h, w, 3))
        return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    p = photos[rng.integers(len(photos))]
    ph, pw = p.shape[:2]
    s = int(min(ph, pw) * rng.uniform(0.4, 1.0))
    y, x = rng.integers(0, ph - s + 1), rng.integers(0, pw - s + 1)
    return Image.fromarray(p[y:y + s, x:x + s]).resize(size, Image.BILINEAR)


def _ink(rng, img, box):
    """a text colour that contrasts with the mean colour under `box`"""
    region = np.asarray(img.crop(box), np.float32)
    light = region.mean() > 110 if region.size else True
    lo, hi = (0, 70) if light else (190, 256)
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _draw_line(rng, img, faces) -> None:
    from PIL import Image, ImageDraw, ImageFont

    w, h = img.size
    font = ImageFont.truetype(faces[rng.integers(len(faces))], int(rng.integers(14, 57)))
    text = _phrase(rng)
    left, top, right, bottom = font.getbbox(text)
    tw, th = right - left + 8, bottom - top + 8
    layer = Image.new("RGBA", (tw, th), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    x0 = int(rng.integers(0, max(w - tw, 1)))
    y0 = int(rng.integers(0, max(h - th, 1)))
    if rng.random() < 0.25:  # a plate (sign, label) behind the text
        plate = tuple(int(v) for v in rng.integers(0, 256, 3)) + (255,)
        draw.rectangle((0, 0, tw, th), fill=plate)
        ink = (0, 0, 0) if sum(plate[:3]) > 380 else (255, 255, 255)
    else:
        ink = _ink(rng, img, (x0, y0, x0 + tw, y0 + th))
    draw.text((4 - left, 4 - top), text, font=font, fill=ink + (255,))
    if rng.random() < 0.25:
        angle = 90.0 if rng.random() < 0.2 else float(rng.uniform(-35, 35))
        layer = layer.rotate(angle, expand=True, resample=Image.BICUBIC)
        x0 = int(rng.integers(0, max(w - layer.width, 1)))
        y0 = int(rng.integers(0, max(h - layer.height, 1)))
    img.paste(layer, (x0, y0), layer)


def _bgr_nchw(img) -> np.ndarray:
    """PP-OCR's preprocessing: BGR, (x / 255 - 0.5) / 0.5, NCHW"""
    a = np.asarray(img, np.float32)[..., ::-1] / 255.0
    return ((a - 0.5) / 0.5).transpose(2, 0, 1)[None].astype(np.float32)


def text_pages(n: int, seed: int, size: int, photos) -> list[np.ndarray]:
    """n detector inputs (1, 3, size, size) with 3-9 text lines each"""
    faces = _faces()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = _background(rng, (size, size), photos)
        for _ in range(int(rng.integers(3, 10))):
            _draw_line(rng, img, faces)
        out.append(_bgr_nchw(img))
    return out


def text_lines(n: int, seed: int, photos, height: int = 48, width: int = 192):
    """n classifier inputs (1, 3, 48, 192), resized and zero-padded as rapidocr's TextClassifier
    does, and their true direction labels (0 = upright, 1 = turned 180 degrees); half of each."""
    from PIL import Image, ImageDraw, ImageFont

    faces = _faces()
    rng = np.random.default_rng(seed)
    inputs, labels = [], []
    for i in range(n):
        font = ImageFont.truetype(faces[rng.integers(len(faces))], int(rng.integers(20, 44)))
        text = " ".join(_phrase(rng).split()[:3])
        left, top, right, bottom = font.getbbox(text)
        m = int(rng.integers(2, 10))
        size = (right - left + 2 * m, bottom - top + 2 * m)
        img = _background(rng, size, photos)
        ImageDraw.Draw(img).text((m - left, m - top), text, font=font,
                                 fill=_ink(rng, img, (0, 0, *size)))
        flipped = i % 2 == 1
        if flipped:
            img = img.rotate(180)
        resized_w = min(width, int(math.ceil(height * img.width / img.height)))
        a = _bgr_nchw(img.resize((resized_w, height), Image.BILINEAR))
        padded = np.zeros((1, 3, height, width), np.float32)
        padded[..., :resized_w] = a
        inputs.append(padded)
        labels.append(int(flipped))
    return inputs, np.array(labels)
