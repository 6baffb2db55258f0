"""Video fixtures: the tiny random SigLIP and Florence-2 (only they, written once per session) and videos written at run time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

pytest.importorskip("av")

EMBEDDER = "siglip2-base-patch16-224"
CAPTIONER = "florence-2-base"


@pytest.fixture(scope="session")
def siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from imagelens.testing.tiny_models import write_tiny_models

    root = tmp_path_factory.mktemp("tiny-siglip")
    write_tiny_models(root, seed=0, only=[EMBEDDER, CAPTIONER])
    return root


@pytest.fixture()
def settings(siglip_dir: Path, tmp_path: Path) -> Iterator[object]:
    from imagelens.config import HubSettings, Settings

    yield Settings(
        model_dir=siglip_dir, hub=HubSettings(offline=True), store_dir=tmp_path / "store", data_dir=tmp_path
    )


def pattern(seed: int, size: tuple[int, int] = (160, 120)) -> npt.NDArray[np.uint8]:
    """A coloured, patterned picture, different per seed (stripes, blocks and a gradient in its own colours)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    period = int(rng.integers(6, 30))
    stripes = ((x + (y if seed % 2 else 0)) // period) % 2
    img = np.where(stripes[..., None] == 1, c1, c2).astype(np.float32)
    bx, by = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    img[by : by + h // 3, bx : bx + w // 3] = rng.integers(0, 256, 3)
    img = img * (0.6 + 0.4 * (x / w))[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def coco_stills(count: int) -> list[npt.NDArray[np.uint8]]:
    """``count`` COCO images (RGB) from ../shared/data, or skip."""
    from PIL import Image

    from tests.conftest import REPO

    candidates = [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]  # main, a worktree
    folder = next((c / "coco_val2017_mini79" / "images" for c in candidates if c.exists()), None)
    if folder is None or not folder.exists():
        pytest.skip("real data not present: ../shared/data/coco_val2017_mini79")
    paths = sorted(folder.glob("*.jpg"))[:count]
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]
