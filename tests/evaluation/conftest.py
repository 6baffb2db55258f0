"""Fixtures for the evaluation tests: tiny random models of the small CPU entries, a small synthetic COCO folder,
and the real weights and data of ../shared (``realdata`` tests; IMAGELENS_SHARED_DIR overrides where it is)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.segment.conftest import (
    SHARED,
)  # the one place that resolves ../shared (IMAGELENS_SHARED_DIR first)

SHARED_MODELS = SHARED / "models"
SHARED_DATA = SHARED / "data"
SMALL_IDS = ("yolox-nano", "nanodet-m-416", "coral-mobilenet-v1-embedding", "yunet-2026may")


def need_shared(*parts: str) -> Path:
    """``SHARED/<parts>``, or skip with the path that is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data/weights not present: {path} (set IMAGELENS_SHARED_DIR to the shared folder)")
    return path


@pytest.fixture(scope="session")
def small_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from imagelens.models.catalog import CATALOG
    from imagelens.testing.tiny import write_tiny

    root = tmp_path_factory.mktemp("tiny-small")
    for model_id in SMALL_IDS:
        write_tiny(CATALOG[model_id], root / model_id, seed=0)
    return root


@pytest.fixture()
def small_hub(small_model_dir: Path) -> object:
    from imagelens.config import HubSettings, Settings
    from imagelens.models.hub import ModelHub

    hub = ModelHub(Settings(model_dir=small_model_dir, hub=HubSettings(offline=True)))
    yield hub
    hub.close()


def write_coco(root: Path) -> Path:
    """Three images; boxes of two categories (one crowd); persons with face keypoints (nose, eyes) for faces."""
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    rng = np.random.default_rng(0)
    images = []
    for i in (1, 2, 3):
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(root / "images" / f"{i}.jpg")
        images.append({"id": i, "file_name": f"{i}.jpg", "width": 80, "height": 60})
    kp_face = [30, 20, 2, 35, 15, 2, 25, 15, 2] + [0] * 42
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 40, 50], "area": 2000, "iscrowd": 0,
         "keypoints": kp_face, "num_keypoints": 3},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [55, 30, 20, 20], "area": 400, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 30, 30], "area": 900, "iscrowd": 1},
        {"id": 4, "image_id": 3, "category_id": 1, "bbox": [40, 10, 30, 45], "area": 1350, "iscrowd": 0,
         "keypoints": [0] * 51, "num_keypoints": 0},
    ]  # fmt: skip
    cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
    data = {"images": images, "annotations": anns, "categories": cats}
    (root / "annotations" / "instances_val.json").write_text(json.dumps(data))
    (root / "annotations" / "person_keypoints_val.json").write_text(
        json.dumps({**data, "annotations": [a for a in anns if a["category_id"] == 1]})
    )
    return root


@pytest.fixture()
def coco_dir(tmp_path: Path) -> Path:
    return write_coco(tmp_path / "coco")
