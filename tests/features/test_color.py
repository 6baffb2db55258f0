from __future__ import annotations

import numpy as np
import pytest

from imagelens.features.color import analyze_colour


def _image(background: tuple[int, int, int], square: tuple[int, int, int] | None = None) -> np.ndarray:
    img = np.zeros((200, 300, 3), np.uint8)
    img[:] = background
    if square is not None:
        img[50:150, 100:200] = square
    return img


@pytest.mark.parametrize(
    ("background", "square", "fg", "bg"),
    [
        ((245, 245, 245), (210, 25, 25), "Red", "White"),
        ((15, 15, 15), (240, 225, 40), "Yellow", "Black"),
        ((40, 80, 200), (50, 150, 50), "Green", "Blue"),
    ],
)
def test_foreground_and_background(background, square, fg, bg) -> None:  # type: ignore[no-untyped-def]
    info = analyze_colour(_image(background, square))
    assert (info.dominant_foreground, info.dominant_background) == (fg, bg)
    assert info.dominant_colors[0] == bg and fg in info.dominant_colors
    assert not info.is_bw


def test_accent_is_the_vivid_colour_in_hex() -> None:
    info = analyze_colour(_image((245, 245, 245), (210, 25, 25)))
    r, g, b = (int(info.accent_color[i : i + 2], 16) for i in (0, 2, 4))
    assert r > 180 and g < 60 and b < 60


def test_grey_image_is_black_and_white() -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (120, 160), dtype=np.uint8)
    info = analyze_colour(np.repeat(grey[:, :, None], 3, axis=2))
    assert info.is_bw
    assert info.dominant_background in {"Black", "Gray", "White"}
