"""Shared fixtures: tiny random models written once per session, loaded through the real hub, offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
SAMPLE_IMAGE = REPO / "samples" / "shop_receipt.png"


@pytest.fixture(scope="session")
def _openvino_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of models exported to OpenVINO for the whole run (not the user's): each tiny model exports once."""
    return tmp_path_factory.mktemp("openvino-exports")


@pytest.fixture(scope="session", autouse=True)
def _same_arithmetic_on_every_cpu() -> Iterator[None]:
    """What follows the CPU by default is pinned for the whole run (module fixtures too), in this process and in the
    servers it starts: SigLIP's image tower stays fp32 ("auto" bf16 where the CPU has it natively) and Florence-2's
    image encoder stays in torch (OpenVINO by default on such CPUs). The DETR detectors stay in torch too (OpenVINO
    wherever it is installed): each tiny detector a test trains or writes would otherwise be exported (seconds).
    Tests of those paths ask for them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("imagelens.models.adapters.quantize.native_bf16", lambda: False)
        patch.setenv("IMAGELENS_HUB__BF16", "none")
        patch.setenv("IMAGELENS_FLORENCE_ENCODER", "torch")
        patch.setenv("IMAGELENS_DETECTOR_RUNTIME", "torch")
        yield


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, _openvino_cache: Path) -> None:
    """No test touches the network: the Hugging Face hub is offline and nothing leaks in from the environment."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("IMAGELENS_FLORENCE_OPENVINO_DIR", str(_openvino_cache / "florence"))
    monkeypatch.setenv("IMAGELENS_DETECTOR_OPENVINO_DIR", str(_openvino_cache / "detector"))
    for var in (
        "IMAGELENS_MODEL_DIR",
        "IMAGELENS_API_KEYS",
        "IMAGELENS_ALLOW_PRIVATE_URLS",
        "IMAGELENS_PPOCR_RUNTIME",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from imagelens.testing.tiny_models import write_tiny_models

    root = tmp_path_factory.mktemp("tiny-models")
    write_tiny_models(root, seed=0)
    return root


@pytest.fixture()
def tiny_settings(tiny_model_dir: Path) -> Iterator[object]:
    from imagelens.config import HubSettings, Settings

    yield Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True))


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when that data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not present: {path}")
    return path
