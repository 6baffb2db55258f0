"""Fixtures for background removal: tiny RANDOM .tflite models written in code, and the real small weights from
../shared/models when present (``realdata`` tests only)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ai_edge_litert", reason="background removal needs the 'segment' extra (ai-edge-litert)")

REPO = Path(__file__).resolve().parents[2]
# ../shared beside the checkout (IMAGELENS_SHARED_DIR overrides it, e.g. from a git worktree elsewhere)
SHARED = Path(os.environ.get("IMAGELENS_SHARED_DIR") or (REPO / ".." / "shared")).resolve()
SHARED_MODELS = SHARED / "models"
MINI79 = SHARED / "data" / "coco_val2017_mini79"


@pytest.fixture(scope="session")
def seg_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from imagelens.models.catalog import CATALOG
    from imagelens.testing.tiny_models import write_tiny_model

    root = tmp_path_factory.mktemp("tiny-seg")
    for model_id in ("mediapipe-selfie-seg", "deeplabv3-pascal"):
        write_tiny_model(CATALOG[model_id], root, seed=0)
    return root


@pytest.fixture()
def seg_settings(seg_model_dir: Path) -> object:
    from imagelens.config import HubSettings, Settings

    return Settings(model_dir=seg_model_dir, hub=HubSettings(offline=True))


@pytest.fixture()
def analyzer(seg_settings: object) -> object:
    from imagelens.analyzer import Analyzer

    a = Analyzer(seg_settings)  # type: ignore[arg-type]
    yield a
    a.close()


def real_model_dir(tmp_path: Path) -> Path:
    """A model dir holding the real selfie and DeepLab files (links into ../shared/models), or skip."""
    pairs = {
        "mediapipe-selfie-seg": SHARED_MODELS / "mediapipe-selfie-seg" / "selfie_segmentation.tflite",
        "deeplabv3-pascal": SHARED_MODELS / "coral-deeplabv3-pascal" / "deeplabv3_mnv2_pascal_quant.tflite",
    }
    for model_id, src in pairs.items():
        if not src.is_file():
            pytest.skip(f"real weights not present: {src}")
        (tmp_path / model_id).mkdir(parents=True, exist_ok=True)
        (tmp_path / model_id / src.name).symlink_to(src)
    return tmp_path


def person_image(w: int = 160, h: int = 120, seed: int = 0) -> np.ndarray:
    """A smooth background with a bright ellipse (a stand-in subject)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0] = (xx * 255 // max(1, w - 1)).astype(np.uint8)
    img[..., 2] = 90
    inside = ((xx - w / 2) / (w / 4)) ** 2 + ((yy - h / 2) / (h / 3)) ** 2 <= 1
    img[inside] = (230, 200, 170)
    noise = rng.integers(0, 8, size=img.shape, dtype=np.uint8)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()
