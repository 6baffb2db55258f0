"""Options, refinement, finishing and the library call (Analyzer.remove_background)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from imagelens.errors import InvalidArgumentError, InvalidImageSizeError
from imagelens.segment import SegmentOptions, parse_color
from imagelens.segment.compose import finish_alpha, keep_largest_subject, render
from imagelens.segment.evaluate import iou
from imagelens.segment.refine import guided_filter, trimap_from_mask

from .conftest import encode, person_image


def test_parse_color() -> None:
    assert parse_color("#FF8000") == (255, 128, 0)
    assert parse_color("0,10,20") == (0, 10, 20)
    assert parse_color("white") == (255, 255, 255)
    assert parse_color("transparent") is None
    for bad in ("#12345", "1,2", "300,0,0", "red-ish"):
        with pytest.raises(InvalidArgumentError):
            parse_color(bad)


def test_options_are_checked() -> None:
    for kwargs in (
        {"output": "png"},
        {"refine": "magic"},
        {"threshold": 1.0},
        {"feather": -1.0},
        {"width": 0},
        {"output": "matte", "background": (0, 0, 0)},
    ):
        with pytest.raises(InvalidArgumentError):
            SegmentOptions(**kwargs)  # type: ignore[arg-type]
    assert SegmentOptions.for_azure_mode("foregroundMatting").output == "matte"
    with pytest.raises(InvalidArgumentError, match="required"):
        SegmentOptions.for_azure_mode(None)
    with pytest.raises(InvalidArgumentError, match="not supported"):
        SegmentOptions.for_azure_mode("backgroundremoval")


def test_output_size_keeps_aspect_and_caps_cutouts_at_16_megapixels() -> None:
    assert SegmentOptions(width=200).output_size(400, 300) == (200, 150)
    assert SegmentOptions(height=150).output_size(400, 300) == (200, 150)
    w, h = SegmentOptions().output_size(6000, 4000)
    assert w * h <= 16_000_000 and abs(w / h - 1.5) < 0.01
    assert SegmentOptions(output="matte").output_size(6000, 4000) == (6000, 4000)


def _blurry_disc(h: int = 200, w: int = 240) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rgb = np.full((h, w, 3), 30, dtype=np.uint8)
    cv2.circle(rgb, (w // 2, h // 2), 60, (220, 210, 200), -1)
    truth = rgb[..., 0] > 100
    coarse = cv2.resize(cv2.resize(truth.astype(np.float32), (16, 16), interpolation=cv2.INTER_AREA), (w, h))
    coarse = cv2.GaussianBlur(coarse, (0, 0), 8)
    return rgb, truth, coarse.astype(np.float32)


def test_guided_filter_snaps_a_coarse_mask_to_the_image_edges() -> None:
    rgb, truth, coarse = _blurry_disc()
    refined = guided_filter(rgb, coarse)
    assert refined.shape == coarse.shape and refined.dtype == np.float32
    assert refined.min() >= 0.0 and refined.max() <= 1.0
    assert iou(refined > 0.5, truth) > iou(coarse > 0.5, truth)


def test_guided_filter_on_a_large_image_works_at_a_bounded_working_size() -> None:
    rgb = np.zeros((1500, 2000, 3), dtype=np.uint8)
    rgb[400:1100, 600:1400] = 200
    coarse = np.zeros((1500, 2000), dtype=np.float32)
    coarse[380:1120, 580:1420] = 1.0
    refined = guided_filter(rgb, coarse)
    assert refined.shape == (1500, 2000)
    assert refined[750, 1000] > 0.9 and refined[50, 50] < 0.1


def test_trimap_bands() -> None:
    mask = np.zeros((50, 50), dtype=np.float32)
    mask[10:40, 10:40] = 1.0
    tri = trimap_from_mask(mask, band=3)
    assert tri[25, 25] == 1.0 and tri[0, 0] == 0.0 and tri[10, 25] == 0.5


def test_finishing_threshold_largest_and_feather() -> None:
    alpha = np.zeros((60, 80), dtype=np.float32)
    alpha[5:40, 5:40] = 1.0  # the big subject
    alpha[50:55, 60:65] = 0.9  # a speck
    alpha[45, 5] = 0.2  # a halo
    kept = keep_largest_subject(alpha)
    assert kept[20, 20] == 1.0 and kept[52, 62] == 0.0
    out = finish_alpha(alpha, SegmentOptions(threshold=0.3))
    assert out[45, 5] == 0.0 and out[52, 62] == pytest.approx(0.9)
    soft = finish_alpha(alpha, SegmentOptions(feather=3.0))
    assert 0.0 < soft[40, 20] < 1.0


def test_render_modes() -> None:
    rgb = np.full((4, 4, 3), 100, dtype=np.uint8)
    alpha = np.array([[0, 64, 128, 255]] * 4, dtype=np.uint8)
    assert render(rgb, alpha, SegmentOptions()).shape == (4, 4, 4)
    assert render(rgb, alpha, SegmentOptions(output="matte")) is alpha
    assert render(rgb, alpha, SegmentOptions(output="mask"))[0].tolist() == [0, 0, 255, 255]
    on_white = render(rgb, alpha, SegmentOptions(background=(255, 255, 255)))
    assert on_white.shape == (4, 4, 3) and on_white[0, 0, 0] == 255 and on_white[0, 3, 0] == 100
    on_image = render(rgb, alpha, SegmentOptions(background_image=np.zeros((9, 9, 3), np.uint8)))
    assert on_image[0, 0, 0] == 0 and on_image[0, 3, 0] == 100


@pytest.mark.parametrize("output,mode", [("cutout", "RGBA"), ("matte", "L"), ("mask", "L")])
@pytest.mark.parametrize("refine", ["guided", "none"])
def test_analyzer_remove_background(analyzer: object, output: str, mode: str, refine: str) -> None:
    meta, result = analyzer.remove_background(  # type: ignore[attr-defined]
        person_image(),
        SegmentOptions(output=output, refine=refine),  # type: ignore[arg-type]
    )
    assert (meta.width, meta.height) == (160, 120)
    assert result.mode == mode and (result.width, result.height) == (160, 120)
    assert result.model_id == "mediapipe-selfie-seg" and "total" in result.timings_ms
    png = Image.open(__import__("io").BytesIO(result.png()))
    assert png.mode == mode and png.size == (160, 120)


def test_analyzer_options_size_background_model(analyzer: object) -> None:
    _, r = analyzer.remove_background(  # type: ignore[attr-defined]
        person_image(), SegmentOptions(width=80, background=(0, 255, 0), model_id="deeplabv3-pascal")
    )
    assert r.mode == "RGB" and (r.width, r.height) == (80, 60) and r.model_id == "deeplabv3-pascal"
    with pytest.raises(InvalidArgumentError, match="cannot serve"):
        analyzer.remove_background(person_image(), SegmentOptions(model_id="yunet-2023mar"))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "name,data",
    [
        ("greyscale", encode(Image.fromarray(person_image()[..., 0]), "PNG")),
        ("cmyk", encode(Image.fromarray(person_image()).convert("CMYK"), "JPEG")),
        (
            "rgba",
            encode(Image.fromarray(np.dstack([person_image(), np.full((120, 160), 128, np.uint8)])), "PNG"),
        ),
        ("palette", encode(Image.fromarray(person_image()).convert("P"), "PNG")),
        (
            "animated-gif",
            encode(
                Image.fromarray(person_image()),
                "GIF",
                save_all=True,
                append_images=[Image.fromarray(person_image(seed=1)[::-1].copy())],
                duration=100,
                loop=0,
            ),
        ),
    ],
)
def test_unusual_inputs_give_a_valid_cutout(analyzer: object, name: str, data: bytes) -> None:
    _, r = analyzer.remove_background(data)  # type: ignore[attr-defined]
    assert r.mode == "RGBA" and (r.width, r.height) == (160, 120), name


def test_a_16000_pixel_wide_image_gets_azures_size_error(analyzer: object) -> None:
    wide = encode(Image.new("RGB", (16000, 60), (10, 20, 30)), "PNG")
    with pytest.raises(InvalidImageSizeError):
        analyzer.remove_background(wide)  # type: ignore[attr-defined]
