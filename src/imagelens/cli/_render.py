"""``imagelens analyze``'s text output: one small table per feature, keyed by the registry's feature names.

Every entry of :data:`imagelens.features.registry.FEATURE_LIST` has a renderer here (a test checks it). A renderer
gets the :class:`~imagelens.types.AnalysisResult` and returns its lines, or ``None`` when the feature was not
requested. Boxes print as ``x y w h`` in pixels of the image; scores with two decimals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from imagelens.types import AnalysisResult, BoundingBox, CustomModelResult, DetectedObject

Renderer = Callable[[AnalysisResult], list[str] | None]

INDENT = "    "
MAX_ROWS = 25  # rows per table; --json has them all
BOX_HEADERS = ("x", "y", "w", "h")


def _box(box: BoundingBox) -> tuple[str, str, str, str]:
    return (f"{box.x:.0f}", f"{box.y:.0f}", f"{box.w:.0f}", f"{box.h:.0f}")


def _score(value: float) -> str:
    return f"{value:.2f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> list[str]:
    """Aligned columns: text left-aligned, columns from ``numeric_from`` on right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if i >= numeric_from else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return (INDENT + "  ".join(parts)).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def _section(
    title: str, count: int, headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1
) -> list[str]:
    if count == 0:
        return [f"  {title}: none found"]
    shown = table(headers, rows[:MAX_ROWS], numeric_from)
    if len(rows) > MAX_ROWS:
        shown.append(f"{INDENT}... {len(rows) - MAX_ROWS} more (--json prints all)")
    return [f"  {title}: {count}", *shown]


def _objects(title: str, objects: Sequence[DetectedObject]) -> list[str]:
    rows = []
    for obj in objects:
        best = obj.tags[0] if obj.tags else None
        rows.append((best.name if best else "?", _score(best.confidence) if best else "-", *_box(obj.box)))
    return _section(title, len(objects), ("name", "score", *BOX_HEADERS), rows)


def render_caption(result: AnalysisResult) -> list[str] | None:
    if result.caption is None:
        return None
    return [f"  caption: {result.caption.text or '(empty)'}  ({_score(result.caption.confidence)})"]


def render_dense_captions(result: AnalysisResult) -> list[str] | None:
    if result.dense_captions is None:
        return None
    rows = [(c.text or "(empty)", _score(c.confidence), *_box(c.box)) for c in result.dense_captions]
    return _section("dense captions", len(rows), ("text", "score", *BOX_HEADERS), rows)


def render_tags(result: AnalysisResult) -> list[str] | None:
    if result.tags is None:
        return None
    rows = [(t.name, _score(t.confidence)) for t in result.tags]
    return _section("tags", len(rows), ("name", "score"), rows)


def render_objects(result: AnalysisResult) -> list[str] | None:
    return None if result.objects is None else _objects("objects", result.objects)


def render_people(result: AnalysisResult) -> list[str] | None:
    if result.people is None:
        return None
    rows = [(str(i), _score(p.confidence), *_box(p.box)) for i, p in enumerate(result.people, 1)]
    return _section("people", len(rows), ("#", "score", *BOX_HEADERS), rows)


def render_faces(result: AnalysisResult) -> list[str] | None:
    if result.faces is None:
        return None
    rows = [(str(i), _score(f.confidence), *_box(f.box)) for i, f in enumerate(result.faces, 1)]
    return _section("faces", len(rows), ("#", "score", *BOX_HEADERS), rows)


def render_color(result: AnalysisResult) -> list[str] | None:
    color = result.color
    if color is None:
        return None
    rows = [
        ("dominant foreground", color.dominant_foreground),
        ("dominant background", color.dominant_background),
        ("dominant colours", ", ".join(color.dominant_colors) or "-"),
        ("accent colour", f"#{color.accent_color}"),
        ("black and white", "yes" if color.is_bw else "no"),
    ]
    return ["  colour:", *table(("", ""), rows, numeric_from=2)[1:]]


def render_read(result: AnalysisResult) -> list[str] | None:
    if result.read is None:
        return None
    rows = []
    for line in result.read.lines:
        conf = sum(w.confidence for w in line.words) / len(line.words) if line.words else 0.0
        rows.append((line.text, _score(conf), *_box(line.polygon.bounding_box())))
    if not rows:
        return ["  read: no text found"]
    lines = "line" if len(rows) == 1 else "lines"
    out = _section("read", len(rows), ("text", "score", *BOX_HEADERS), rows)
    out[0] = f"  read: {len(rows)} {lines}"
    return out


def render_smart_crops(result: AnalysisResult) -> list[str] | None:
    if result.smart_crops is None:
        return None
    rows = [(f"{c.aspect_ratio:.2f}", *_box(c.box)) for c in result.smart_crops]
    return _section("smart crops", len(rows), ("ratio", *BOX_HEADERS), rows, numeric_from=0)


def render_custom_model(result: AnalysisResult) -> list[str] | None:
    custom: CustomModelResult | None = result.custom_model
    if custom is None:
        return None
    out: list[str] = []
    if custom.tags or not custom.objects:
        rows = [(t.name, _score(t.confidence)) for t in custom.tags]
        out += _section("custom model tags", len(rows), ("name", "score"), rows)
    if custom.objects:
        out += _objects("custom model objects", custom.objects)
    return out


def render_adult(result: AnalysisResult) -> list[str] | None:
    adult = result.adult
    if adult is None:
        return None
    rows = [
        ("adult", _score(adult.adult_score), "yes" if adult.is_adult else "no"),
        ("racy", _score(adult.racy_score), "yes" if adult.is_racy else "no"),
        ("gory", _score(adult.gore_score), "yes" if adult.is_gory else "no"),
    ]
    out = ["  moderation:", *table(("", "score", "flagged"), rows)]
    if result.withheld:
        out.append(f"  withheld by the moderation gate: {', '.join(result.withheld)}")
    return out


def render_image_type(result: AnalysisResult) -> list[str] | None:
    kind = result.image_type
    if kind is None:
        return None
    clip_art = ("not clip art", "ambiguous", "normal clip art", "good clip art")[kind.clip_art_type]
    line = "line drawing" if kind.line_drawing_type else "not a line drawing"
    return [f"  image type: clip art {kind.clip_art_type} ({clip_art}), {line}"]


def render_brands(result: AnalysisResult) -> list[str] | None:
    if result.brands is None:
        return None
    rows = [(b.name, _score(b.confidence), *_box(b.box)) for b in result.brands]
    return _section("brands", len(rows), ("name", "score", *BOX_HEADERS), rows)


#: Registry feature name -> renderer. ``customModel`` is the result of ``--model-name``.
def render_categories(result: AnalysisResult) -> list[str] | None:
    if result.categories is None:
        return None
    rows = [
        (c.name, _score(c.score), ", ".join(lm.name for lm in c.landmarks) or "-") for c in result.categories
    ]
    return _section("categories", len(rows), ("name", "score", "landmarks"), rows)


def render_landmarks(result: AnalysisResult) -> list[str] | None:
    if result.landmarks is None:
        return None
    rows = [(lm.name, _score(lm.confidence)) for lm in result.landmarks]
    return _section("landmarks", len(rows), ("name", "score"), rows)


RENDERERS: dict[str, Renderer] = {
    "read": render_read,
    "smartCrops": render_smart_crops,
    "caption": render_caption,
    "denseCaptions": render_dense_captions,
    "tags": render_tags,
    "objects": render_objects,
    "people": render_people,
    "faces": render_faces,
    "color": render_color,
    "customModel": render_custom_model,
    "categories": render_categories,
    "landmarks": render_landmarks,
    "brands": render_brands,
}
RENDERERS.update({"adult": render_adult, "imageType": render_image_type})


def render_text(source: str, result: AnalysisResult) -> str:
    """The whole text answer for one image, features in the registry's order, then the custom model and timings."""
    from imagelens.features.registry import FEATURE_LIST

    md = result.metadata
    out = [f"{source}: {md.width}x{md.height} {md.format}"]
    for info in FEATURE_LIST:
        renderer = RENDERERS.get(info.name)
        if renderer is not None:
            out.extend(renderer(result) or ())
        elif getattr(result, info.field, None) is not None:  # a new feature without a renderer yet
            out.append(f"  {info.name}: {getattr(result, info.field)!r}")
    out.extend(render_custom_model(result) or ())
    if result.timings_ms:
        timing = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items())
        out.append(f"  time: {timing}")
    return "\n".join(out)
