"""encode_image writes what load_image reads back."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imagelens.errors import InvalidArgumentError
from imagelens.io import encode_image, load_image

_rng = np.random.default_rng(11)
PIXELS = _rng.integers(0, 256, (60, 80, 3), np.uint8)


@pytest.mark.parametrize(
    ("fmt", "expected", "lossless"),
    [("png", "png", True), ("PNG", "png", True), ("bmp", "bmp", True), ("tiff", "tiff", True), ("tif", "tiff", True),
     ("jpeg", "jpeg", False), ("jpg", "jpeg", False), ("webp", "webp", False)],
)  # fmt: skip
def test_round_trip_through_load_image(fmt: str, expected: str, lossless: bool) -> None:
    smooth = np.repeat(np.repeat(PIXELS[::10, ::10], 10, 0), 10, 1)  # blocks survive lossy codecs
    loaded = load_image(encode_image(smooth, fmt, quality=95))
    assert loaded.format == expected and (loaded.width, loaded.height) == (80, 60)
    difference = np.abs(loaded.array().astype(int) - smooth).mean()
    # 4:2:0 chroma subsampling costs ~7.5 levels on these colour blocks; an unrelated image differs by ~79
    assert difference == 0 if lossless else difference < 12


def test_gif_keeps_a_few_flat_colours_exactly() -> None:
    flat = np.zeros((60, 80, 3), np.uint8)
    flat[:, 40:] = (0, 0, 255)
    assert np.array_equal(load_image(encode_image(flat, "gif")).array(), flat)


def test_alpha_is_flattened_on_white_for_jpeg_and_kept_for_png() -> None:
    clear = np.zeros((60, 80, 4), np.uint8)
    assert load_image(encode_image(clear, "jpeg")).array().min() > 245
    assert Image.open(io.BytesIO(encode_image(clear, "png"))).mode == "RGBA"


@pytest.mark.parametrize(
    ("image", "fmt", "quality"),
    [(PIXELS, "svg", 90), (PIXELS, "jpeg", 0), (PIXELS, "jpeg", 101), (PIXELS.astype(np.float32), "png", 90),
     (PIXELS[..., :2], "png", 90), ("not an image", "png", 90)],
    ids=["format", "quality 0", "quality 101", "float array", "two channels", "str"],
)  # fmt: skip
def test_bad_arguments(image: object, fmt: str, quality: int) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        encode_image(image, fmt, quality=quality)  # type: ignore[arg-type]
    assert caught.value.inner_code == "BadArgument"
