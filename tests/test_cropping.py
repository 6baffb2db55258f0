"""Smart crops, area of interest and thumbnails (imagelens.cropping): contracts, properties and real-photo figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagelens import cropping
from imagelens.errors import InvalidArgumentError
from imagelens.types import BoundingBox, SmartCrop

COCO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco_val2017_first128"


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Blocky random colours: contrast everywhere, so no position is trivially best."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)[:h, :w])


def with_square(h: int, w: int, x: int, y: int, sw: int, sh: int, bg: int = 40, fg: int = 230) -> np.ndarray:
    img = np.full((h, w, 3), bg, np.uint8)
    img[y : y + sh, x : x + sw] = fg
    return img


def contains(outer: BoundingBox, x: float, y: float, w: float, h: float) -> bool:
    return outer.x <= x and outer.y <= y and outer.x2 >= x + w and outer.y2 >= y + h


def assert_valid_crop(box: BoundingBox, width: int, height: int, ratio: float) -> None:
    assert all(float(v).is_integer() for v in (box.x, box.y, box.w, box.h)), box
    assert box.x >= 0 and box.y >= 0 and box.x2 <= width and box.y2 <= height, box
    assert box.w >= 1 and box.h >= 1
    assert abs(box.w - ratio * box.h) <= 1.0, f"{box.w}x{box.h} is not {ratio} within 1 px"


# --- geometry of the crops -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [(400, 300), (300, 400), (640, 360), (50, 50), (1001, 97), (97, 1001), (256, 256)],
)
@pytest.mark.parametrize("ratio", [0.75, 0.9, 1.0, 1.33, 1.5, 1.8])
def test_crops_are_integer_boxes_inside_the_image_with_the_ratio(
    width: int, height: int, ratio: float
) -> None:
    (crop,) = cropping.smart_crops(textured(height, width), [ratio])
    assert crop.aspect_ratio == ratio
    assert_valid_crop(crop.box, width, height, ratio)


@pytest.mark.parametrize(("width", "height"), [(400, 300), (300, 400), (640, 360)])
def test_largest_crop_spans_one_full_side(width: int, height: int) -> None:
    imp = cropping.importance_map(textured(height, width))
    for ratio in (0.75, 1.0, 1.8):
        box = cropping.best_crop(imp, width, height, ratio, allow_smaller=False)
        assert box.w == width or box.h == height, box


@pytest.mark.parametrize(
    ("width", "height", "ratio"), [(400, 300, 400 / 300), (400, 300, 1.33), (160, 90, 1.77)]
)
def test_ratio_of_the_image_gives_the_whole_image(width: int, height: int, ratio: float) -> None:
    """The image's own ratio, up to a 1 px rounding, gives the whole image (nothing worth cropping)."""
    img = with_square(height, width, 10, 10, 20, 20)
    (crop,) = cropping.smart_crops(img, [ratio])
    assert crop.box == BoundingBox(0, 0, width, height)
    (other,) = cropping.smart_crops(img, [1.0])
    assert other.box.w < width  # a different ratio does crop


def test_flat_image_is_cropped_in_the_centre() -> None:
    img = np.full((200, 400, 3), 128, np.uint8)
    (crop,) = cropping.smart_crops(img, [1.0])
    assert crop.box.h == 200 and abs(crop.box.x - 100) <= 1, crop.box


@pytest.mark.parametrize("ratio", [0.75, 1.0, 1.8])
def test_crop_follows_off_centre_content(ratio: float) -> None:
    """A bright object at the left edge of a wide image: the crop must move there, away from the centre."""
    img = with_square(200, 600, 5, 80, 30, 30)
    (crop,) = cropping.smart_crops(img, [ratio])
    assert crop.box.x == 0 and contains(crop.box, 5, 80, 30, 30)


@st.composite
def scene(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, int, int, int], float]:
    """A flat background with one bright square at a random place, small enough to fit any crop."""
    w = draw(st.integers(min_value=60, max_value=240))
    h = draw(st.integers(min_value=60, max_value=240))
    side = draw(st.integers(min_value=3, max_value=max(3, min(w, h) // 5)))
    x = draw(st.integers(min_value=0, max_value=w - side))
    y = draw(st.integers(min_value=0, max_value=h - side))
    ratio = draw(st.floats(min_value=0.75, max_value=1.8, allow_nan=False))
    bg = draw(st.integers(min_value=0, max_value=110))
    return with_square(h, w, x, y, side, side, bg=bg, fg=bg + 140), (x, y, side, side), ratio


@given(scene())
@settings(max_examples=60, deadline=None, derandomize=True)
def test_bright_object_is_inside_every_crop(
    case: tuple[np.ndarray, tuple[int, int, int, int], float],
) -> None:
    img, obj, ratio = case
    (crop,) = cropping.smart_crops(img, [ratio])
    assert_valid_crop(crop.box, img.shape[1], img.shape[0], ratio)
    assert contains(crop.box, *obj), (crop.box, obj)


# --- weighted boxes -------------------------------------------------------------------------------------------------


def test_face_box_beats_a_busier_region() -> None:
    """Texture on the right, a plain face box on the left: pixels alone go right, the face pulls the crop left."""
    img = np.full((300, 600, 3), 120, np.uint8)
    img[:, 380:] = textured(300, 220, seed=3)
    face = BoundingBox(40, 100, 70, 90)
    (pixels_only,) = cropping.smart_crops(img, [0.75])
    (with_face,) = cropping.smart_crops(img, [0.75], boxes=[face], weights=[cropping.BOX_WEIGHTS["face"]])
    assert not contains(pixels_only.box, face.x, face.y, face.w, face.h)
    assert contains(with_face.box, face.x, face.y, face.w, face.h)


@st.composite
def face_scene(draw: st.DrawFn) -> tuple[np.ndarray, BoundingBox, float]:
    w = draw(st.integers(min_value=80, max_value=240))
    h = draw(st.integers(min_value=80, max_value=240))
    ratio = draw(st.sampled_from([0.75, 1.0, 1.33, 1.8]))
    cw, ch = min(w, round(h * ratio)), min(h, round(w / ratio))
    fw = draw(st.integers(min_value=4, max_value=max(4, min(cw, ch) // 2)))
    fh = draw(st.integers(min_value=4, max_value=max(4, min(cw, ch) // 2)))
    fx = draw(st.floats(min_value=0, max_value=w - fw))
    fy = draw(st.floats(min_value=0, max_value=h - fh))
    return textured(h, w, seed=draw(st.integers(0, 1000))), BoundingBox(fx, fy, fw, fh), ratio


@given(face_scene())
@settings(max_examples=40, deadline=None, derandomize=True)
def test_weighted_face_is_kept_whole(case: tuple[np.ndarray, BoundingBox, float]) -> None:
    img, face, ratio = case
    (crop,) = cropping.smart_crops(img, [ratio], boxes=[face], weights=[cropping.BOX_WEIGHTS["face"]])
    assert contains(crop.box, face.x, face.y, face.w, face.h), (crop.box, face)


def test_box_cut_in_half_is_penalised() -> None:
    """Uniform importance: without boxes every position ties (centre wins); a box at the centre crop's edge moves it."""
    imp = np.ones((100, 200), np.float32)
    box = BoundingBox(130, 20, 40, 40)  # the centred 100 x 100 crop (x 50..150) would cut it in half
    centred = cropping.best_crop(imp, 200, 100, 1.0)
    assert centred.x == 50
    moved = cropping.best_crop(imp, 200, 100, 1.0, boxes=[box])
    assert contains(moved, box.x, box.y, box.w, box.h) or moved.x2 <= box.x, moved


def test_box_weights_add_mass_inside_the_box() -> None:
    img = textured(120, 160)
    box = BoundingBox(20, 30, 40, 40)
    plain = cropping.importance_map(img)
    weighted = cropping.importance_map(img, boxes=[box], weights=[2.0])
    diff = weighted.astype(np.float64) - plain
    assert diff.min() >= -1e-4
    inside = diff[30:70, 20:60].sum()
    assert inside == pytest.approx(diff.sum(), rel=1e-3)
    assert diff.sum() == pytest.approx(2.0 * cropping.BOX_MASS_SHARE * plain.sum(), rel=1e-3)


# --- the importance map ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("h", "w"), [(3000, 4000), (300, 400), (60, 50), (50, 1200)])
def test_importance_map_shape_and_range(h: int, w: int) -> None:
    img = np.zeros((h, w, 3), np.uint8)
    img[h // 3 : h // 2, w // 3 : w // 2] = 255
    imp = cropping.importance_map(img)
    assert imp.dtype == np.float32
    assert max(imp.shape) == min(max(h, w), cropping.MAP_LONG_SIDE)
    assert imp.shape[0] / imp.shape[1] == pytest.approx(h / w, rel=0.1)
    assert np.all(np.isfinite(imp)) and imp.min() >= 0


def test_importance_map_accepts_grey_and_rgba() -> None:
    rgb = with_square(80, 100, 10, 10, 20, 20)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    base = cropping.importance_map(rgb)
    np.testing.assert_array_equal(cropping.importance_map(rgba), base)
    np.testing.assert_array_equal(cropping.importance_map(rgb[:, :, 0]), base)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10, 2), np.uint8),
        np.zeros((0, 10, 3), np.uint8),
        np.zeros((10,), np.uint8),
    ],
    ids=["float", "two-channels", "empty", "1-d"],
)
def test_bad_images_are_rejected(bad: np.ndarray) -> None:
    with pytest.raises(InvalidArgumentError, match="image"):
        cropping.smart_crops(bad, [1.0])


def test_mismatched_weights_are_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="2 content boxes but 1 weights"):
        cropping.importance_map(textured(60, 60), boxes=[BoundingBox(0, 0, 5, 5)] * 2, weights=[1.0])


# --- aspect-ratio validation and the default ratio -----------------------------------------------------------------


@pytest.mark.parametrize("ratio", [0.74, 1.81, 0.5, 2.0, 0.0, -1.0, math.nan, math.inf, True, "1.0"])
def test_ratios_outside_azure_range_are_rejected(ratio: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"between 0\.75 and 1\.8") as info:
        cropping.smart_crops(textured(60, 60), [ratio])  # type: ignore[list-item]
    assert info.value.to_azure()["error"]["innererror"]["code"] == "BadArgument"


def test_ratio_bounds_are_inclusive_and_order_is_kept() -> None:
    crops = cropping.smart_crops(textured(90, 120), [1.8, 0.75, 1.0])
    assert [c.aspect_ratio for c in crops] == [1.8, 0.75, 1.0]


def test_ratios_may_come_as_any_iterable_of_numbers() -> None:
    img = textured(90, 120)
    expected = cropping.smart_crops(img, [0.8, 1.5])
    assert cropping.smart_crops(img, np.array([0.8, 1.5])) == expected
    assert cropping.smart_crops(img, iter([0.8, 1.5])) == expected
    with pytest.raises(InvalidArgumentError, match="list of numbers"):
        cropping.smart_crops(img, "0.8,1.5")  # type: ignore[arg-type]


def test_at_most_ten_ratios() -> None:
    assert len(cropping.smart_crops(textured(60, 80), [1.0] * 10)) == 10
    with pytest.raises(InvalidArgumentError, match="at most 10"):
        cropping.smart_crops(textured(60, 80), [1.0] * 11)


@pytest.mark.parametrize("ratios", [None, ()])
def test_no_ratio_gives_one_crop_at_a_default_ratio(ratios: tuple[float, ...] | None) -> None:
    img = with_square(200, 300, 120, 40, 40, 80)
    crops = cropping.smart_crops(img, ratios)
    assert len(crops) == 1 and isinstance(crops[0], SmartCrop)
    ratio = crops[0].aspect_ratio
    assert cropping.DEFAULT_MIN_ASPECT_RATIO <= ratio <= cropping.DEFAULT_MAX_ASPECT_RATIO
    assert_valid_crop(crops[0].box, 300, 200, ratio)
    assert contains(crops[0].box, 120, 40, 40, 80)


@pytest.mark.parametrize(
    ("h", "w", "obj", "expect"),
    [
        (300, 400, (180, 30, 30, 240), "tall"),  # a tall object in a landscape image: a portrait crop
        (400, 300, (30, 180, 240, 30), "wide"),  # a wide object in a portrait image: a landscape crop
        (300, 400, (195, 5, 6, 290), "min"),  # a thin vertical line: clamped at 0.5
        (100, 600, (10, 45, 580, 8), "max"),  # a thin horizontal line: clamped at 2.0
        (300, 400, None, "own"),  # nothing stands out: the image's own ratio
    ],
)
def test_default_ratio_follows_the_content(h: int, w: int, obj: tuple[int, ...] | None, expect: str) -> None:
    img = np.full((h, w, 3), 60, np.uint8) if obj is None else with_square(h, w, *obj)
    ratio = cropping.choose_aspect_ratio(cropping.importance_map(img), w, h)
    assert 0.5 <= ratio <= 2.0
    expected = {"tall": lambda r: r < 1.0, "wide": lambda r: r > 1.0, "min": lambda r: r == 0.5}
    expected |= {"max": lambda r: r == 2.0, "own": lambda r: r == round(w / h, 2)}
    assert expected[expect](ratio), ratio


def test_crops_are_deterministic() -> None:
    img = textured(180, 260, seed=7)
    boxes = [BoundingBox(30, 40, 50, 60), BoundingBox(150, 20, 40, 40)]
    first = cropping.smart_crops(img, [0.8, 1.2, 1.7], boxes=boxes, weights=[4.0, 1.0])
    again = cropping.smart_crops(img.copy(), [0.8, 1.2, 1.7], boxes=list(boxes), weights=[4.0, 1.0])
    assert first == again
    assert cropping.smart_crops(img, None) == cropping.smart_crops(img.copy(), None)


# --- area of interest -----------------------------------------------------------------------------------------------


@st.composite
def rect_scene(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    w = draw(st.integers(min_value=60, max_value=240))
    h = draw(st.integers(min_value=60, max_value=240))
    sw = draw(st.integers(min_value=3, max_value=w // 3))
    sh = draw(st.integers(min_value=3, max_value=h // 3))
    x = draw(st.integers(min_value=0, max_value=w - sw))
    y = draw(st.integers(min_value=0, max_value=h - sh))
    return with_square(h, w, x, y, sw, sh), (x, y, sw, sh)


@given(rect_scene())
@settings(max_examples=50, deadline=None, derandomize=True)
def test_area_of_interest_contains_the_object(case: tuple[np.ndarray, tuple[int, int, int, int]]) -> None:
    img, obj = case
    h, w = img.shape[:2]
    aoi = cropping.area_of_interest(img)
    assert all(float(v).is_integer() for v in (aoi.x, aoi.y, aoi.w, aoi.h))
    assert aoi.x >= 0 and aoi.y >= 0 and aoi.x2 <= w and aoi.y2 <= h
    assert contains(aoi, *obj), (aoi, obj)


def test_area_of_interest_is_tight_and_grows_to_weighted_boxes() -> None:
    img = with_square(300, 400, 250, 50, 40, 40)
    aoi = cropping.area_of_interest(img)
    assert contains(aoi, 250, 50, 40, 40)
    assert aoi.area < 0.2 * 400 * 300  # around the object, not the image
    face = BoundingBox(20, 200, 30, 30)  # a weighted box far from it is included
    grown = cropping.area_of_interest(img, boxes=[face])
    assert contains(grown, 250, 50, 40, 40) and contains(grown, 20, 200, 30, 30)


def test_area_of_interest_of_a_flat_image_is_the_image() -> None:
    assert cropping.area_of_interest(np.full((90, 120, 3), 7, np.uint8)) == BoundingBox(0, 0, 120, 90)


# --- thumbnails -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tw", "th"), [(100, 100), (1, 1), (1024, 1), (1, 1024), (37, 91), (1024, 1024), (300, 50)]
)
@pytest.mark.parametrize("smart", [True, False])
def test_thumbnail_is_exactly_the_requested_size(tw: int, th: int, smart: bool) -> None:
    out = cropping.thumbnail(textured(150, 200), tw, th, smart=smart)
    assert out.shape == (th, tw, 3) and out.dtype == np.uint8


@pytest.mark.parametrize(
    ("tw", "th"), [(0, 10), (10, 0), (1025, 10), (10, 1025), (-3, 10), (10.5, 10), (True, 10)]
)
def test_thumbnail_size_out_of_range_is_rejected(tw: object, th: object) -> None:
    with pytest.raises(InvalidArgumentError, match="between 1 and 1024"):
        cropping.thumbnail(textured(60, 60), tw, th)  # type: ignore[arg-type]


def test_smart_and_centred_thumbnails_differ_when_content_is_off_centre() -> None:
    img = with_square(200, 600, 20, 70, 60, 60, bg=20, fg=250)
    smart = cropping.thumbnail(img, 64, 64, smart=True)
    centred = cropping.thumbnail(img, 64, 64, smart=False)
    assert smart.max() >= 240  # the object made it into the smart thumbnail
    assert centred.max() <= 30  # the centred one shows background only
    assert not np.array_equal(smart, centred)


def test_centred_thumbnail_of_a_matching_ratio_is_a_plain_resize() -> None:
    import cv2

    img = textured(200, 300, seed=5)
    expected = cv2.resize(img, (150, 100), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(cropping.thumbnail(img, 150, 100, smart=False), expected)


# --- real photographs ------------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_smart_crops_keep_more_of_the_coco_objects_than_centred_crops() -> None:
    """On 40 COCO photos, crops guided by the annotated boxes (as the ``objects`` feature would give them) keep more
    of each object than centred crops do, and pixel saliency alone keeps more objects whole than the centre."""
    ann_path = COCO / "annotations" / "instances_val2017_first128_from_yolo.json"
    if not ann_path.exists():
        pytest.skip(f"real data not present: {ann_path}")
    from PIL import Image

    data = json.loads(ann_path.read_text())
    boxes_of: dict[int, list[BoundingBox]] = {}
    for ann in data["annotations"]:
        boxes_of.setdefault(ann["image_id"], []).append(BoundingBox(*ann["bbox"]))

    def kept(crop: BoundingBox, boxes: list[BoundingBox]) -> tuple[float, float]:
        fractions = []
        for b in boxes:
            ix = max(0.0, min(crop.x2, b.x2) - max(crop.x, b.x))
            iy = max(0.0, min(crop.y2, b.y2) - max(crop.y, b.y))
            fractions.append(ix * iy / b.area)
        return float(np.mean(fractions)), float(np.mean([f >= 0.98 for f in fractions]))

    scores: dict[str, list[tuple[float, float]]] = {"pixels": [], "boxes": [], "centre": []}
    for image in data["images"][:40]:
        rgb = np.asarray(Image.open(COCO / "images" / image["file_name"]).convert("RGB"))
        h, w = rgb.shape[:2]
        gts = boxes_of[image["id"]]
        plain = cropping.importance_map(rgb)
        guided = cropping.importance_map(rgb, boxes=gts, weights=[cropping.BOX_WEIGHTS["object"]] * len(gts))
        for ratio in (0.75, 1.0, 1.8):
            scores["pixels"].append(kept(cropping.best_crop(plain, w, h, ratio), gts))
            scores["boxes"].append(kept(cropping.best_crop(guided, w, h, ratio, boxes=gts), gts))
            scores["centre"].append(kept(cropping.centred_crop(w, h, ratio), gts))
    mean = {k: np.mean(v, axis=0) for k, v in scores.items()}
    assert mean["boxes"][0] > mean["centre"][0] + 0.03, mean
    assert mean["pixels"][1] > mean["centre"][1], mean
