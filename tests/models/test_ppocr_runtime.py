"""Where PP-OCR runs: OpenVINO by default when installed (bf16 on CPUs that compute it natively), onnxruntime when
asked or when OpenVINO is missing or cannot compile a file; OpenVINO f32 computes what onnxruntime computes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.adapters.ppocr import PPOCRAdapter, crop_line, rec_input, runtime
from imagelens.models.catalog import CATALOG
from imagelens.models.spec import ModelSpec

openvino = pytest.importorskip("openvino")

RECEIPT = ["TOTAL 12.50", "CASH 20.00", "CHANGE 7.50", "INV#003281 18/06/2018"]


def receipt_image() -> np.ndarray:
    font = ImageFont.load_default(size=36)
    img = Image.new("RGB", (760, 80 + 70 * len(RECEIPT)), "white")
    draw = ImageDraw.Draw(img)
    for k, text in enumerate(RECEIPT):
        draw.text((40, 40 + 70 * k), text, fill="black", font=font)
    return np.asarray(img)


@pytest.fixture(autouse=True)
def shipped_fp32_files(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("IMAGELENS_PPOCR_INT8", runtime.RUNTIME_ENV, runtime.PRECISION_ENV):
        monkeypatch.delenv(env, raising=False)


@pytest.fixture()
def tiny(tiny_ppocr: tuple[Path, ModelSpec]) -> tuple[Path, ModelSpec]:
    return tiny_ppocr


def load_shipped(monkeypatch: pytest.MonkeyPatch, runtime_name: str, precision: str = "auto") -> PPOCRAdapter:
    monkeypatch.setenv(runtime.RUNTIME_ENV, runtime_name)
    monkeypatch.setenv(runtime.PRECISION_ENV, precision)
    return PPOCRAdapter.load(None, CATALOG["ppocr-v6-small"])


def test_by_default_every_model_runs_in_openvino_and_reads_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = PPOCRAdapter.load(None, CATALOG["ppocr-v6-small"])
    sessions = adapter.sessions
    assert set(sessions) == {"det", "cls", "rec"}
    for session in sessions.values():
        assert session is not None and session.runtime == "openvino"
        assert session.precision in ("f32", "bf16", "f16")
    assert [line.text for line in adapter.read(receipt_image()).lines] == RECEIPT


def test_openvino_f32_computes_what_onnxruntime_computes(monkeypatch: pytest.MonkeyPatch) -> None:
    ort = load_shipped(monkeypatch, "onnxruntime")
    ov = load_shipped(monkeypatch, "openvino", "f32")
    assert {s.precision for s in ov.sessions.values() if s} == {"f32"}
    img = receipt_image()
    prepared = ort.preprocess(img)
    det = {name: a.sessions["det"](prepared.det_input) for name, a in (("ort", ort), ("ov", ov))}  # type: ignore[misc]
    np.testing.assert_allclose(det["ov"], det["ort"], atol=2e-3)
    quads = ort._detect(prepared, ort.params)
    crops = [crop_line(prepared.bgr, q) for q in quads]
    assert len(crops) == len(RECEIPT)
    batch = np.stack([rec_input(c, 480)[0] for c in crops])
    for part, x in (
        ("rec", batch),
        ("cls", np.stack([ort._engine.text_cls.resize_norm_img(c) for c in crops])),
    ):
        a, b = ort.sessions[part](x), ov.sessions[part](x)  # type: ignore[misc]
        np.testing.assert_allclose(b, a, atol=2e-3)
        assert (a.argmax(-1) == b.argmax(-1)).all()
    a_read, b_read = ort.read(img), ov.read(img)
    assert [ln.text for ln in b_read.lines] == [ln.text for ln in a_read.lines] == RECEIPT
    a_words = [w for ln in a_read.lines for w in ln.words]
    b_words = [w for ln in b_read.lines for w in ln.words]
    for a_word, b_word in zip(a_words, b_words, strict=True):
        assert abs(a_word.confidence - b_word.confidence) < 1e-3


def test_bf16_and_onnxruntime_fp32_read_the_same_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default precision (bf16 where the CPU has it) against the shipped fp32 arithmetic, on clean text; the
    accuracy on real receipts is measured in benchmarks/ocr_sroie.md (word F1 0.918 vs 0.917)."""
    img = receipt_image()
    fast = load_shipped(monkeypatch, "openvino").read(img)
    exact = load_shipped(monkeypatch, "onnxruntime").read(img)
    assert [[w.text for w in ln.words] for ln in fast.lines] == [
        [w.text for w in ln.words] for ln in exact.lines
    ]
    for a, b in zip(fast.lines, exact.lines, strict=True):
        assert abs(a.words[0].confidence - b.words[0].confidence) < 0.05


@pytest.mark.parametrize(
    ("env", "value"), [(runtime.RUNTIME_ENV, "tensorrt"), (runtime.PRECISION_ENV, "int4")]
)
def test_an_unknown_runtime_or_precision_is_refused(
    tiny: tuple[Path, ModelSpec], monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(InvalidArgumentError, match=env):
        PPOCRAdapter.load(*tiny)


def test_without_openvino_auto_uses_onnxruntime_and_asking_for_it_is_refused(
    tiny: tuple[Path, ModelSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagelens.models.adapters import openvino_runtime

    monkeypatch.setattr(openvino_runtime, "openvino_available", lambda: False)
    adapter = PPOCRAdapter.load(*tiny)
    assert {s.runtime for s in adapter.sessions.values() if s} == {"onnxruntime"}
    monkeypatch.setenv(runtime.RUNTIME_ENV, "openvino")
    with pytest.raises(ModelUnavailableError, match="pip install openvino"):
        PPOCRAdapter.load(*tiny)


def test_a_file_openvino_cannot_compile_falls_back_to_onnxruntime(
    tiny: tuple[Path, ModelSpec], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = runtime._openvino_session

    def fails_on_rec(path: Path, precision: str) -> runtime.Session:
        if "rec" in path.name:
            raise RuntimeError("unsupported operator")
        return real(path, precision)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime, "_openvino_session", fails_on_rec)
    with caplog.at_level(logging.WARNING):
        adapter = PPOCRAdapter.load(*tiny)
    runtimes = {key: s.runtime for key, s in adapter.sessions.items() if s}
    assert runtimes == {"det": "openvino", "cls": "openvino", "rec": "onnxruntime"}
    assert "unsupported operator" in caplog.text
    adapter.read(np.full((64, 200, 3), 255, np.uint8))
    monkeypatch.setenv(runtime.RUNTIME_ENV, "openvino")
    with pytest.raises(ModelUnavailableError, match="could not run in OpenVINO"):
        PPOCRAdapter.load(*tiny)
