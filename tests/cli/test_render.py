"""``imagelens analyze``'s text output: every registry feature has a renderer that prints its values (no models)."""

from __future__ import annotations

import re

import pytest

from imagelens.cli._render import MAX_ROWS, RENDERERS, render_text
from imagelens.features.registry import FEATURE_LIST
from imagelens.types import (
    AnalysisResult,
    BoundingBox,
    Brand,
    Caption,
    Category,
    ColorInfo,
    CustomModelResult,
    DenseCaption,
    DetectedObject,
    Face,
    ImageMetadata,
    ImageType,
    Landmark,
    Line,
    Moderation,
    Person,
    Point,
    Polygon,
    ReadResult,
    SmartCrop,
    Tag,
    TextBlock,
    Word,
)

POLY = Polygon((Point(3, 4), Point(53, 4), Point(53, 14), Point(3, 14)))
FULL = AnalysisResult(
    model_version="2023-10-01",
    metadata=ImageMetadata(640, 480, "png"),
    caption=Caption("a dog on a couch", 0.87),
    dense_captions=(DenseCaption("a brown dog", 0.81, BoundingBox(10, 20, 30, 40)),),
    tags=(Tag("indoor", 0.99), Tag("sofa", 0.42)),
    objects=(DetectedObject(BoundingBox(11, 21, 31, 41), (Tag("cat", 0.66),)),),
    people=(Person(BoundingBox(12, 22, 32, 42), 0.91),),
    faces=(Face(BoundingBox(13, 23, 33, 43), 0.93),),
    read=ReadResult(
        (TextBlock((Line("TOTAL 12.50", POLY, (Word("TOTAL", POLY, 0.9), Word("12.50", POLY, 0.8))),)),)
    ),
    smart_crops=(SmartCrop(1.33, BoundingBox(14, 24, 34, 44)),),
    color=ColorInfo("Black", "White", ("Black", "Grey"), "1A2B3C", False),
    custom_model=CustomModelResult(
        tags=(Tag("shelf", 0.7),), objects=(DetectedObject(BoundingBox(15, 25, 35, 45), (Tag("can", 0.55),)),)
    ),
    categories=(Category("building_", 0.88, (Landmark("Eiffel Tower", 0.77),)),),
    landmarks=(Landmark("Eiffel Tower", 0.77),),
    adult=Moderation(0.91, 0.42, 0.03, True, False, False),
    image_type=ImageType(clip_art_type=2, line_drawing_type=0),
    brands=(Brand("Heineken", 0.88, BoundingBox(16, 26, 36, 46)),),
    timings_ms={"read": 12.0},
)
EMPTY = AnalysisResult(model_version="2023-10-01", metadata=ImageMetadata(640, 480, "png"))


def has_row(text: str, *cells: str) -> bool:
    """One line holding these cells in order, separated by spaces."""
    return re.search(r"\s+".join(re.escape(c) for c in cells), text) is not None


#: What each registry feature's text must show from FULL: names or texts, scores, boxes as x y w h.
EXPECTED: dict[str, list[tuple[str, ...]]] = {
    "read": [("TOTAL 12.50", "0.85", "3", "4", "50", "10")],
    "smartCrops": [("1.33", "14", "24", "34", "44")],
    "caption": [("a dog on a couch", "(0.87)")],
    "denseCaptions": [("a brown dog", "0.81", "10", "20", "30", "40")],
    "tags": [("indoor", "0.99"), ("sofa", "0.42")],
    "objects": [("cat", "0.66", "11", "21", "31", "41")],
    "people": [("0.91", "12", "22", "32", "42")],
    "faces": [("0.93", "13", "23", "33", "43")],
    "color": [
        ("foreground", "Black"),
        ("background", "White"),
        ("Black, Grey",),
        ("#1A2B3C",),
        ("white", "no"),
    ],
    "customModel": [("shelf", "0.70"), ("can", "0.55", "15", "25", "35", "45")],
    "categories": [("building_", "0.88", "Eiffel Tower")],
    "landmarks": [("Eiffel Tower", "0.77")],
    "adult": [("adult", "0.91", "yes"), ("racy", "0.42", "no"), ("gory", "0.03", "no")],
    "imageType": [("clip art 2 (normal clip art), not a line drawing",)],
    "brands": [("Heineken", "0.88", "16", "26", "36", "46")],
}


def test_every_registry_feature_has_a_text_renderer() -> None:
    names = {f.name for f in FEATURE_LIST}
    assert names <= set(RENDERERS), f"no text renderer for: {sorted(names - set(RENDERERS))}"
    assert names <= set(EXPECTED), f"no text-output test for: {sorted(names - set(EXPECTED))}"


@pytest.mark.parametrize("name", [*(f.name for f in FEATURE_LIST), "customModel"])
def test_renderer_prints_the_values(name: str) -> None:
    text = "\n".join(RENDERERS[name](FULL) or [])
    for cells in EXPECTED[name]:
        assert has_row(text, *cells), f"{name}: {cells} not in\n{text}"
    assert RENDERERS[name](EMPTY) is None  # not requested: nothing printed


def test_whole_text_output_has_every_feature_in_registry_order() -> None:
    text = render_text("photo.png", FULL)
    assert text.startswith("photo.png: 640x480 png")
    titles = [
        "read:",
        "smart crops:",
        "caption:",
        "dense captions:",
        "tags:",
        "objects:",
        "people:",
        "faces:",
    ]
    positions = [text.index(f"  {t}") for t in [*titles, "colour:", "custom model tags:"]]
    assert positions == sorted(positions)
    for cells_list in EXPECTED.values():
        for cells in cells_list:
            assert has_row(text, *cells)
    assert "time: read 12 ms" in text


def test_requested_but_nothing_found_says_so() -> None:
    result = AnalysisResult(
        model_version="v", metadata=ImageMetadata(64, 48, "png"), objects=(), faces=(), read=ReadResult(())
    )
    text = render_text("x.png", result)
    assert "objects: none found" in text and "faces: none found" in text and "read: no text found" in text
    assert "tags" not in text  # not requested


def test_long_tables_are_cut_with_a_pointer_to_json() -> None:
    many = tuple(Tag(f"tag{i}", 0.5) for i in range(MAX_ROWS + 7))
    text = render_text(
        "x.png", AnalysisResult(model_version="v", metadata=ImageMetadata(64, 48, "png"), tags=many)
    )
    assert f"tags: {MAX_ROWS + 7}" in text and "... 7 more (--json prints all)" in text
