"""Shared builders for the shelf tests: exact ground truth made by cutting and warping known images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
PANO_DIR = DATA / "skimage_tutorials_pano" / "pano"
RECEIPT_DIR = DATA / "sroie_receipts_ocr" / "img"


def require(path: Path) -> Path:
    """The path, or skip the test with the reason when the shared data is absent."""
    if not path.exists():
        pytest.skip(f"shared data not present: {path.resolve()}")
    return path


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
