"""Florence-2's image encoder in OpenVINO (the default where OpenVINO computes bf16 natively;
IMAGELENS_FLORENCE_ENCODER), on the tiny random model through the real hub: exported once in a child process and
cached, features as torch computes them, the torch vision tower dropped, a fallback or a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagelens import deadline as deadlines
from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError, ModelUnavailableError, RequestTimeoutError
from imagelens.models.adapters import openvino_export
from imagelens.models.adapters.florence2 import CAPTION_TASK, Florence2Adapter
from imagelens.models.adapters.florence2 import openvino_encoder as ove
from imagelens.models.hub import ModelHub
from imagelens.testing.deadlines import ExpiresAtCheck

pytest.importorskip("openvino")
torch = pytest.importorskip("torch")


def load(model_dir: Path, monkeypatch: pytest.MonkeyPatch, encoder: str, precision: str = "auto") -> Any:
    """The captioner with its image encoder in ``encoder``; torch's is the fp32 reference (no int8)."""
    monkeypatch.setenv(ove.ENCODER_ENV, encoder)
    monkeypatch.setenv(ove.PRECISION_ENV, precision)
    hub = {"offline": True, "quantize": "none"} if encoder == "torch" else {"offline": True}
    adapter = ModelHub(Settings(model_dir=model_dir, hub=hub)).captioner()
    assert isinstance(adapter, Florence2Adapter)
    return adapter


def image(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((50, 90, 3)) * 255).astype(np.uint8)


def features(adapter: Any, rgb: np.ndarray) -> np.ndarray:
    return adapter.encode(rgb).features.pooler_output.float().numpy().ravel()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize(
    ("native", "precision", "expected"),
    [(True, "auto", "openvino"), (False, "auto", "torch"), (True, "f32", "torch")],
)
def test_by_default_the_encoder_runs_in_openvino_where_it_computes_bf16_natively(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, native: bool, precision: str, expected: str
) -> None:
    from imagelens.models.adapters import quantize

    monkeypatch.delenv(ove.ENCODER_ENV)
    # f32 arithmetic in OpenVINO would be slower than torch int8
    monkeypatch.setenv(ove.PRECISION_ENV, precision)
    monkeypatch.setattr(quantize, "native_bf16", lambda: native)
    adapter: Any = ModelHub(Settings(model_dir=tiny_model_dir, hub={"offline": True})).captioner()
    assert (adapter.image_encoder is not None) == (expected == "openvino")
    assert (adapter.model.model.vision_tower is None) == (expected == "openvino")
    assert adapter.caption(adapter.encode(image())).text is not None


def test_by_default_a_failed_export_falls_back_to_torch_with_a_warning(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from imagelens.models.adapters import quantize
    from imagelens.models.adapters.florence2 import adapter as florence

    def broken_export(*args: Any, **kwargs: Any) -> Path:
        raise RuntimeError("the export process failed (exit code 1): no space left")

    monkeypatch.delenv(ove.ENCODER_ENV)
    monkeypatch.setattr(quantize, "native_bf16", lambda: True)
    monkeypatch.setattr(florence, "encoder_ir", broken_export)
    with caplog.at_level("WARNING"):
        adapter: Any = ModelHub(Settings(model_dir=tiny_model_dir, hub={"offline": True})).captioner()
    assert adapter.image_encoder is None and adapter.model.model.vision_tower is not None
    assert "OpenVINO could not run it: the export process failed" in caplog.text


def test_openvino_f32_features_match_torch_and_the_tower_is_dropped(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = load(tiny_model_dir, monkeypatch, "torch")
    ov = load(tiny_model_dir, monkeypatch, "openvino", "f32")
    assert ov.image_encoder is not None and ov.image_encoder.precision == "f32"
    assert ov.model.model.vision_tower is None, "the torch copy of the tower is not kept beside OpenVINO's"
    for seed in (0, 1):
        a, b = features(reference, image(seed)), features(ov, image(seed))
        assert a.shape == b.shape
        assert cosine(a, b) > 0.9999  # the IR stores fp16 weights: f32 arithmetic on them
    generated = ov.generate(ov.encode(image()), CAPTION_TASK, max_new_tokens=6)
    assert len(generated.token_ids) == len(generated.log_scores) >= 1


def test_openvino_auto_precision_stays_close_to_torch(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = load(tiny_model_dir, monkeypatch, "torch")
    ov = load(tiny_model_dir, monkeypatch, "openvino")
    assert ov.image_encoder.precision in ("bf16", "f32", "f16")
    assert cosine(features(reference, image()), features(ov, image())) > 0.99


def test_the_export_is_cached_by_content(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tiny_model_dir / "florence-2-base"
    first = ove.encoder_ir(folder, 64, cache_dir=tmp_path)
    assert first.is_file() and first.with_suffix(".bin").is_file()
    assert not list(tmp_path.glob(".export-*")), "the work folder is gone"

    def no_export(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cached encoder was exported again")

    monkeypatch.setattr(openvino_export.subprocess, "run", no_export)
    assert ove.encoder_ir(folder, 64, cache_dir=tmp_path) == first
    assert ove.fingerprint(folder, 64, tmp_path) != ove.fingerprint(folder, 96, tmp_path), (
        "another size, another entry"
    )


def test_weight_digests_are_remembered_until_a_file_changes(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import hashlib
    import os
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir / "florence-2-base", folder)
    first = ove.fingerprint(folder, 64, tmp_path)
    hashed: list[str] = []
    real = hashlib.file_digest

    def counting(handle: Any, name: str) -> Any:
        hashed.append(Path(handle.name).name)
        return real(handle, name)

    monkeypatch.setattr(hashlib, "file_digest", counting)
    assert ove.fingerprint(folder, 64, tmp_path) == first and hashed == []  # read from digests.json
    config = folder / "config.json"
    config.write_text(config.read_text(encoding="utf-8") + " ", encoding="utf-8")
    os.utime(config, ns=(1, 1))
    assert ove.fingerprint(folder, 64, tmp_path) != first and hashed == ["config.json"]
    # a damaged memo: hashed again
    (tmp_path / openvino_export.DIGESTS_FILE).write_text("{not json", encoding="utf-8")
    assert ove.fingerprint(folder, 64, tmp_path) != first


def test_a_failed_export_is_a_clear_error(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ove.CACHE_ENV, str(tmp_path / "empty-cache"))
    monkeypatch.setattr(ove, "RECIPE", "a-recipe-never-exported")
    monkeypatch.setattr(ove, "EXPORTER", "imagelens.no_such_module:export")  # the child cannot run its export
    with pytest.raises(ModelUnavailableError, match="could not run in OpenVINO"):
        load(tiny_model_dir, monkeypatch, "openvino")
    assert not list((tmp_path / "empty-cache").glob("*/encoder.xml"))


@pytest.mark.parametrize(("env", "value"), [(ove.ENCODER_ENV, "tensorrt"), (ove.PRECISION_ENV, "int4")])
def test_unknown_settings_are_refused(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(ove.ENCODER_ENV, "openvino")
    monkeypatch.setenv(env, value)
    with pytest.raises((InvalidArgumentError, ModelUnavailableError), match=env):
        ModelHub(Settings(model_dir=tiny_model_dir, hub={"offline": True})).captioner()


def test_without_openvino_asking_for_it_is_refused(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagelens.models.adapters import openvino_runtime

    monkeypatch.setattr(openvino_runtime, "openvino_available", lambda: False)
    monkeypatch.setenv(ove.ENCODER_ENV, "openvino")
    with pytest.raises(ModelUnavailableError, match="pip install openvino"):
        ove.chosen_encoder("florence-2-base")


def test_the_deadline_is_checked_around_the_openvino_encoder(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ov = load(tiny_model_dir, monkeypatch, "openvino")

    with pytest.raises(RequestTimeoutError), deadlines.bound(ExpiresAtCheck(passing=1)):
        ov.encode(image())  # the check after the OpenVINO call: its result is not used


def test_prepare_exports_the_encoder_without_loading_the_model(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from imagelens.models.preparation import prepare

    monkeypatch.setenv(ove.CACHE_ENV, str(tmp_path))
    hub = ModelHub(Settings(model_dir=tiny_model_dir, hub={"offline": True}))
    monkeypatch.setenv(ove.ENCODER_ENV, "torch")
    assert prepare(hub, "florence-2-base") is None
    monkeypatch.setenv(ove.ENCODER_ENV, "openvino")
    done = prepare(hub, "florence-2-base")
    assert done is not None and "image encoder in OpenVINO" in done
    assert list(tmp_path.glob(f"*/{ove.IR_FILE}")) and hub.loaded_ids() == []
