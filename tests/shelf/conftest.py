"""Shared builders for the shelf tests: exact ground truth made by cutting and warping known images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from imagelens.detections import Detections
from imagelens.models.spec import ModelSpec

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
PANO_DIR = DATA / "skimage_tutorials_pano" / "pano"
RECEIPT_DIR = DATA / "sroie_receipts_ocr" / "img"
OWL_MODEL_ID = "owlv2-base-patch16-ensemble"


@pytest.fixture(scope="session")
def owl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny random-weight OWLv2 (``IMAGELENS_MODEL_DIR``), made once per session."""
    from imagelens.testing.tiny_models import write_tiny_models

    root = tmp_path_factory.mktemp("owl-tiny")
    write_tiny_models(root, seed=0, only=[OWL_MODEL_ID])
    return root


def require(path: Path) -> Path:
    """The path, or skip the test with the reason when the shared data is absent."""
    if not path.exists():
        pytest.skip(f"shared data not present: {path.resolve()}")
    return path


def detections(boxes: npt.ArrayLike, scores: npt.ArrayLike, names: Sequence[str]) -> Detections:
    """Real :class:`Detections` (the one type every detector returns) from boxes, scores and per-box names."""
    vocabulary = tuple(dict.fromkeys(names))
    return Detections(
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        scores=np.asarray(scores, dtype=np.float64),
        class_ids=np.asarray([vocabulary.index(n) for n in names], dtype=np.int64),
        class_names=vocabulary,
    )


class FakeDetector:
    """An open-vocabulary detector (``OpenVocabDetector``) that returns fixed detections and records the calls.

    With ``by_label``, a prompt ``label=...`` keeps the boxes of that label only, so the labels a caller asks for
    are the names it gets back (as with a real open-vocabulary model)."""

    spec: ModelSpec

    def __init__(self, result: Detections, *, by_label: bool = False) -> None:
        self.result = result
        self.by_label = by_label
        self.calls: list[tuple[object, object, tuple[int, ...]]] = []

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> FakeDetector:
        raise NotImplementedError("a test fake is made directly")

    def close(self) -> None:
        pass

    def detect(
        self, rgb: npt.NDArray[np.uint8], prompts: Any = None, threshold: float | None = None
    ) -> Detections:
        self.calls.append((prompts, threshold, rgb.shape))
        out = self.result
        if self.by_label and prompts:
            items = prompts.items() if isinstance(prompts, dict) else (str(p).split("=", 1) for p in prompts)
            wanted = {label.strip() for label, *_ in items}
            out = out[np.asarray([n in wanted for n in out.names], dtype=bool)]
        if threshold is not None:
            out = out.above(threshold)
        return out


def load_resized(path: Path, *, width: int | None = None, height: int | None = None) -> np.ndarray:
    """An RGB array resized (Lanczos) to the given width or height, keeping the aspect ratio."""
    from PIL import Image

    with Image.open(require(path)) as im:
        rgb = im.convert("RGB")
        if width is not None:
            size = (width, round(rgb.height * width / rgb.width))
        elif height is not None:
            size = (round(rgb.width * height / rgb.height), height)
        else:
            size = rgb.size
        return np.asarray(rgb.resize(size, Image.Resampling.LANCZOS))


def synthetic_texture(height: int, width: int, seed: int) -> np.ndarray:
    """A deterministic, feature-rich RGB image (multi-scale smoothed noise plus random discs) for offline tests."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    for sigma, weight in ((12.0, 0.5), (4.0, 0.3), (1.5, 0.2)):
        noise = rng.normal(0, 1, (height, width, 3)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), sigma)
        out += weight * noise / (noise.std() + 1e-6)
    out = 128 + 45 * out
    for _ in range(width * height // 4000):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(out, centre, int(rng.integers(3, 14)), colour, thickness=-1)
    return np.clip(out, 0, 255).astype(np.uint8)


def cut_tiles(
    image: np.ndarray, cols: int, rows: int, overlap: float, jitter: int = 0, seed: int = 0
) -> tuple[list[np.ndarray], list[tuple[int, int]], tuple[int, int]]:
    """Tiles in left-to-right then top-to-bottom order with the given overlap, each shifted by up to ``jitter``
    pixels (inwards) so the offsets are not a regular grid. Returns tiles, their top-left offsets and tile size."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    tw = int(w / (cols - (cols - 1) * overlap)) - jitter
    th = int(h / (rows - (rows - 1) * overlap)) - jitter
    xs = [round(k * (w - tw - jitter) / max(cols - 1, 1)) for k in range(cols)]
    ys = [round(k * (h - th - jitter) / max(rows - 1, 1)) for k in range(rows)]
    tiles, offsets = [], []
    for y in ys:
        for x in xs:
            dx, dy = (int(v) for v in rng.integers(0, jitter + 1, 2))
            offsets.append((x + dx, y + dy))
            tiles.append(np.ascontiguousarray(image[y + dy : y + dy + th, x + dx : x + dx + tw]))
    return tiles, offsets, (tw, th)


def psnr_against_source(
    result: object, source: np.ndarray, offsets: list[tuple[int, int]]
) -> tuple[float, float]:
    """PSNR of a stitched result against the source image placed by the result's own transform of tile 0.

    Returns (PSNR in dB over the pixels both cover, the share of the output those pixels are).
    """
    import cv2

    from imagelens.shelf.stitch import StitchResult

    assert isinstance(result, StitchResult)
    k0 = result.used[0]
    x0, y0 = offsets[k0]
    m = result.transforms[0] @ np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]])
    h, w = result.image.shape[:2]
    ref = cv2.warpAffine(source, m[:2], (w, h), flags=cv2.INTER_CUBIC)
    inside = cv2.warpAffine(np.ones(source.shape[:2], np.uint8), m[:2], (w, h), flags=cv2.INTER_NEAREST) > 0
    inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    mask = result.mask & inside
    diff = (result.image.astype(np.float64) - ref.astype(np.float64))[mask]
    mse = float(np.mean(diff**2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10)), float(mask.mean())


def warp_onto_background(
    document: np.ndarray, seed: int, *, jitter: float = 0.15, margin: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The document warped by a random homography onto a dark, noisy background.

    Returns (image, true corners TL, TR, BR, BL in continuous pixel coordinates, homography document -> image).
    """
    import cv2

    from imagelens.geometry import homography_from_points, to_pixel_center_convention

    rng = np.random.default_rng(seed)
    h, w = document.shape[:2]
    out_w, out_h = int(w * (1 + 2 * margin)), int(h * (1 + 2 * margin))
    cx, cy = out_w / 2, out_h / 2
    base = np.array(
        [
            [cx - w / 2, cy - h / 2],
            [cx + w / 2, cy - h / 2],
            [cx + w / 2, cy + h / 2],
            [cx - w / 2, cy + h / 2],
        ]
    )
    corners = base + rng.uniform(-jitter, jitter, (4, 2)) * np.array([w, h])
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    hom = homography_from_points(src, corners)
    hom_cv = to_pixel_center_convention(hom)
    level = float(rng.integers(20, 60))
    background = np.clip(level + rng.normal(0, 8, (out_h, out_w, 3)), 0, 255)
    warped = cv2.warpPerspective(document, hom_cv, (out_w, out_h), flags=cv2.INTER_LINEAR).astype(np.float64)
    alpha = cv2.warpPerspective(np.ones((h, w), np.float32), hom_cv, (out_w, out_h), flags=cv2.INTER_LINEAR)
    alpha = alpha[:, :, None].astype(np.float64)
    # The warp already blended the document's edge with black (premultiplied): add the background behind it.
    image = np.clip(warped + background * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)
    return image, corners, hom
