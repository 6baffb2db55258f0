"""Library results -> Azure Image Analysis 4.0 JSON (``ImageAnalysisResult``), exactly as Azure names it.

Only requested blocks appear; ``modelVersion`` and ``metadata`` always do. Pixel coordinates are integers,
confidences floats, text polygons exactly four points, and there is exactly one read block.

Two blocks are imagelens extensions, for the features Azure 4.0 does not have (its HTTP route refuses them, so only
the library and the CLI's ``--json`` produce them): ``facesResult`` (``{values: [{boundingBox, confidence}]}``) and
``colorResult`` (3.2's colour names).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from imagelens.azure.features import moderation_warning
from imagelens.azure.params import wire_model_version
from imagelens.types import (
    AnalysisResult,
    BoundingBox,
    Caption,
    ColorInfo,
    CustomModelResult,
    DenseCaption,
    DetectedObject,
    Face,
    Person,
    Polygon,
    ReadResult,
    SmartCrop,
    Tag,
)

JSON = dict[str, Any]

#: ``AnalysisResult`` field -> its block in the body (every field but ``model_version``, ``metadata`` and
#: ``timings_ms``, which are always there or never).
RESULT_KEYS: dict[str, str] = {
    "caption": "captionResult",
    "color": "colorResult",
    "custom_model": "customModelResult",
    "dense_captions": "denseCaptionsResult",
    "faces": "facesResult",
    "objects": "objectsResult",
    "people": "peopleResult",
    "read": "readResult",
    "smart_crops": "smartCropsResult",
    "tags": "tagsResult",
}


def box_json(box: BoundingBox, width: int | None = None, height: int | None = None) -> JSON:
    """Integer ``{x, y, w, h}``: corners rounded (not sizes), then clamped inside the image when its size is given."""
    x1, y1, x2, y2 = round(box.x), round(box.y), round(box.x2), round(box.y2)
    if width is not None and height is not None:
        x1, x2 = min(max(x1, 0), width), min(max(x2, 0), width)
        y1, y2 = min(max(y1, 0), height), min(max(y2, 0), height)
    return {"x": int(x1), "y": int(y1), "w": int(max(x2 - x1, 0)), "h": int(max(y2 - y1, 0))}


def polygon_json(polygon: Polygon) -> list[JSON]:
    return [{"x": int(round(p.x)), "y": int(round(p.y))} for p in polygon.points]


def tag_json(tag: Tag) -> JSON:
    return {"name": tag.name, "confidence": float(tag.confidence)}


def caption_json(caption: Caption) -> JSON:
    return {"text": caption.text, "confidence": float(caption.confidence)}


def dense_caption_json(dc: DenseCaption, w: int, h: int) -> JSON:
    return {"text": dc.text, "confidence": float(dc.confidence), "boundingBox": box_json(dc.box, w, h)}


def object_json(obj: DetectedObject, w: int, h: int) -> JSON:
    return {"boundingBox": box_json(obj.box, w, h), "tags": [tag_json(t) for t in obj.tags]}


def person_json(person: Person, w: int, h: int) -> JSON:
    return {"boundingBox": box_json(person.box, w, h), "confidence": float(person.confidence)}


def face_json(face: Face, w: int, h: int) -> JSON:
    """A face box and its confidence: never age, gender or identity."""
    return {"boundingBox": box_json(face.box, w, h), "confidence": float(face.confidence)}


def color_json(color: ColorInfo) -> JSON:
    """The colour block, in Azure 3.2's names."""
    return {
        "dominantColorForeground": color.dominant_foreground,
        "dominantColorBackground": color.dominant_background,
        "dominantColors": list(color.dominant_colors),
        "accentColor": color.accent_color,
        "isBwImg": color.is_bw,
    }


def smart_crop_json(crop: SmartCrop, w: int, h: int) -> JSON:
    return {"aspectRatio": round(float(crop.aspect_ratio), 2), "boundingBox": box_json(crop.box, w, h)}


def read_json(read: ReadResult) -> JSON:
    lines = [
        {
            "text": line.text,
            "boundingPolygon": polygon_json(line.polygon),
            "words": [
                {
                    "text": word.text,
                    "boundingPolygon": polygon_json(word.polygon),
                    "confidence": float(word.confidence),
                }
                for word in line.words
            ],
        }
        for line in read.lines
    ]
    return {"blocks": [{"lines": lines}]}


def custom_model_json(custom: CustomModelResult, w: int, h: int) -> JSON:
    """Azure's ``customModelResult``: both blocks always, the one the model kind does not produce empty."""
    return {
        "tagsResult": {"values": [tag_json(t) for t in custom.tags]},
        "objectsResult": {"values": [object_json(o, w, h) for o in custom.objects]},
    }


def analysis_result_json(result: AnalysisResult) -> JSON:
    """The body Azure's ``POST /computervision/imageanalysis:analyze`` returns."""
    w, h = result.metadata.width, result.metadata.height
    body: JSON = {"modelVersion": wire_model_version(result.model_version)}
    if result.custom_model is not None:
        body["customModelResult"] = custom_model_json(result.custom_model, w, h)
    if result.caption is not None:
        body["captionResult"] = caption_json(result.caption)
    if result.color is not None:
        body["colorResult"] = color_json(result.color)
    if result.dense_captions is not None:
        body["denseCaptionsResult"] = {"values": [dense_caption_json(d, w, h) for d in result.dense_captions]}
    if result.faces is not None:
        body["facesResult"] = {"values": [face_json(f, w, h) for f in result.faces]}
    body["metadata"] = {"width": w, "height": h}
    if result.objects is not None:
        body["objectsResult"] = {"values": [object_json(o, w, h) for o in result.objects]}
    if result.people is not None:
        body["peopleResult"] = {"values": [person_json(p, w, h) for p in result.people]}
    if result.read is not None:
        body["readResult"] = read_json(result.read)
    if result.smart_crops is not None:
        body["smartCropsResult"] = {"values": [smart_crop_json(c, w, h) for c in result.smart_crops]}
    if result.tags is not None:
        body["tagsResult"] = {"values": [tag_json(t) for t in result.tags]}
    for name, value in _extension_fields(result):  # a feature added without a hand-written block
        body[f"{_camel(name)}Result"] = generic_json(value, w, h)
    if result.withheld:  # the moderation gate closed: the adult block is there, the rest was not computed
        body["warnings"] = [moderation_warning(result.withheld)]
    return body


_FIXED_FIELDS = frozenset({"model_version", "metadata", "timings_ms", "withheld", *RESULT_KEYS})


def _extension_fields(result: AnalysisResult) -> list[tuple[str, Any]]:
    return [
        (f.name, getattr(result, f.name))
        for f in fields(result)
        if f.name not in _FIXED_FIELDS and getattr(result, f.name) is not None
    ]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def generic_json(value: Any, w: int, h: int) -> Any:
    """Any result value in Azure's style, for features without a hand-written block: dataclass fields in camelCase,
    boxes as integer ``{x, y, w, h}``, polygons as points, tuples as ``{"values": [...]}`` at the top level."""

    def convert(v: Any) -> Any:
        if isinstance(v, BoundingBox):
            return box_json(v, w, h)
        if isinstance(v, Polygon):
            return polygon_json(v)
        if is_dataclass(v) and not isinstance(v, type):
            return {_camel(f.name): convert(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, (tuple, list)):
            return [convert(item) for item in v]
        if isinstance(v, float):
            return float(v)
        return v

    return {"values": convert(value)} if isinstance(value, (tuple, list)) else convert(value)
