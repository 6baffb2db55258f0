"""The DETR detectors in OpenVINO (detr_openvino.py): the same outputs as torch in f32, the torch model not held,
the runtime choice, a failed export's fallback and error, the deadline."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from imagelens import deadline as deadlines
from imagelens.errors import InvalidArgumentError, ModelUnavailableError, RequestTimeoutError
from imagelens.models.adapters import detr_openvino, openvino_runtime
from imagelens.models.adapters.rtdetr import RTDetrAdapter
from imagelens.models.catalog import CATALOG
from imagelens.testing.deadlines import ExpiresAtCheck
from imagelens.testing.tiny import write_tiny
from imagelens.testing.tiny.rtdetr import calibrate_batch_norms

pytest.importorskip("openvino")
torch = pytest.importorskip("torch")

DETECTOR_IDS = ("rtdetr-v2-r18", "dfine-s")


def calibrated(folder: Path) -> Path:
    """The random checkpoint in ``folder`` with batch-norm statistics measured on images (``calibrate_batch_norms``:
    otherwise its scores tie and the runtimes' top-k picks differ by rounding alone)."""
    from transformers import AutoModelForObjectDetection

    model = AutoModelForObjectDetection.from_pretrained(str(folder), dtype=torch.float32).eval()
    images = np.random.default_rng(0).random((4, 3, 64, 64), dtype=np.float32)
    calibrate_batch_norms(model, torch.from_numpy(images))
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def detectors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("detr")
    folders = {}
    for model_id in DETECTOR_IDS:
        folders[model_id] = calibrated(write_tiny(CATALOG[model_id], root / model_id, seed=0))
    return folders


def load(folder: Path, model_id: str, monkeypatch: pytest.MonkeyPatch, runtime: str) -> RTDetrAdapter:
    monkeypatch.setenv(detr_openvino.RUNTIME_ENV, runtime)
    return RTDetrAdapter.load(folder, CATALOG[model_id])


def image(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 80, 3), dtype=np.uint8)


@pytest.mark.parametrize("model_id", DETECTOR_IDS)
def test_openvino_f32_gives_torchs_detections(
    detectors: dict[str, Path], monkeypatch: pytest.MonkeyPatch, model_id: str
) -> None:
    reference = load(detectors[model_id], model_id, monkeypatch, "torch")
    ov = load(detectors[model_id], model_id, monkeypatch, "openvino")
    assert reference.network is None and ov.network is not None
    assert ov._model is None, "the torch model is not loaded beside the compiled network"
    assert ov.network.precision == "f32" and ov.class_names == reference.class_names
    for seed in (1, 2, 3):
        pixels = ov.preprocess(image(seed))
        want, got = reference.forward(*pixels), ov.forward(*pixels)
        np.testing.assert_allclose(got.logits, want.logits, atol=1e-3)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-4)
        a, b = reference.detect(image(seed), threshold=0.0), ov.detect(image(seed), threshold=0.0)
        np.testing.assert_array_equal(b.data["query"][:20], a.data["query"][:20])
        np.testing.assert_array_equal(b.class_ids[:20], a.class_ids[:20])
        np.testing.assert_allclose(b.boxes[:20], a.boxes[:20], atol=1e-2)  # pixels
        np.testing.assert_allclose(b.scores[:20], a.scores[:20], atol=1e-4)


def test_auto_is_openvino_where_installed_and_torch_without_it(
    detectors: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = detectors["rtdetr-v2-r18"]
    assert load(folder, "rtdetr-v2-r18", monkeypatch, "auto").network is not None
    monkeypatch.setattr(openvino_runtime, "openvino_available", lambda: False)
    assert load(folder, "rtdetr-v2-r18", monkeypatch, "auto").network is None
    with pytest.raises(ModelUnavailableError, match="pip install openvino"):
        load(folder, "rtdetr-v2-r18", monkeypatch, "openvino")


def test_a_failed_export_falls_back_to_torch_unless_openvino_was_asked_for(
    detectors: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = detectors["rtdetr-v2-r18"]
    monkeypatch.setenv(detr_openvino.CACHE_ENV, str(tmp_path / "empty-cache"))
    monkeypatch.setattr(
        detr_openvino, "EXPORTER", "imagelens.no_such_module:export"
    )  # the child cannot export
    with caplog.at_level(logging.WARNING):
        adapter = load(folder, "rtdetr-v2-r18", monkeypatch, "auto")
    assert adapter.network is None and adapter._model is not None
    assert "detector in torch, OpenVINO could not run it" in caplog.text
    assert len(adapter.detect(image(), threshold=0.0)) > 0
    with pytest.raises(ModelUnavailableError, match="could not run in OpenVINO"):
        load(folder, "rtdetr-v2-r18", monkeypatch, "openvino")
    assert not list((tmp_path / "empty-cache").glob("*/*.xml")), "nothing half-exported is stored"


def test_the_export_is_cached(
    detectors: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from imagelens.models.adapters import openvino_export

    folder = detectors["dfine-s"]
    first = detr_openvino.detector_ir(folder, 64, 64, cache_dir=tmp_path)
    assert first.is_file() and first.with_suffix(".bin").is_file()

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached detector was exported again")

    monkeypatch.setattr(openvino_export.subprocess, "run", no_export)
    assert detr_openvino.detector_ir(folder, 64, 64, cache_dir=tmp_path) == first


@pytest.mark.parametrize(
    ("env", "value"), [(detr_openvino.RUNTIME_ENV, "tensorrt"), (detr_openvino.PRECISION_ENV, "int4")]
)
def test_unknown_settings_are_refused(
    detectors: dict[str, Path], monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(detr_openvino.RUNTIME_ENV, "openvino")
    monkeypatch.setenv(env, value)
    with pytest.raises(InvalidArgumentError, match=env):
        RTDetrAdapter.load(detectors["rtdetr-v2-r18"], CATALOG["rtdetr-v2-r18"])


def test_the_deadline_is_checked_around_the_openvino_network(
    detectors: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ov = load(detectors["rtdetr-v2-r18"], "rtdetr-v2-r18", monkeypatch, "openvino")

    with pytest.raises(RequestTimeoutError), deadlines.bound(ExpiresAtCheck(passing=1)):
        ov.detect(image())  # the check after the OpenVINO call: its result is not used


def test_the_weight_file_is_not_held_resident_once_repacked(
    detectors: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.perf.test_file_pages import _resident_kb

    ov = load(detectors["rtdetr-v2-r18"], "rtdetr-v2-r18", monkeypatch, "openvino")
    assert ov.network is not None
    weights = ov.network.ir.with_suffix(".bin")
    assert _resident_kb(weights) == 0
    assert len(ov.detect(image(), threshold=0.0)) > 0  # reads what it needs back from the page cache


def test_the_warm_up_prepares_the_exports_so_no_load_pays_them(
    detectors: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from imagelens.config import HubSettings, Settings
    from imagelens.features.warmup import Warmup
    from imagelens.models.hub import ModelHub
    from imagelens.models.preparation import prepare

    cache = tmp_path / "cache"
    monkeypatch.setenv(detr_openvino.CACHE_ENV, str(cache))
    hub = ModelHub(Settings(model_dir=detectors["rtdetr-v2-r18"].parent, hub=HubSettings(offline=True)))
    monkeypatch.setenv(detr_openvino.RUNTIME_ENV, "torch")
    assert prepare(hub, "rtdetr-v2-r18") is None, "nothing to prepare where torch runs the detector"
    monkeypatch.setenv(detr_openvino.RUNTIME_ENV, "auto")
    warm = Warmup(hub, prepare=["rtdetr-v2-r18", "florence-2-base"], vocabularies=[]).run()
    steps = {s["name"]: s for s in warm.progress()["steps"]}
    assert warm.state == "ready" and steps["rtdetr-v2-r18"]["state"] == "done"
    assert "network in OpenVINO" in steps["rtdetr-v2-r18"]["detail"]
    assert steps["florence-2-base"]["state"] == "skipped"  # not in this folder
    assert list(cache.glob(f"*/{detr_openvino.IR_FILE}")), "the IR is in the cache"

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("the load exported again")

    from imagelens.models.adapters import openvino_export

    monkeypatch.setattr(openvino_export.subprocess, "run", no_export)
    assert hub.detector().network is not None  # loaded from the prepared export
