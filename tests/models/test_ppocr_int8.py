"""Opt-in int8 PP-OCR: QDQ copies built once from synthetic calibration text, cached by source and recipe, loaded
when the hub is told to quantise the model; never otherwise."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from imagelens.config import HubSettings, Settings
from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.ppocr import PPOCRAdapter, int8
from imagelens.models.hub import ModelHub
from imagelens.models.spec import ModelSpec


@pytest.fixture()
def tiny(tiny_ppocr: tuple[Path, ModelSpec]) -> tuple[Path, ModelSpec]:
    return tiny_ppocr


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


def session_paths(adapter: PPOCRAdapter) -> dict[str, Path]:
    sessions = adapter.sessions
    return {key: session.path for key in ("det", "rec") if (session := sessions[key]) is not None}


@pytest.mark.parametrize(
    ("mode", "quantize", "parts"),
    [
        (None, False, ()),  # the default: fp32 as shipped
        ("none", False, ()),
        ("det", False, ("det",)),
        ("all", False, ("det", "rec")),
        (None, True, ("det", "rec")),  # IMAGELENS_HUB__QUANTIZE lists the model
        ("none", True, ("det", "rec")),
    ],
)
def test_which_models_run_in_int8(
    tiny: tuple[Path, ModelSpec],
    small_calibration: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str | None,
    quantize: bool,
    parts: tuple[str, ...],
) -> None:
    root, spec = tiny
    if mode is None:
        monkeypatch.delenv(int8.INT8_ENV, raising=False)
    else:
        monkeypatch.setenv(int8.INT8_ENV, mode)
    if quantize:
        spec = replace(spec, options={**spec.options, "quantize": "int8-dynamic"})
    adapter = PPOCRAdapter.load(root, spec)
    paths = session_paths(adapter)
    for key in ("det", "rec"):
        if key in parts:
            assert paths[key].parent == small_calibration and paths[key].name.startswith(f"{key}-")
            assert {"QuantizeLinear", "DequantizeLinear"} <= qdq_ops(paths[key])
            session = adapter.sessions[key]
            assert session is not None and (session.runtime, session.precision) == ("onnxruntime", "int8")
        else:
            assert paths[key] == root / str(spec.options[key])
    result = adapter.read(bars())
    assert all(line.text == " ".join(w.text for w in line.words) for line in result.lines)
    assert not list(Path(root).rglob("*int8*")), "nothing is written next to the model"


def test_by_default_every_model_runs_as_shipped_in_fp32(
    tiny: tuple[Path, ModelSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, spec = tiny
    monkeypatch.delenv(int8.INT8_ENV, raising=False)
    assert "ppocr-v6-small" in int8.MEASURED_DET_INT8  # measured, yet opt-in (readings depend on the fonts)
    paths = session_paths(PPOCRAdapter.load(root, replace(spec, id="ppocr-v6-small")))
    assert paths == {key: root / str(spec.options[key]) for key in ("det", "rec")}


def test_an_unknown_mode_is_refused(tiny: tuple[Path, ModelSpec], monkeypatch: pytest.MonkeyPatch) -> None:
    root, spec = tiny
    monkeypatch.setenv(int8.INT8_ENV, "fp16")
    with pytest.raises(InvalidArgumentError, match="IMAGELENS_PPOCR_INT8"):
        PPOCRAdapter.load(root, spec)


def test_a_failed_build_leaves_the_fp32_model(
    tiny: tuple[Path, ModelSpec], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from imagelens.models.adapters.ppocr import adapter as adapter_module

    def broken(src: Path, part: str) -> Path:
        raise OSError("read-only cache")

    monkeypatch.setattr(adapter_module, "int8_model", broken)
    monkeypatch.setenv(int8.INT8_ENV, "det")
    root, spec = tiny
    loaded = PPOCRAdapter.load(root, spec)
    assert session_paths(loaded)["det"] == root / str(spec.options["det"])
    assert "int8 build failed" in caplog.text


def test_hub_quantize_setting_reaches_the_ocr_adapter(
    tiny: tuple[Path, ModelSpec], small_calibration: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, spec = tiny
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(int8.INT8_ENV, "none")
    hub = ModelHub(Settings(model_dir=root.parent, hub=HubSettings(quantize=[spec.id])))
    hub.register(spec)
    paths = session_paths(hub.get(spec.id))
    assert all(p.parent == small_calibration for p in paths.values())


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
