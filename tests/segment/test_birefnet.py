"""BiRefNet (any subject) through the real loading path on a tiny random ONNX model with the real interface: the
catalog pin, the IMAGELENS_MODEL_DIR layouts, the file cache a pull fills, the choice for background removal (with
the people models as the fallback), the model named in the answer, and the deadline inside the onnxruntime call."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imagelens import deadline as deadlines
from imagelens.config import HubSettings, Settings
from imagelens.errors import CancelledRequestError, InvalidArgumentError, RequestTimeoutError
from imagelens.models import file_sources
from imagelens.models.adapters.base import is_tiny
from imagelens.models.adapters.birefnet import BiRefNetAdapter
from imagelens.models.catalog import CATALOG
from imagelens.models.hub import ModelHub
from imagelens.models.roles import Matting, missing_members
from imagelens.models.spec import Role, UrlSource
from imagelens.testing.tiny_models import write_tiny_model

from .conftest import encode, person_image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

SPEC = CATALOG["birefnet-lite"]


def test_the_catalog_pins_revision_sha256_size_and_licence() -> None:
    assert missing_members(BiRefNetAdapter, Matting) == []
    source = SPEC.source
    assert isinstance(source, UrlSource) and Role.MATTING in SPEC.roles and SPEC.license == "MIT"
    assert re.fullmatch(
        r"https://huggingface\.co/onnx-community/BiRefNet_lite-ONNX/resolve/[0-9a-f]{40}/onnx/model\.onnx",
        source.url,
    )
    assert re.fullmatch(r"[0-9a-f]{64}", source.sha256) and source.size_bytes == 224_005_088


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("birefnet")
    write_tiny_model(SPEC, root)
    return root


def test_the_tiny_model_loads_from_the_model_dir_and_mattes(tiny_root: Path) -> None:
    hub = ModelHub(Settings(model_dir=tiny_root, hub=HubSettings(offline=True)))
    path, where = hub.locate("birefnet-lite")
    assert where == "model-dir" and is_tiny(path)
    model = hub.matting("birefnet-lite")
    assert isinstance(model, BiRefNetAdapter) and model.input_hw == (64, 64)  # read from the model
    rgb = person_image(90, 70)
    alpha = model.matte(rgb)
    assert alpha.shape == (70, 90) and alpha.dtype == np.float32 and 0.0 <= alpha.min() <= alpha.max() <= 1.0
    tensor = model.preprocess(rgb)  # ImageNet-normalised NCHW at the input size
    assert (
        tensor.shape == (1, 3, 64, 64)
        and tensor.dtype == np.float32
        and -2.2 < tensor.min() < tensor.max() < 2.7
    )
    with pytest.raises(InvalidArgumentError):
        model.matte(np.zeros((10, 10), dtype=np.uint8))
    hub.close()


def test_the_hub_repository_layout_onnx_slash_model_onnx_loads_too(tiny_root: Path, tmp_path: Path) -> None:
    (tmp_path / "birefnet-lite" / "onnx").mkdir(parents=True)
    shutil.copy(
        tiny_root / "birefnet-lite" / "model.onnx", tmp_path / "birefnet-lite" / "onnx" / "model.onnx"
    )
    (tmp_path / "birefnet-lite" / "onnx" / "model_fp16.onnx").write_bytes(
        b"not chosen"
    )  # as in the repository
    hub = ModelHub(Settings(model_dir=tmp_path, hub=HubSettings(offline=True)))
    assert hub.matting("birefnet-lite").matte(person_image(40, 30)).shape == (30, 40)
    hub.close()


def test_a_pull_fills_the_file_cache_checked_against_the_pin(
    tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = (tiny_root / "birefnet-lite" / "model.onnx").read_bytes()
    assert isinstance(SPEC.source, UrlSource)
    pinned = replace(
        SPEC,
        source=replace(SPEC.source, sha256=hashlib.sha256(payload).hexdigest(), size_bytes=len(payload)),
    )
    fetched: list[str] = []

    def from_url(url: str, size: int | None) -> bytes:
        fetched.append(url)
        return payload

    monkeypatch.setattr(file_sources, "_from_url", from_url)
    hub = ModelHub(Settings(hub=HubSettings(cache_dir=tmp_path)))
    hub.register(pinned)
    folder = file_sources.fetch_file(
        "birefnet-lite", pinned.source, hub._file_root()
    )  # what `models pull` runs
    assert fetched == [SPEC.source.url] and (folder / "model.onnx").read_bytes() == payload
    assert hub.locate("birefnet-lite") == (folder, "file-cache")
    assert hub.matting("birefnet-lite").matte(person_image(40, 30)).shape == (30, 40)
    hub.close()
    unpinned = ModelHub(Settings(hub=HubSettings(cache_dir=tmp_path, offline=True)))
    assert not unpinned.is_present("birefnet-lite")  # the catalog's real pin does not match these bytes


@pytest.fixture()
def both_root(tiny_root: Path, seg_model_dir: Path, tmp_path: Path) -> Path:
    for src in (
        tiny_root / "birefnet-lite",
        *(seg_model_dir / m for m in ("mediapipe-selfie-seg", "deeplabv3-pascal")),
    ):
        (tmp_path / src.name).symlink_to(src)
    return tmp_path


def test_background_removal_prefers_the_any_subject_model_and_falls_back_to_people(
    both_root: Path, seg_model_dir: Path
) -> None:
    from imagelens.analyzer import Analyzer
    from imagelens.segment import SegmentOptions

    img = person_image(80, 60)
    picks = {}
    for name, settings in {
        "with": Settings(model_dir=both_root, hub=HubSettings(offline=True)),
        "without": Settings(model_dir=seg_model_dir, hub=HubSettings(offline=True)),
        "configured": Settings(
            model_dir=both_root, hub=HubSettings(offline=True), models={"matting": "deeplabv3-pascal"}
        ),
    }.items():
        analyzer = Analyzer(settings)
        try:
            _, result = analyzer.remove_background(img)
            _, named = analyzer.remove_background(img, SegmentOptions(model_id="mediapipe-selfie-seg"))
        finally:
            analyzer.close()
        picks[name] = result.model_id
        assert named.model_id == "mediapipe-selfie-seg" and result.pixels.shape == (60, 80, 4)
    assert picks == {
        "with": "birefnet-lite",
        "without": "mediapipe-selfie-seg",
        "configured": "deeplabv3-pascal",
    }


def test_the_http_answer_names_the_model(both_root: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from imagelens.api.app import create_app

    settings = Settings(model_dir=both_root, hub=HubSettings(offline=True))
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/computervision/imageanalysis:segment",
            params={"api-version": "2023-02-01-preview", "mode": "backgroundRemoval"},
            content=encode(Image.fromarray(person_image()), "PNG"),
            headers={"content-type": "application/octet-stream"},
        )
    assert r.status_code == 200 and r.headers["x-imagelens-model"] == "birefnet-lite"
    assert Image.open(io.BytesIO(r.content)).mode == "RGBA"


class _BlockingSession:
    """An onnxruntime-like session whose run goes on until its RunOptions say terminate (as onnxruntime's does)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.started = threading.Event()

    def get_inputs(self) -> Any:
        return self.real.get_inputs()

    def get_outputs(self) -> Any:
        return self.real.get_outputs()

    def run(self, names: Any, feeds: Any, run_options: Any) -> Any:
        self.started.set()
        for _ in range(2000):  # at most ~10 s, never in a passing run
            if run_options.terminate:
                raise RuntimeError("Exiting due to terminate flag being set to true.")
            threading.Event().wait(0.005)
        return self.real.run(names, feeds, run_options)


def test_the_onnxruntime_run_stops_when_the_client_goes_or_the_deadline_passes(tiny_root: Path) -> None:
    model = BiRefNetAdapter.load(tiny_root / "birefnet-lite", SPEC)
    rgb = person_image(40, 30)
    assert model.matte(rgb).shape == (30, 40)  # no request: no watchdog
    with deadlines.bound(deadlines.Deadline(60.0)):
        assert model.matte(rgb).shape == (30, 40)  # a request with time left: the real run completes

    blocking = _BlockingSession(model._session)
    model._session = blocking
    deadline = deadlines.Deadline(60.0)
    threading.Thread(target=lambda: (blocking.started.wait(10), deadline.cancel()), daemon=True).start()
    with deadlines.bound(deadline), pytest.raises(CancelledRequestError):
        model.matte(rgb)  # the client went while the run was going: terminated, the cancel error raised
    assert deadline._on_cancel == []  # the watchdog disarmed itself

    with deadlines.bound(deadlines.Deadline(0.05)), pytest.raises(RequestTimeoutError):
        model.matte(rgb)  # the timer sets terminate at the deadline; Azure's Timeout error, not the runtime's

    expired = deadlines.Deadline(1.0)
    expired.expires = 0.0  # already past: the run never starts
    blocking.started.clear()
    with deadlines.bound(expired), pytest.raises(RequestTimeoutError):
        model.matte(rgb)
    assert not blocking.started.is_set()
