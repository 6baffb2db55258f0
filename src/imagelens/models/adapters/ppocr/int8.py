"""int8 PP-OCR: static QDQ copies of the detector (by default) and recogniser (opt-in), calibrated on synthetic text.

The detector runs in int8 by default: on the 25 SROIE receipts word F1 is not lower (0.918 vs 0.917) and the
detector costs about half the CPU. With the recogniser in int8 too, word F1 falls to 0.896, so that is opt-in:
``IMAGELENS_PPOCR_INT8=all`` or ``IMAGELENS_HUB__QUANTIZE='["ppocr-v6-small"]'`` (the hub then sets the spec
option ``quantize``); ``IMAGELENS_PPOCR_INT8=none`` keeps both in fp32 (docs/ocr_speed.md).

PP-OCR is mostly convolutions, which onnxruntime only runs in int8 with fixed activation scales (unlike the torch
models' dynamic quantisation): so the ``Conv``/``MatMul`` weights become int8 per output channel and the
activation ranges come from a calibration pass over **synthetic** receipt-like text (random letters, digits and
punctuation rendered with the machine's TrueType fonts, else Pillow's own; blur and noise), never the benchmark's
receipts. Built once per source file (sha256) and recipe, under ``$XDG_CACHE_HOME/imagelens/ppocr-int8`` (or
``IMAGELENS_PPOCR_INT8_DIR``), written atomically. Speed and F1 of each mode: ``benchmarks/ocr_sroie.md``.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.ppocr.pipeline import REC_HEIGHT, REC_MIN_WIDTH
from imagelens.models.adapters.quantize import quantize_mode
from imagelens.models.caches import user_cache_dir
from imagelens.models.spec import ModelSpec

Part = Literal["det", "rec"]
#: the parts loaded in int8 when the hub is told to quantise (the direction classifier is too small to matter)
INT8_PARTS: tuple[Part, ...] = ("det", "rec")
#: which parts run in int8: "none" (default: the fp32 models as shipped), "det" (word F1 0.918 vs 0.917 on SROIE,
#: -48 % detector CPU, but the readings move with the calibration fonts of the machine and the first load builds it)
#: or "all" (det + rec: faster, lower F1, like IMAGELENS_HUB__QUANTIZE)
INT8_ENV = "IMAGELENS_PPOCR_INT8"
_MODES: dict[str, tuple[Part, ...]] = {"none": (), "det": ("det",), "all": INT8_PARTS}
#: models whose int8 detector was measured to keep word F1 (benchmarks/ocr_sroie.md)
MEASURED_DET_INT8 = frozenset({"ppocr-v6-small"})
RECIPE = "qdq-u8s8-perchannel-minmax-synthetic-v1"
REC_BATCHES = 24  # calibration: batches of 6 synthetic lines for the recogniser
DET_PAGES = 6  # calibration: synthetic pages for the detector
_MIN_OPSET = 13  # per-channel DequantizeLinear needs its ``axis`` attribute (opset 13)
_ALPHABET = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 3
    + "abcdefghijklmnopqrstuvwxyz"
    + "0123456789" * 3
    + " " * 12
    + ".,:-/#()*%&@$+"
)
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")


def int8_parts(spec: ModelSpec) -> tuple[Part, ...]:
    """The parts to load in int8: all of them when the hub quantises the model, else ``IMAGELENS_PPOCR_INT8``
    (unset: none, so that a fresh machine reads exactly what the shipped models read, with no build at first load)."""
    if quantize_mode(spec) is not None:
        return INT8_PARTS
    mode = os.environ.get(INT8_ENV, "").strip().lower()
    if not mode:
        return ()
    if mode not in _MODES:
        raise InvalidArgumentError(f"{INT8_ENV} must be one of {', '.join(_MODES)}, got {mode!r}")
    return _MODES[mode]


def cache_root() -> Path:
    return user_cache_dir("ppocr-int8", "IMAGELENS_PPOCR_INT8_DIR")


def int8_model(src: Path, part: Part, cache_dir: Path | None = None) -> Path:
    """The int8 copy of ``src`` (a PP-OCR ``det`` or ``rec`` ONNX file), built on first use and cached."""
    digest = hashlib.sha256(Path(src).read_bytes()).hexdigest()[:16]
    recipe = hashlib.sha256(f"{RECIPE}-{REC_BATCHES}-{DET_PAGES}".encode()).hexdigest()[:8]
    out = (cache_dir or cache_root()) / f"{part}-{digest}-{recipe}.onnx"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        built = _quantize(Path(src), part, Path(tmp))
        os.replace(built, out)  # atomic: a concurrent builder's file is as good as ours
    return out


def _quantize(src: Path, part: Part, tmp: Path) -> Path:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), _MIN_OPSET)
    if opset < _MIN_OPSET:
        model = version_converter.convert_version(model, _MIN_OPSET)
    upgraded, prepared, quantized = tmp / "upgraded.onnx", tmp / "prepared.onnx", tmp / "int8.onnx"
    onnx.save(model, str(upgraded))
    quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
    name = model.graph.input[0].name
    inputs = calibration_rec_batches(REC_BATCHES) if part == "rec" else calibration_det_pages(DET_PAGES)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it: Iterator[npt.NDArray[np.float32]] = iter(inputs)

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            x = next(self._it, None)
            return None if x is None else {name: x}

    quantize_static(
        str(prepared),
        str(quantized),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    return quantized


# --- calibration data (synthetic, deterministic for a given set of fonts) ------------------------------------------


def _fonts() -> list[Path]:
    found: list[Path] = []
    for root in _FONT_DIRS:
        if Path(root).is_dir():
            found.extend(p for p in Path(root).rglob("*.ttf") if p.is_file())
    return sorted(found)[:64]


def synthetic_line(rng: random.Random, fonts: list[Path]) -> npt.NDArray[np.uint8]:
    """One BGR crop of random receipt-like text, dark on a light background, maybe blurred, with noise."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    size = rng.randint(18, 40)
    font = ImageFont.truetype(str(rng.choice(fonts)), size) if fonts else ImageFont.load_default(size=size)
    text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(2, 40))).strip() or "TOTAL"
    left, top, right, bottom = (int(v) for v in font.getbbox(text))
    width, height = right - left + rng.randint(4, 20), bottom - top + rng.randint(4, 14)
    bg, fg = rng.randint(170, 255), rng.randint(0, 90)
    img = Image.new("RGB", (max(width, 8), max(height, 8)), (bg, bg, bg))
    ImageDraw.Draw(img).text(
        (rng.randint(1, 8) - left, rng.randint(1, 6) - top), text, font=font, fill=(fg, fg, fg)
    )
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    arr = np.asarray(img, dtype=np.float64)
    arr = arr + np.random.default_rng(rng.randint(0, 1 << 30)).normal(0, rng.uniform(0, 12), arr.shape)
    return np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8)[:, :, ::-1])


def calibration_rec_batches(
    n_batches: int = 24, batch: int = 6, seed: int = 0
) -> list[npt.NDArray[np.float32]]:
    """Recogniser inputs as the adapter batches them: crops sorted by aspect ratio, one width per batch."""
    from imagelens.models.adapters.ppocr.crops import rec_input

    rng, fonts = random.Random(seed), _fonts()
    out = []
    for _ in range(n_batches):
        crops = sorted(
            (synthetic_line(rng, fonts) for _ in range(batch)), key=lambda c: c.shape[1] / c.shape[0]
        )
        width = max(REC_MIN_WIDTH, int(REC_HEIGHT * max(c.shape[1] / c.shape[0] for c in crops)))
        out.append(np.stack([rec_input(c, width)[0] for c in crops]))
    return out


def calibration_det_pages(n: int = 6, seed: int = 0) -> list[npt.NDArray[np.float32]]:
    """Detector inputs: receipt-sized light pages covered with synthetic lines, normalised as the adapter does."""
    import cv2

    rng, fonts = random.Random(seed), _fonts()
    out = []
    for _ in range(n):
        h, w = rng.choice([(1600, 736), (1344, 736), (1088, 800)])
        page = np.full((h, w, 3), rng.randint(200, 255), np.uint8)
        y = 10
        while y < h - 60:
            crop = synthetic_line(rng, fonts)
            ch, cw = crop.shape[:2]
            if cw > w - 20:
                crop, cw = np.asarray(cv2.resize(crop, (w - 20, ch)), dtype=np.uint8), w - 20
            x = rng.randint(0, w - cw - 1)
            page[y : y + ch, x : x + cw] = crop
            y += ch + rng.randint(4, 30)
        tensor = ((page.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        out.append(np.ascontiguousarray(tensor))
    return out
