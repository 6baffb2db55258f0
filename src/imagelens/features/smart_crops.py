"""The ``smartCrops`` feature: crops placed over the important content, on :mod:`imagelens.cropping`.

It needs no model. When ``read``, ``people``, ``objects`` or ``faces`` ran in the same call, their boxes are
weighted into the importance map (faces strongest); when they did not (not requested, or their model is missing),
the crop rests on pixel saliency alone, so this feature never fails for want of an optional model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from imagelens.cropping import BOX_WEIGHTS, importance_map, smart_crops_from_map, validate_aspect_ratios
from imagelens.features.base import FeatureContext
from imagelens.models.spec import Role
from imagelens.types import BoundingBox, DetectedObject, Face, Person, ReadResult, SmartCrop

#: Which earlier feature gives which kind of box (the kinds are the keys of ``cropping.BOX_WEIGHTS``).
_SOURCES: tuple[tuple[str, str], ...] = (
    ("faces", "face"),
    ("people", "person"),
    ("read", "text"),
    ("objects", "object"),
)


def _items(result: Any) -> Iterable[Any]:
    return result if isinstance(result, (tuple, list)) else ()


def _boxes_of(kind: str, result: Any) -> list[tuple[BoundingBox, float]]:
    """(box, confidence) pairs from one feature's result; anything unexpected contributes nothing."""
    if result is None:
        return []
    if kind == "text":
        lines = result.lines if isinstance(result, ReadResult) else ()
        out = []
        for line in lines:
            conf = [w.confidence for w in line.words]
            out.append((line.polygon.bounding_box(), sum(conf) / len(conf) if conf else 1.0))
        return out
    if kind in ("face", "person"):
        return [(item.box, item.confidence) for item in _items(result) if isinstance(item, (Face, Person))]
    return [
        (item.box, max((t.confidence for t in item.tags), default=1.0))
        for item in _items(result)
        if isinstance(item, DetectedObject)
    ]


def content_boxes(ctx: FeatureContext) -> tuple[tuple[BoundingBox, ...], tuple[float, ...]]:
    """Boxes of known content from the features that ran in this call, with weight ``BOX_WEIGHTS[kind] * confidence``.

    Scaling by confidence keeps a doubtful detection from dragging the crop away from what the pixels show.
    """
    boxes: list[BoundingBox] = []
    weights: list[float] = []
    for feature, kind in _SOURCES:
        for box, confidence in _boxes_of(kind, ctx.result_of(feature)):
            if (
                confidence > 0 and box.w > 0 and box.h > 0
            ):  # a box with no weight would still block crop edges
                boxes.append(box)
                weights.append(BOX_WEIGHTS[kind] * float(confidence))
    return tuple(boxes), tuple(weights)


class SmartCropsFeature:
    """Azure's ``smartCrops``: one crop per ``smartcrops-aspect-ratios`` value, or one at a ratio chosen here."""

    name: ClassVar[str] = "smartCrops"
    field: ClassVar[str] = "smart_crops"
    needs: ClassVar[tuple[Role, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ("read", "people", "objects", "faces")

    def run(self, ctx: FeatureContext) -> tuple[SmartCrop, ...]:
        ratios = validate_aspect_ratios(
            ctx.options.smartcrops_aspect_ratios
        )  # bad input fails before pixel work
        boxes, weights = content_boxes(ctx)
        image = ctx.image
        importance = ctx.artefact(
            "importance", lambda: importance_map(image.array(), boxes=boxes, weights=weights)
        )
        return smart_crops_from_map(importance, image.width, image.height, ratios, boxes=boxes)
