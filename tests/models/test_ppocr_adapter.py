"""PPOCRAdapter: tiny random models load through the real hub offline (never in place of the shipped model); the
shipped model reads real text, even with a folder of tiny models in IMAGELENS_MODEL_DIR."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from imagelens.config import HubSettings, Settings
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.geometry import polygon_array
from imagelens.models.adapters.base import TINY_MARKER, is_tiny
from imagelens.models.adapters.ppocr import OcrParams, PPOCRAdapter, crop_line
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub
from imagelens.models.spec import PackageSource
from imagelens.testing.tiny import ships_in_package, tiny_variant, write_tiny
from imagelens.types import ReadResult

from ..conftest import SAMPLE_IMAGE

OCR_SPECS = [spec.id for spec in CATALOG.values() if spec.adapter.endswith("ppocr:PPOCRAdapter")]


def hub_id(model_id: str) -> str:
    """The id a tiny stand-in of ``model_id`` loads under: its own, or a test-only one for a model whose real
    weights ship in a package (the hub never lets a tiny folder replace those)."""
    spec = CATALOG[model_id]
    return tiny_variant(spec).id if ships_in_package(spec) else model_id


def bars_image() -> np.ndarray:
    """White page with dark bars: something for a random detector to respond to."""
    img = np.full((160, 320, 3), 255, np.uint8)
    img[30:52, 20:300] = 0
    img[90:112, 40:220] = 30
    return img


def text_image(text: str, size: int = 40) -> np.ndarray:
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("RGB", (right - left + 80, bottom - top + 80), "white")
    ImageDraw.Draw(img).text((40 - left, 40 - top), text, fill="black", font=font)
    return np.asarray(img)


def files_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def assert_valid(result: ReadResult, width: int, height: int) -> None:
    assert isinstance(result, ReadResult)
    assert len(result.blocks) == 1, "Azure's shape: one block holding every line"
    for line in result.lines:
        assert line.text == " ".join(w.text for w in line.words)
        for poly in [line.polygon, *(w.polygon for w in line.words)]:
            pts = polygon_array(poly)
            assert pts.shape == (4, 2)
            assert (pts[:, 0] >= 0).all() and (pts[:, 0] <= width).all()
            assert (pts[:, 1] >= 0).all() and (pts[:, 1] <= height).all()
            assert np.argmin(pts.sum(axis=1)) == 0, "polygons start at the top-left point"
        for word in line.words:
            assert word.text and not any(ch.isspace() for ch in word.text)
            assert 0.0 <= word.confidence <= 1.0


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny models at every OCR spec's id (as an old tiny folder would hold them) and at the test-only ids."""
    root = tmp_path_factory.mktemp("ppocr-tiny")
    for model_id in OCR_SPECS:
        write_tiny(CATALOG[model_id], root / model_id, seed=0)
        if hub_id(model_id) != model_id:
            write_tiny(tiny_variant(CATALOG[model_id]), root / hub_id(model_id), seed=0)
    return root


@pytest.fixture()
def tiny_hub(tiny_root: Path, monkeypatch: pytest.MonkeyPatch) -> ModelHub:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = ModelHub(Settings(model_dir=tiny_root))
    for model_id in OCR_SPECS:
        if hub_id(model_id) != model_id:
            hub.register(tiny_variant(CATALOG[model_id]))
    return hub


def test_both_catalog_ocr_specs_are_covered() -> None:
    assert set(OCR_SPECS) >= {"ppocr-v6-small", "ppocr-v5-server-en"}


@pytest.mark.parametrize("model_id", OCR_SPECS)
def test_tiny_model_is_written_at_the_spec_paths(tiny_root: Path, model_id: str) -> None:
    spec = CATALOG[model_id]
    folder = tiny_root / model_id
    for key in ("det", "rec", "cls", "keys"):
        rel = spec.options.get(key)
        if rel is not None:
            assert (folder / rel).is_file(), f"{key} file missing at {rel}"
    assert is_tiny(folder) and (folder / TINY_MARKER).is_file()


@pytest.mark.parametrize("model_id", OCR_SPECS)
def test_tiny_model_loads_offline_through_the_hub_and_reads(tiny_hub: ModelHub, model_id: str) -> None:
    assert tiny_hub.offline
    adapter = tiny_hub.reader(hub_id(model_id))
    assert isinstance(adapter, PPOCRAdapter)
    assert len(adapter.vocabulary) < 100, "the tiny recogniser, not the real one"
    img = bars_image()
    result = adapter.read(img)
    assert_valid(result, img.shape[1], img.shape[0])
    # seed 0 responds to the bars: the contract checks above ran on real lines, not on an empty result
    assert len(result.lines) >= 1
    info = {row.id: row for row in tiny_hub.describe()}[hub_id(model_id)]
    assert info.tiny and info.loaded and info.location.startswith("model-dir")


def test_a_tiny_folder_never_shadows_the_weights_shipped_in_a_package(
    tiny_hub: ModelHub, tiny_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The default OCR ships in rapidocr: a tiny random folder under its id in IMAGELENS_MODEL_DIR is ignored, with
    a warning that says why; a Hub-sourced model's tiny folder is still used."""
    shipped = [m for m in OCR_SPECS if isinstance(CATALOG[m].source, PackageSource)]
    assert shipped == ["ppocr-v6-small"] and is_tiny(tiny_root / "ppocr-v6-small")
    with caplog.at_level(logging.WARNING, logger="imagelens.models.hub"):
        assert tiny_hub.locate("ppocr-v6-small") == (None, "package:rapidocr")
        tiny_hub.locate("ppocr-v6-small")
    warnings = [r.getMessage() for r in caplog.records if "ppocr-v6-small" in r.getMessage()]
    assert len(warnings) == 1, "warned once, not on every lookup"
    assert "tiny RANDOM" in warnings[0] and "rapidocr" in warnings[0] and str(tiny_root) in warnings[0]
    row = {r.id: r for r in tiny_hub.describe()}["ppocr-v6-small"]
    assert not row.tiny and row.location == "package:rapidocr"
    assert tiny_hub.locate("ppocr-v5-server-en") == (tiny_root / "ppocr-v5-server-en", "model-dir")
    real = tiny_hub.reader("ppocr-v6-small")
    assert len(real.vocabulary) > 10_000, "the real recogniser carries its ~18k characters"


def test_a_real_model_in_the_model_dir_still_overrides_the_package(tmp_path: Path) -> None:
    """Only TINY folders are ignored for a shipped model: a real one (no marker) in IMAGELENS_MODEL_DIR wins."""
    folder = write_tiny(CATALOG["ppocr-v6-small"], tmp_path / "ppocr-v6-small", seed=0)
    (folder / TINY_MARKER).unlink()
    hub = ModelHub(Settings(model_dir=tmp_path, hub=HubSettings(offline=True)))
    assert hub.locate("ppocr-v6-small") == (folder, "model-dir")


@pytest.mark.realdata
def test_tiny_model_dir_and_the_real_ocr_read_the_sample(
    tiny_root: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # tiny_model_dir: the folder the tool writes (tests/conftest.py)
    """Regression: ``python -m imagelens.testing.tiny_models DIR`` + ``IMAGELENS_MODEL_DIR=DIR`` used to replace the
    real OCR with random weights. Neither the tool's folder nor an old folder holding a tiny default OCR does now."""
    from imagelens.analyzer import Analyzer

    assert not (tiny_model_dir / "ppocr-v6-small").exists(), "the tool skips models shipped in a package"
    assert is_tiny(tiny_root / "ppocr-v6-small")  # the worse case: a folder that does hold a tiny default OCR
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(tiny_root))
    result = Analyzer(Settings(hub=HubSettings(offline=True))).analyze(SAMPLE_IMAGE, ["read"])
    assert result.read is not None
    text = result.read.text.upper()
    assert "TOTAL" in text and "18.65" in text


@pytest.mark.parametrize("model_id", OCR_SPECS)
def test_tiny_models_are_deterministic_in_the_seed(tmp_path: Path, model_id: str) -> None:
    spec = CATALOG[model_id]
    write_tiny(spec, tmp_path / "a", seed=3)
    write_tiny(spec, tmp_path / "b", seed=3)
    write_tiny(spec, tmp_path / "c", seed=4)
    a, b, c = (files_digest(tmp_path / k) for k in "abc")
    onnx_files = [k for k in a if k.endswith(".onnx")]
    assert onnx_files
    assert all(a[k] == b[k] for k in onnx_files)
    assert all(a[k] != c[k] for k in onnx_files)
    first = PPOCRAdapter.load(tmp_path / "a", spec).read(bars_image())
    second = PPOCRAdapter.load(tmp_path / "b", spec).read(bars_image())
    assert first == second


def test_reads_from_several_threads_match_a_sequential_read(tiny_hub: ModelHub) -> None:
    adapter = tiny_hub.reader(hub_id("ppocr-v6-small"))
    images = [bars_image(), bars_image()[:, ::-1].copy(), bars_image()[::-1].copy()]
    expected = [adapter.read(img) for img in images]
    got: dict[int, ReadResult] = {}

    def work(k: int) -> None:
        got[k] = adapter.read(images[k % len(images)])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[k] == expected[k % len(images)] for k in range(6))


def test_missing_model_file_is_model_unavailable(tmp_path: Path) -> None:
    spec = CATALOG["ppocr-v5-server-en"]
    write_tiny(spec, tmp_path, seed=0)
    (tmp_path / spec.options["keys"]).unlink()
    with pytest.raises(ModelUnavailableError, match="keys file"):
        PPOCRAdapter.load(tmp_path, spec)


def test_rejects_arrays_that_are_not_rgb_uint8(tiny_hub: ModelHub) -> None:
    adapter = tiny_hub.reader(hub_id("ppocr-v6-small"))
    with pytest.raises(InvalidArgumentError, match=r"shape \(H, W, 3\).*\(60, 80\)"):
        adapter.read(np.zeros((60, 80), np.uint8))
    with pytest.raises(InvalidArgumentError, match="float32"):
        adapter.read(np.zeros((60, 80, 3), np.float32))


def test_a_closed_adapter_says_so(tiny_root: Path) -> None:
    adapter = PPOCRAdapter.load(tiny_root / "ppocr-v6-small", CATALOG["ppocr-v6-small"])
    adapter.close()
    assert adapter.closed
    with pytest.raises(ModelUnavailableError, match="closed"):
        adapter.read(bars_image())


def test_bad_params_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="charset"):
        OcrParams(charset="klingon")  # type: ignore[arg-type]


def test_crop_line_straightens_the_quad() -> None:
    img = np.zeros((200, 100, 3), np.uint8)
    img[10:190, 10:40] = 255
    crop = crop_line(img, np.asarray([[10, 10], [40, 10], [40, 190], [10, 190]], dtype=np.float64))
    assert crop.shape == (180, 30, 3) and crop.min() == 255
    crop = crop_line(img, np.asarray([[10, 10], [90, 10], [90, 30], [10, 30]], dtype=np.float64))
    assert crop.shape == (20, 80, 3)


@pytest.mark.realdata
def test_package_model_loads_the_real_weights_and_reads_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = ModelHub(Settings(hub=HubSettings(offline=True)))
    path, where = hub.locate("ppocr-v6-small")
    assert path is None and where == "package:rapidocr"
    adapter = hub.get("ppocr-v6-small")
    assert len(adapter.vocabulary) > 10_000, "the real recogniser carries its ~18k characters"
    img = text_image("TOTAL 12.50")
    result = adapter.read(img)
    assert_valid(result, img.shape[1], img.shape[0])
    words = [w for line in result.lines for w in line.words]
    assert [w.text for w in words] == ["TOTAL", "12.50"]
    total, amount = words
    assert polygon_array(total.polygon)[:, 0].max() <= polygon_array(amount.polygon)[:, 0].min() + 2
    assert min(total.confidence, amount.confidence) > 0.8


@pytest.mark.parametrize("model_id", OCR_SPECS)
def test_onnxruntime_sessions_do_not_spin_and_read_as_rapidocrs_would(
    tiny_root: Path, model_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With IMAGELENS_PPOCR_RUNTIME=onnxruntime every session of the adapter is ours, on the spec's files, with
    sleeping (not spinning) intra-op threads; that changes the CPU a read costs, never what it reads."""
    from imagelens.models.adapters.ppocr import runtime

    monkeypatch.setenv("IMAGELENS_PPOCR_INT8", "none")  # the shipped fp32 files (int8: test_ppocr_int8.py)
    monkeypatch.setenv(runtime.RUNTIME_ENV, "onnxruntime")
    spec, root = CATALOG[model_id], tiny_root / model_id
    adapter = PPOCRAdapter.load(root, spec)
    for key, session in adapter.sessions.items():
        if spec.options.get(key) is None:
            assert session is None
            continue
        assert session is not None and session.runtime == "onnxruntime"
        assert session.path == root / str(spec.options[key])
        options = session._run.session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    monkeypatch.setattr(
        runtime, "SESSION_CONFIG", {}
    )  # onnxruntime's defaults, as rapidocr builds its sessions
    spinning = PPOCRAdapter.load(root, spec)
    rec = spinning.sessions["rec"]
    assert rec is not None
    with pytest.raises(RuntimeError, match="allow_spinning"):  # not set: onnxruntime's default (spinning)
        rec._run.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    for image in (bars_image(), text_image("TOTAL 18.65")):
        assert adapter.read(image) == spinning.read(image)
