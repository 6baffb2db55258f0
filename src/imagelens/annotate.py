"""Draw analysis results on the image, for people to look at (``imagelens analyze --annotate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagelens.types import AnalysisResult, BoundingBox, Polygon

if TYPE_CHECKING:
    from PIL import Image

_LINE = (0, 160, 255)
_WORD = (120, 200, 255)
_CROP = (255, 170, 0)
_OBJECT = (0, 200, 80)
_PERSON = (230, 60, 200)
_FACE = (255, 60, 60)


def _poly(points: Polygon) -> list[tuple[float, float]]:
    return [(p.x, p.y) for p in points.points]


def _rect(box: BoundingBox) -> tuple[float, float, float, float]:
    return (box.x, box.y, box.x2, box.y2)


def annotate(image: Image.Image, result: AnalysisResult) -> Image.Image:
    """A copy of ``image`` (the EXIF-rotated original) with every requested result drawn on it."""
    from PIL import ImageDraw

    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    thick = max(2, round(max(out.size) / 400))
    if result.read is not None:
        for line in result.read.lines:
            for word in line.words:
                draw.polygon(_poly(word.polygon), outline=_WORD, width=1)
            draw.polygon(_poly(line.polygon), outline=_LINE, width=thick)
    for obj in result.objects or ():
        draw.rectangle(_rect(obj.box), outline=_OBJECT, width=thick)
        if obj.tags:
            draw.text(
                (obj.box.x + 3, obj.box.y + 2),
                f"{obj.tags[0].name} {obj.tags[0].confidence:.2f}",
                fill=_OBJECT,
            )
    for person in result.people or ():
        draw.rectangle(_rect(person.box), outline=_PERSON, width=thick)
    for face in result.faces or ():
        draw.rectangle(_rect(face.box), outline=_FACE, width=thick)
    for crop in result.smart_crops or ():
        draw.rectangle(_rect(crop.box), outline=_CROP, width=thick)
        draw.text((crop.box.x + 4, crop.box.y2 - 14), f"crop {crop.aspect_ratio:.2f}", fill=_CROP)
    return out
