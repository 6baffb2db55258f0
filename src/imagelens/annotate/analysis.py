"""An analysis result drawn on its image (``imagelens analyze --annotate``): every feature the result holds.

Boxes and labels for objects, people, faces, brands, dense captions, smart crops and a custom model's objects; polygons
for read lines and their words; the caption, tags, colour and a custom model's tags as text in a header above the
picture, with a legend of the colours used.
"""

from __future__ import annotations

import numpy.typing as npt
from PIL import Image

from imagelens.annotate.canvas import Canvas
from imagelens.types import AnalysisResult, Polygon

_DENSE_TEXT = 40


def _points(polygon: Polygon) -> list[tuple[float, float]]:
    return [(p.x, p.y) for p in polygon.points]


def _short(text: str, limit: int = _DENSE_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def draw_analysis(canvas: Canvas, result: AnalysisResult) -> list[str]:
    """Draw the result's regions on ``canvas`` and queue their labels; returns the header lines (caption, tags,
    colour, custom tags) for :meth:`Canvas.finish`."""
    if result.read is not None:
        for line in result.read.lines:
            for word in line.words:
                canvas.polygon(_points(word.polygon), "word", width=1)
            canvas.polygon(_points(line.polygon), "line")
    for dense in result.dense_captions or ():
        r = canvas.box(dense.box, "denseCaption", width=max(1, canvas.thickness // 2))
        canvas.label(f"{_short(dense.text)} {dense.confidence:.2f}", r, "denseCaption")
    for obj in result.objects or ():
        r = canvas.box(obj.box, "object")
        if obj.tags:
            canvas.label(f"{obj.tags[0].name} {obj.tags[0].confidence:.2f}", r, "object")
    if result.custom_model is not None:
        for obj in result.custom_model.objects:
            r = canvas.box(obj.box, "custom")
            if obj.tags:
                canvas.label(f"{obj.tags[0].name} {obj.tags[0].confidence:.2f}", r, "custom")
    for person in result.people or ():
        r = canvas.box(person.box, "person")
        canvas.label(f"person {person.confidence:.2f}", r, "person")
    for face in result.faces or ():
        r = canvas.box(face.box, "face")
        canvas.label(f"face {face.confidence:.2f}", r, "face")
    for brand in result.brands or ():
        r = canvas.box(brand.box, "brand")
        canvas.label(f"{brand.name} {brand.confidence:.2f}", r, "brand")
    for crop in result.smart_crops or ():
        r = canvas.box(crop.box, "crop")
        canvas.label(f"crop {crop.aspect_ratio:.2f}", r, "crop")

    header: list[str] = []
    if result.caption is not None:
        header.append(f"caption: {result.caption.text} ({result.caption.confidence:.2f})")
    if result.tags is not None:
        tags = ", ".join(f"{t.name} {t.confidence:.2f}" for t in result.tags) or "none"
        header.append(f"tags: {tags}")
    if result.color is not None:
        c = result.color
        header.append(
            f"colour: foreground {c.dominant_foreground}, background {c.dominant_background}, "
            f"dominant {', '.join(c.dominant_colors) or 'none'}, accent #{c.accent_color}"
            + (", black and white" if c.is_bw else "")
        )
    if result.custom_model is not None and result.custom_model.tags:
        header.append(
            "custom tags: " + ", ".join(f"{t.name} {t.confidence:.2f}" for t in result.custom_model.tags)
        )
    if result.read is not None and not result.read.lines:
        header.append("read: no text found")
    return header


def annotate(image: Image.Image | npt.ArrayLike, result: AnalysisResult) -> Image.Image:
    """A copy of ``image`` (the EXIF-rotated original) with every result drawn on it; a header band above the
    picture holds the caption, tags and colour when the result has them, and the legend."""
    canvas = Canvas(image, source_size=(result.metadata.width, result.metadata.height))
    header = draw_analysis(canvas, result)
    return canvas.finish(header, legend=True)
