"""Opt-in int8 PP-OCR: QDQ copies built once from synthetic calibration text, cached by source and recipe, loaded
when the hub is told to quantise the model; never otherwise."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from imagelens.config import HubSettings, Settings
from imagelens.models.adapters.ppocr import PPOCRAdapter, int8
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub
from imagelens.models.spec import ModelSpec
from imagelens.testing.tiny import tiny_variant, write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelSpec]:
    spec = tiny_variant(CATALOG["ppocr-v6-small"])
    root = tmp_path_factory.mktemp("ppocr-int8") / spec.id
    write_tiny(spec, root, seed=0)
    return root, spec


@pytest.fixture(autouse=True)
def small_calibration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(int8, "REC_BATCHES", 2)
    monkeypatch.setattr(int8, "DET_PAGES", 1)
    cache = tmp_path / "int8-cache"
    monkeypatch.setenv("IMAGELENS_PPOCR_INT8_DIR", str(cache))
    return cache


def bars() -> np.ndarray:
    img = np.full((160, 320, 3), 255, np.uint8)
    img[30:52, 20:300] = 0
    img[90:112, 40:220] = 30
    return img


def qdq_ops(path: Path) -> set[str]:
    import onnx

    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_int8_copies_are_built_once_and_cached(tiny: tuple[Path, ModelSpec], small_calibration: Path) -> None:
    root, spec = tiny
    src = root / str(spec.options["rec"])
    first = int8.int8_model(src, "rec")
    assert first.parent == small_calibration and first.is_file()
    assert {"QuantizeLinear", "DequantizeLinear"} <= qdq_ops(first)
    stamp = first.stat().st_mtime_ns
    assert int8.int8_model(src, "rec") == first and first.stat().st_mtime_ns == stamp, "second call: cached"
    src_bytes = src.read_bytes()
    assert src.read_bytes() == src_bytes, "the source model is never modified"


def test_quantize_option_loads_int8_sessions_and_reads(
    tiny: tuple[Path, ModelSpec], small_calibration: Path
) -> None:
    root, spec = tiny
    plain = PPOCRAdapter.load(root, spec)
    q_spec = replace(spec, options={**spec.options, "quantize": "int8-dynamic"})
    quantised = PPOCRAdapter.load(root, q_spec)
    built = sorted(p.name.split("-")[0] for p in small_calibration.glob("*.onnx"))
    assert built == sorted(int8.INT8_PARTS)
    result = quantised.read(bars())
    assert all(line.text == " ".join(w.text for w in line.words) for line in result.lines)
    assert plain.read(bars()) is not None
    assert not list(Path(root).rglob("*int8*")), "nothing is written next to the model"


def test_hub_quantize_setting_reaches_the_ocr_adapter(
    tiny: tuple[Path, ModelSpec], small_calibration: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, spec = tiny
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = ModelHub(Settings(model_dir=root.parent, hub=HubSettings(quantize=[spec.id])))
    hub.register(spec)
    hub.get(spec.id)
    assert len(list(small_calibration.glob("*.onnx"))) == len(int8.INT8_PARTS)


def test_plain_load_builds_nothing(tiny: tuple[Path, ModelSpec], small_calibration: Path) -> None:
    root, spec = tiny
    PPOCRAdapter.load(root, spec)
    assert not small_calibration.exists()


def test_calibration_lines_are_deterministic_and_dark_on_light() -> None:
    fonts = int8._fonts()
    a = int8.synthetic_line(random.Random(3), fonts)
    b = int8.synthetic_line(random.Random(3), fonts)
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, b)
    assert a.min() < 128 < np.median(a), "dark text on a light background"
    batches = int8.calibration_rec_batches(2, batch=3)
    assert [x.shape[:3] for x in batches] == [(3, 3, 48)] * 2
    assert all(x.shape[3] >= 320 for x in batches)
