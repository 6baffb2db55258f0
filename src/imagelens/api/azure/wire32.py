"""Library results -> Azure Computer Vision 3.2 JSON (``read``, legacy ``ocr``, ``areaOfInterest``, metadata)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from imagelens.types import BoundingBox, ImageMetadata, Line, Polygon, ReadResult

JSON = dict[str, Any]
READ_MODEL_VERSION = "imagelens-read-2022-04-30"


def timestamp(seconds: float) -> str:
    """ISO-8601 UTC with a Z, as Azure writes ``createdDateTime``."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def flat_polygon(polygon: Polygon) -> list[float]:
    """Azure 3.2's ``boundingBox``: 8 numbers, x1,y1 ... x4,y4 clockwise from the top-left."""
    return [float(round(v)) for p in polygon.points for v in (p.x, p.y)]


def csv_box(box: BoundingBox) -> str:
    """The legacy OCR ``boundingBox``: "x,y,w,h" as a string."""
    return f"{round(box.x)},{round(box.y)},{round(box.w)},{round(box.h)}"


def _line_confidence(line: Line) -> float:
    return sum(w.confidence for w in line.words) / len(line.words) if line.words else 0.0


def read_results_json(read: ReadResult, metadata: ImageMetadata) -> JSON:
    """``analyzeResult`` of ``GET read/analyzeResults/{id}``: one page in pixel units."""
    lines = [
        {
            "boundingBox": flat_polygon(line.polygon),
            "text": line.text,
            "appearance": {"style": {"name": "other", "confidence": round(_line_confidence(line), 3)}},
            "words": [
                {"boundingBox": flat_polygon(w.polygon), "text": w.text, "confidence": round(float(w.confidence), 3)}
                for w in line.words
            ],
        }
        for line in read.lines
    ]
    page = {"page": 1, "angle": 0.0, "width": metadata.width, "height": metadata.height, "unit": "pixel", "lines": lines}
    return {"version": "3.2.0", "modelVersion": READ_MODEL_VERSION, "readResults": [page]}


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
            min(b.x for b in boxes), min(b.y for b in boxes), max(b.x2 for b in boxes), max(b.y2 for b in boxes)
        )
        regions.append({"boundingBox": csv_box(region), "lines": lines})
    return {"language": language, "textAngle": 0.0, "orientation": "Up", "regions": regions}


def metadata_json(metadata: ImageMetadata) -> JSON:
    return {"width": metadata.width, "height": metadata.height, "format": metadata.format.capitalize()}
