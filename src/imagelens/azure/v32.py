"""Library results -> Azure Computer Vision 3.2 JSON (``analyze``, ``read``, legacy ``ocr``, ``areaOfInterest``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from imagelens.azure import analysis
from imagelens.azure.analysis import box_json
from imagelens.azure.features import celebrities_warning, moderation_warning
from imagelens.azure.hierarchy import parent_chain
from imagelens.azure.params import MODEL_VERSION, wire_model_version
from imagelens.errors import InvalidArgumentError
from imagelens.features.read import READING_ORDERS, ReadingOrder
from imagelens.operations import Operation
from imagelens.types import (
    AnalysisResult,
    BoundingBox,
    Brand,
    Caption,
    Category,
    ColorInfo,
    DetectedObject,
    Face,
    ImageMetadata,
    ImageType,
    Landmark,
    Line,
    Moderation,
    Polygon,
    ReadResult,
    Tag,
)

JSON = dict[str, Any]
READ_MODEL_VERSION = MODEL_VERSION
AREA_OF_INTEREST_MODEL_VERSION = MODEL_VERSION


def timestamp(seconds: float) -> str:
    """ISO-8601 UTC with a Z, as Azure writes ``createdDateTime``."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def flat_polygon(polygon: Polygon, per_pixel: float = 1.0) -> list[float]:
    """Azure 3.2's ``boundingBox``: 8 numbers, x1,y1 ... x4,y4 clockwise from the top-left (whole pixels, or
    inches to 4 places for PDF pages)."""
    if per_pixel == 1.0:
        return [float(round(v)) for p in polygon.points for v in (p.x, p.y)]
    return [round(v * per_pixel, 4) for p in polygon.points for v in (p.x, p.y)]


def csv_box(box: BoundingBox) -> str:
    """The legacy OCR ``boundingBox``: "x,y,w,h" as a string."""
    return f"{round(box.x)},{round(box.y)},{round(box.w)},{round(box.h)}"


def _line_confidence(line: Line) -> float:
    return sum(w.confidence for w in line.words) / len(line.words) if line.words else 0.0


def read_page_json(
    read: ReadResult,
    number: int,
    width: float,
    height: float,
    *,
    unit: str = "pixel",
    per_pixel: float = 1.0,
    language: str | None = None,
) -> JSON:
    """One ``readResults`` entry: a page (pixels for images, inches for PDF pages, as Azure reports them)."""
    lines = [
        {
            "boundingBox": flat_polygon(line.polygon, per_pixel),
            "text": line.text,
            "appearance": {"style": {"name": "other", "confidence": round(_line_confidence(line), 3)}},
            "words": [
                {
                    "boundingBox": flat_polygon(w.polygon, per_pixel),
                    "text": w.text,
                    "confidence": round(float(w.confidence), 3),
                }
                for w in line.words
            ],
        }
        for line in read.lines
    ]
    page: JSON = {"page": number}
    if language:
        page["language"] = language
    page.update({"angle": 0.0, "width": width, "height": height, "unit": unit, "lines": lines})
    return page


def read_results_json(pages: list[JSON]) -> JSON:
    """``analyzeResult`` of ``GET read/analyzeResults/{id}``: every page read, in page order."""
    return {"version": "3.2.0", "modelVersion": READ_MODEL_VERSION, "readResults": pages}


def read_operation_json(op: Operation) -> JSON:
    """``GET read/analyzeResults/{id}``: the status, its times and, once succeeded, ``analyzeResult``."""
    body: JSON = {
        "status": op.status,
        "createdDateTime": timestamp(op.created),
        "lastUpdatedDateTime": timestamp(op.updated),
    }
    if op.status == "succeeded":
        body["analyzeResult"] = op.result
    if op.error is not None:
        body["error"] = op.error
    return body


def legacy_ocr_json(read: ReadResult, language: str) -> JSON:
    """``POST /vision/v3.2/ocr``: regions > lines > words with "x,y,w,h" string boxes."""
    lines = [
        {
            "boundingBox": csv_box(line.polygon.bounding_box()),
            "words": [{"boundingBox": csv_box(w.polygon.bounding_box()), "text": w.text} for w in line.words],
        }
        for line in read.lines
    ]
    regions = []
    if lines:
        boxes = [line.polygon.bounding_box() for line in read.lines]
        region = BoundingBox.from_xyxy(
            min(b.x for b in boxes),
            min(b.y for b in boxes),
            max(b.x2 for b in boxes),
            max(b.y2 for b in boxes),
        )
        regions.append({"boundingBox": csv_box(region), "lines": lines})
    return {"language": language, "textAngle": 0.0, "orientation": "Up", "regions": regions}


def metadata_json(metadata: ImageMetadata) -> JSON:
    return {"width": metadata.width, "height": metadata.height, "format": metadata.format.capitalize()}


def rect_json(box: BoundingBox) -> JSON:
    return {"x": round(box.x), "y": round(box.y), "w": round(box.w), "h": round(box.h)}


def tags_json(tags: tuple[Tag, ...]) -> list[JSON]:
    return [{"name": t.name, "confidence": float(t.confidence)} for t in tags]


def description_json(caption: Caption | None, tags: tuple[Tag, ...] | None, max_candidates: int = 1) -> JSON:
    captions = [{"text": caption.text, "confidence": float(caption.confidence)}] if caption else []
    return {"tags": [t.name for t in tags or ()], "captions": captions[:max_candidates]}


def objects_json(objects: tuple[DetectedObject, ...]) -> list[JSON]:
    out = []
    for obj in objects:
        if not obj.tags:
            continue
        item: JSON = {
            "rectangle": rect_json(obj.box),
            "object": obj.tags[0].name,
            "confidence": float(obj.tags[0].confidence),
        }
        parent = parent_chain(obj.tags[0].name, float(obj.tags[0].confidence))
        if parent is not None:
            item["parent"] = parent
        out.append(item)
    return out


def faces_json(faces: tuple[Face, ...]) -> list[JSON]:
    """Face rectangles only: never age, gender or identity."""
    return [
        {
            "faceRectangle": {
                "left": round(f.box.x),
                "top": round(f.box.y),
                "width": round(f.box.w),
                "height": round(f.box.h),
            }
        }
        for f in faces
    ]


def color_json(color: ColorInfo) -> JSON:
    """3.2 ``color``, exactly Azure's keys (``isBWImg``; the 4.0 extension block spells it ``isBwImg``)."""
    body = analysis.color_json(color)
    body["isBWImg"] = body.pop("isBwImg")
    return body


def landmarks_json(landmarks: tuple[Landmark, ...]) -> list[JSON]:
    return [{"name": lm.name, "confidence": float(lm.confidence)} for lm in landmarks]


def categories_json(categories: tuple[Category, ...]) -> list[JSON]:
    """3.2 ``categories``: name and score, and ``detail.landmarks`` where the category carries landmarks."""
    out: list[JSON] = []
    for category in categories:
        item: JSON = {"name": category.name, "score": float(category.score)}
        if category.landmarks:
            item["detail"] = {"landmarks": landmarks_json(category.landmarks)}
        out.append(item)
    return out


def adult_json(adult: Moderation) -> JSON:
    """3.2 ``adult``: Azure's booleans and scores, in its key order."""
    return {
        "isAdultContent": adult.is_adult,
        "isRacyContent": adult.is_racy,
        "isGoryContent": adult.is_gory,
        "adultScore": float(adult.adult_score),
        "racyScore": float(adult.racy_score),
        "goreScore": float(adult.gore_score),
    }


def brands_json(brands: tuple[Brand, ...]) -> list[JSON]:
    return [
        {"name": b.name, "confidence": float(b.confidence), "rectangle": rect_json(b.box)} for b in brands
    ]


def image_type_json(image_type: ImageType) -> JSON:
    return {"clipArtType": image_type.clip_art_type, "lineDrawingType": image_type.line_drawing_type}


def landmarks_domain_json(result: AnalysisResult, request_id: str) -> JSON:
    """``POST /models/landmarks/analyze``: the landmarks found, as Azure's domain-model answer."""
    return {
        "result": {"landmarks": landmarks_json(result.landmarks or ())},
        "requestId": request_id,
        "metadata": metadata_json(result.metadata),
        "modelVersion": wire_model_version(result.model_version),
    }


#: 3.2 ``GET /models``: the domain models served here and the categories whose ``detail`` carries their results
#: (celebrities are declined by design, so only landmarks is listed).
DOMAIN_MODELS_32: tuple[tuple[str, tuple[str, ...]], ...] = (("landmarks", ("outdoor_", "building_")),)


def list_models_json() -> JSON:
    """``GET /vision/v3.2/models``."""
    return {"models": [{"name": name, "categories": list(cats)} for name, cats in DOMAIN_MODELS_32]}


def area_of_interest_json(box: BoundingBox, metadata: ImageMetadata, request_id: str) -> JSON:
    """``POST /vision/v3.2/areaOfInterest``."""
    return {
        "areaOfInterest": box_json(box, metadata.width, metadata.height),
        "requestId": request_id,
        "metadata": metadata_json(metadata),
        "modelVersion": AREA_OF_INTEREST_MODEL_VERSION,
    }


def analysis_json(
    result: AnalysisResult, request_id: str, features: list[str], max_candidates: int = 1
) -> JSON:
    """``POST /vision/v3.2/analyze`` (and describe/tag/detect, which are its subsets)."""
    body: JSON = {}
    if "categories" in features and result.categories is not None:
        body["categories"] = categories_json(result.categories)
    if ("adult" in features or result.withheld) and result.adult is not None:  # the gate's reason is shown
        body["adult"] = adult_json(result.adult)
    if "tags" in features and result.tags is not None:
        body["tags"] = tags_json(result.tags)
    if "description" in features:
        body["description"] = description_json(result.caption, result.tags, max_candidates)
    if "faces" in features and result.faces is not None:
        body["faces"] = faces_json(result.faces)
    if "objects" in features and result.objects is not None:
        body["objects"] = objects_json(result.objects)
    if "color" in features and result.color is not None:
        body["color"] = color_json(result.color)
    if "imagetype" in features and result.image_type is not None:
        body["imageType"] = image_type_json(result.image_type)
    if "brands" in features and result.brands is not None:
        body["brands"] = brands_json(result.brands)
    if result.withheld:
        body["warnings"] = [moderation_warning(result.withheld)]
    body["requestId"] = request_id
    body["metadata"] = metadata_json(result.metadata)
    body["modelVersion"] = wire_model_version(result.model_version)
    return body


def check_reading_order(value: str | None) -> ReadingOrder:
    """3.2 Read's ``readingOrder``: ``basic`` (the default) or ``natural``; anything else is Azure's 400
    ``InvalidReadingOrder``."""
    if value is None or value == "":
        return "basic"
    lowered = value.strip().lower()
    if lowered not in READING_ORDERS:
        raise InvalidReadingOrderError(
            f"The 'readingOrder' parameter '{value}' is not valid. Valid: {', '.join(READING_ORDERS)}."
        )
    return lowered  # type: ignore[return-value]


class InvalidReadingOrderError(InvalidArgumentError):
    inner_code = "InvalidReadingOrder"


def celebrities_json(width: int, height: int, image_format: str, request_id: str) -> JSON:
    """``POST /models/celebrities/analyze``: celebrity recognition is declined by design, so the list is always
    empty and a warning says why (never an identity)."""
    return {
        "result": {"celebrities": []},
        "warnings": [celebrities_warning()],
        "requestId": request_id,
        "metadata": {"width": width, "height": height, "format": image_format.capitalize()},
        "modelVersion": MODEL_VERSION,
    }
