"""The ``smartCrops`` feature: boxes from earlier features steer the crop; missing features never make it fail."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from imagelens import cropping
from imagelens.errors import InvalidArgumentError
from imagelens.features.base import AnalysisOptions, FeatureContext
from imagelens.features.registry import feature_class
from imagelens.features.smart_crops import SmartCropsFeature, content_boxes
from imagelens.io import load_image
from imagelens.models.hub import ModelHub
from imagelens.types import (
    BoundingBox,
    DetectedObject,
    Face,
    Line,
    Person,
    Point,
    Polygon,
    ReadResult,
    SmartCrop,
    Tag,
    TextBlock,
    Word,
)


def busy_right_scene() -> np.ndarray:
    """Flat grey on the left, blocky random texture on the right: pixels alone pull the crop right."""
    rng = np.random.default_rng(11)
    img = np.full((300, 600, 3), 120, np.uint8)
    blocks = rng.integers(0, 256, size=(300 // 8 + 1, 220 // 8 + 1, 3), dtype=np.uint8)
    img[:, 380:] = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[:300, :220]
    return img


def make_ctx(
    img: np.ndarray, ratios: tuple[float, ...] | None = None, results: dict[str, Any] | None = None
) -> FeatureContext:
    requested = frozenset({"smartCrops", *(results or {})})
    ctx = FeatureContext(
        load_image(img), ModelHub(), AnalysisOptions(smartcrops_aspect_ratios=ratios), requested
    )
    ctx.results.update(results or {})
    return ctx


def contains(outer: BoundingBox, inner: BoundingBox) -> bool:
    return outer.x <= inner.x and outer.y <= inner.y and outer.x2 >= inner.x2 and outer.y2 >= inner.y2


def rect_polygon(x: float, y: float, w: float, h: float) -> Polygon:
    return Polygon((Point(x, y), Point(x + w, y), Point(x + w, y + h), Point(x, y + h)))


def test_declaration_and_registry() -> None:
    assert feature_class("smartCrops") is SmartCropsFeature
    assert SmartCropsFeature.name == "smartCrops" and SmartCropsFeature.field == "smart_crops"
    assert SmartCropsFeature.needs == ()
    assert set(SmartCropsFeature.after) == {"read", "people", "objects", "faces"}


@pytest.mark.parametrize("ratios", [(0.75,), (0.9, 1.33), (1.8, 0.75, 1.0)])
def test_one_crop_per_requested_ratio(ratios: tuple[float, ...]) -> None:
    crops = SmartCropsFeature().run(make_ctx(busy_right_scene(), ratios))
    assert [c.aspect_ratio for c in crops] == list(ratios)
    for crop in crops:
        assert isinstance(crop, SmartCrop)
        box = crop.box
        assert box.x >= 0 and box.y >= 0 and box.x2 <= 600 and box.y2 <= 300
        assert abs(box.w - crop.aspect_ratio * box.h) <= 1.0


def test_no_ratio_gives_one_default_crop() -> None:
    (crop,) = SmartCropsFeature().run(make_ctx(busy_right_scene(), None))
    assert 0.5 <= crop.aspect_ratio <= 2.0


def test_bad_ratio_fails_before_any_pixel_work() -> None:
    ctx = make_ctx(busy_right_scene(), (0.5,))
    with pytest.raises(InvalidArgumentError, match=r"between 0\.75 and 1\.8"):
        SmartCropsFeature().run(ctx)
    sentinel = np.zeros((1, 1), np.float32)
    assert ctx.artefact("importance", lambda: sentinel) is sentinel  # nothing was computed


def test_faces_from_an_earlier_feature_pull_the_crop() -> None:
    face = BoundingBox(40, 100, 70, 90)
    (alone,) = SmartCropsFeature().run(make_ctx(busy_right_scene(), (0.75,)))
    (guided,) = SmartCropsFeature().run(make_ctx(busy_right_scene(), (0.75,), {"faces": (Face(face, 0.95),)}))
    assert not contains(alone.box, face)
    assert contains(guided.box, face)


def test_importance_is_memoised_for_the_call() -> None:
    ctx = make_ctx(busy_right_scene(), (1.0,))
    first = SmartCropsFeature().run(ctx)
    memo = ctx.artefact("importance", lambda: pytest.fail("importance was not memoised"))
    assert memo.dtype == np.float32 and max(memo.shape) == cropping.MAP_LONG_SIDE
    assert SmartCropsFeature().run(ctx) == first


def test_content_boxes_from_every_source_with_kind_weights() -> None:
    word = Word("hi", rect_polygon(300, 20, 40, 12), 0.8)
    read = ReadResult((TextBlock((Line("hi", rect_polygon(300, 20, 40, 12), (word,)),)),))
    results = {
        "faces": (Face(BoundingBox(1, 2, 10, 12), 0.5),),
        "people": (Person(BoundingBox(5, 5, 50, 120), 1.0),),
        "read": read,
        "objects": (DetectedObject(BoundingBox(100, 100, 30, 30), (Tag("cup", 0.6), Tag("mug", 0.4))),),
    }
    boxes, weights = content_boxes(make_ctx(busy_right_scene(), (1.0,), results))
    w = cropping.BOX_WEIGHTS
    assert boxes == (
        BoundingBox(1, 2, 10, 12),
        BoundingBox(5, 5, 50, 120),
        BoundingBox(300, 20, 40, 12),
        BoundingBox(100, 100, 30, 30),
    )
    assert weights == pytest.approx((w["face"] * 0.5, w["person"] * 1.0, w["text"] * 0.8, w["object"] * 0.6))


@pytest.mark.parametrize(
    "results",
    [
        {},
        {"faces": None, "read": None},
        {"faces": (), "objects": ()},
        {"faces": "unexpected", "people": [1, 2]},
    ],
    ids=["nothing-ran", "not-requested", "nothing-found", "unexpected-shapes"],
)
def test_missing_or_empty_sources_fall_back_to_pixels(results: dict[str, Any]) -> None:
    ctx = make_ctx(busy_right_scene(), (1.0,), results)
    assert content_boxes(ctx) == ((), ())
    assert SmartCropsFeature().run(ctx) == SmartCropsFeature().run(make_ctx(busy_right_scene(), (1.0,)))
