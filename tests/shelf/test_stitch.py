"""Stitching against exact ground truth: tiles cut with known offsets and stitched back."""

from __future__ import annotations

import numpy as np
import pytest

from imagelens.errors import InvalidArgumentError
from imagelens.shelf.stitch import MAX_IMAGES, stitch

from .conftest import PANO_DIR, RECEIPT_DIR, cut_tiles, load_resized, psnr_against_source, synthetic_texture


def _expected_size(offsets: list[tuple[int, int]], tile: tuple[int, int]) -> tuple[int, int]:
    xs, ys = [o[0] for o in offsets], [o[1] for o in offsets]
    return max(xs) + tile[0] - min(xs), max(ys) + tile[1] - min(ys)


def _check(result, source, offsets, tile, *, min_psnr: float) -> None:
    width, height = _expected_size(offsets, tile)
    assert abs(result.width - width) <= 2 and abs(result.height - height) <= 2, (
        result.image.shape,
        width,
        height,
    )
    psnr, covered = psnr_against_source(result, source, offsets)
    assert covered > 0.9
    assert psnr > min_psnr, psnr


def test_synthetic_row_stitches_back_exactly() -> None:
    source = synthetic_texture(360, 900, seed=1)
    tiles, offsets, tile = cut_tiles(source, cols=4, rows=1, overlap=0.35, jitter=6, seed=1)
    result = stitch(tiles)
    assert result.used == (0, 1, 2, 3) and result.dropped == ()
    _check(result, source, offsets, tile, min_psnr=30.0)
    accepted = [p for p in result.pairs if p.accepted]
    assert {(p.source, p.target) for p in accepted} >= {(1, 0), (2, 1), (3, 2)}
    assert all(p.reprojection_error_px < 0.5 for p in accepted)


def test_synthetic_grid_in_reading_order() -> None:
    """A 2 x 3 grid given left to right, then top to bottom: image 3 overlaps 0, not its predecessor 2."""
    source = synthetic_texture(600, 800, seed=2)
    tiles, offsets, tile = cut_tiles(source, cols=3, rows=2, overlap=0.35, jitter=4, seed=2)
    result = stitch(tiles)
    assert result.used == tuple(range(6))
    _check(result, source, offsets, tile, min_psnr=30.0)
    assert not any(p.accepted for p in result.pairs if (p.source, p.target) == (3, 2))


def test_similarity_and_homography_models() -> None:
    source = synthetic_texture(300, 700, seed=3)
    tiles, offsets, tile = cut_tiles(source, cols=3, rows=1, overlap=0.4, seed=3)
    for model in ("similarity", "homography"):
        result = stitch(tiles, model=model)
        assert result.model == model
        _check(result, source, offsets, tile, min_psnr=30.0)


def test_orb_features() -> None:
    source = synthetic_texture(300, 700, seed=13)
    tiles, offsets, tile = cut_tiles(source, cols=3, rows=1, overlap=0.45, seed=13)
    result = stitch(tiles, features="orb")
    assert result.used == (0, 1, 2)
    _check(result, source, offsets, tile, min_psnr=28.0)


def test_deterministic() -> None:
    tiles, _, _ = cut_tiles(synthetic_texture(300, 700, seed=4), cols=3, rows=1, overlap=0.4, seed=4)
    a, b = stitch(tiles), stitch(tiles)
    assert np.array_equal(a.image, b.image)
    assert a.pairs == b.pairs


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "overlap"), [("DFM_4209.jpg", 0.5), ("DFM_4209.jpg", 0.3), ("JDW_9518.jpg", 0.2)]
)
def test_panorama_tiles_stitch_back(name: str, overlap: float) -> None:
    """Tiles of a real photo (downscaled to 800 px wide), 20-50 % overlap: PSNR against the original region."""
    source = load_resized(PANO_DIR / name, width=800)
    tiles, offsets, tile = cut_tiles(source, cols=4, rows=1, overlap=overlap, jitter=8, seed=5)
    result = stitch(tiles)
    assert result.used == (0, 1, 2, 3)
    _check(result, source, offsets, tile, min_psnr=27.0)


@pytest.mark.realdata
def test_portrait_panorama_grid() -> None:
    source = load_resized(PANO_DIR / "JDW_0302.jpg", width=600)
    tiles, offsets, tile = cut_tiles(source, cols=2, rows=3, overlap=0.3, jitter=5, seed=6)
    result = stitch(tiles)
    assert result.used == tuple(range(6))
    _check(result, source, offsets, tile, min_psnr=27.0)


@pytest.mark.realdata
def test_opencv_scans_alternative_at_half_overlap() -> None:
    source = load_resized(PANO_DIR / "JDW_9518.jpg", width=800)
    tiles, _, _ = cut_tiles(source, cols=3, rows=1, overlap=0.5)
    result = stitch(tiles, method="opencv")
    assert result.method == "opencv" and result.used == (0, 1, 2)
    assert abs(result.width - source.shape[1]) <= 8 and abs(result.height - source.shape[0]) <= 8


def test_unrelated_image_is_dropped_and_reported() -> None:
    tiles, offsets, tile = cut_tiles(synthetic_texture(300, 700, seed=7), cols=3, rows=1, overlap=0.4, seed=7)
    stranger = synthetic_texture(300, 300, seed=99)
    result = stitch([tiles[0], tiles[1], stranger, tiles[2]])
    assert result.used == (0, 1, 3)
    assert result.dropped == (2,)
    assert not any(p.accepted for p in result.pairs if 2 in (p.source, p.target))
    with pytest.raises(InvalidArgumentError, match=r"images \[2\] do not overlap"):
        stitch([tiles[0], tiles[1], stranger, tiles[2]], require_all=True)


def test_non_overlapping_images_are_an_error() -> None:
    source = synthetic_texture(300, 1000, seed=8)
    left, right = source[:, :400], source[:, 600:]
    with pytest.raises(InvalidArgumentError, match="do not overlap"):
        stitch([left, right])


@pytest.mark.realdata
def test_unrelated_real_photos_do_not_stitch() -> None:
    pano = load_resized(PANO_DIR / "JDW_9518.jpg", width=600)
    receipt = load_resized(RECEIPT_DIR / "009.jpg", height=600)
    with pytest.raises(InvalidArgumentError, match="do not overlap"):
        stitch([pano, receipt])


@pytest.mark.parametrize("count", [0, 1, MAX_IMAGES + 1])
def test_image_count_is_checked(count: int) -> None:
    images = [np.zeros((64, 64, 3), np.uint8)] * count
    with pytest.raises(InvalidArgumentError, match=str(count)):
        stitch(images)


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        (np.zeros((64, 64, 3), np.float32), "uint8"),
        (np.zeros((64, 64, 2), np.uint8), "HxWx3"),
        (np.zeros((8, 64, 3), np.uint8), "too small"),
    ],
)
def test_bad_images_are_rejected(image: np.ndarray, needle: str) -> None:
    with pytest.raises(InvalidArgumentError, match=needle):
        stitch([np.zeros((64, 64, 3), np.uint8), image])


def test_bad_options_are_rejected() -> None:
    tiles = [np.zeros((64, 64, 3), np.uint8)] * 2
    with pytest.raises(InvalidArgumentError, match="model"):
        stitch(tiles, model="perspective")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="method"):
        stitch(tiles, method="magic")  # type: ignore[arg-type]
