"""The one annotator: every feature of an analysis result drawn, shelf pictures, and labels that never overlap."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from imagelens.annotate import (
    COLOURS,
    Canvas,
    LabelBox,
    annotate,
    annotate_planogram,
    annotate_products,
    draw_analysis,
    draw_planogram,
    draw_products,
    place_labels,
    rects_overlap,
)
from imagelens.errors import InvalidArgumentError
from imagelens.shelf.compliance import match_planogram
from imagelens.shelf.planogram import Fixture, Planogram, PlanogramProduct, Position
from imagelens.shelf.products import ProductDetection, ProductRecognitionResult
from imagelens.types import (
    AnalysisResult,
    BoundingBox,
    Caption,
    ColorInfo,
    DenseCaption,
    DetectedObject,
    Face,
    ImageMetadata,
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

W, H = 320, 240


def _quad(x: float, y: float, w: float, h: float) -> Polygon:
    return Polygon((Point(x, y), Point(x + w, y), Point(x + w, y + h), Point(x, y + h)))


def full_result() -> AnalysisResult:
    """Every feature, with the crowding that made labels collide: three smart crops sharing their top-left
    corner, and objects, people and faces side by side."""
    word = Word("HELLO", _quad(20, 200, 60, 16), 0.9)
    return AnalysisResult(
        model_version="test",
        metadata=ImageMetadata(W, H, "png"),
        caption=Caption("a test picture with many things", 0.81),
        dense_captions=(
            DenseCaption("a test picture with many things", 0.8, BoundingBox(0, 0, W, H)),
            DenseCaption("a red square", 0.7, BoundingBox(40, 40, 50, 50)),
        ),
        tags=(Tag("square", 0.95), Tag("red", 0.9)),
        objects=(
            DetectedObject(BoundingBox(40, 40, 50, 50), (Tag("box", 0.93),)),
            DetectedObject(BoundingBox(92, 40, 50, 50), (Tag("box", 0.91),)),
            DetectedObject(BoundingBox(144, 40, 50, 50), (Tag("crate", 0.64),)),
        ),
        people=(Person(BoundingBox(200, 60, 40, 100), 0.88), Person(BoundingBox(242, 60, 40, 100), 0.7)),
        faces=(Face(BoundingBox(210, 64, 20, 20), 0.97), Face(BoundingBox(250, 64, 20, 20), 0.95)),
        read=ReadResult((TextBlock((Line("HELLO", _quad(18, 198, 64, 20), (word,)),)),)),
        smart_crops=(
            SmartCrop(1.0, BoundingBox(0, 0, 240, 240)),
            SmartCrop(1.33, BoundingBox(0, 0, 320, 240)),
            SmartCrop(0.75, BoundingBox(0, 0, 180, 240)),
        ),
        color=ColorInfo("Grey", "Black", ("Grey", "Red"), "B22222", False),
    )


def assert_no_overlap(labels: list[LabelBox], width: int, height: int) -> None:
    for a, b in itertools.combinations(labels, 2):
        assert not a.overlaps(b), (a, b)
    for label in labels:
        x0, y0, x1, y1 = label.rect
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, label


def test_every_feature_is_drawn_and_no_labels_overlap() -> None:
    image = np.full((H, W, 3), 255, np.uint8)
    canvas = Canvas(image)
    header = draw_analysis(canvas, full_result())
    out = canvas.finish(header)
    band = out.height - H
    assert out.width == W and band > 0  # the header band sits above the picture
    # One label per object, person, face, dense caption and smart crop; every one placed, none overlapping.
    assert len(canvas.labels) == 3 + 2 + 2 + 2 + 3
    assert_no_overlap(canvas.labels, out.width, out.height)
    assert all(label.rect[1] >= band for label in canvas.labels)  # labels stay on the picture
    texts = [label.text for label in canvas.labels]
    assert texts.count("crop 1.00") == 1 and "crop 1.33" in texts and "crop 0.75" in texts
    assert "face 0.97" in texts and "person 0.88" in texts and "box 0.93" in texts
    # Caption, tags and colour are in the header; each kind drawn is in the legend and on the picture.
    assert header[0] == "caption: a test picture with many things (0.81)"
    assert header[1] == "tags: square 0.95, red 0.90"
    assert header[2].startswith("colour: foreground Grey") and "#B22222" in header[2]
    assert set(canvas.kinds) == {"word", "line", "denseCaption", "object", "person", "face", "crop"}
    pixels = np.asarray(out)[band:]
    for kind in canvas.kinds:
        assert (pixels == np.array(COLOURS[kind])).all(axis=2).any(), kind


def test_annotate_returns_a_picture_with_header() -> None:
    picture = annotate(Image.new("RGB", (W, H), (0, 0, 0)), full_result())
    assert isinstance(picture, Image.Image) and picture.width == W and picture.height > H
    only_crops = AnalysisResult(
        "test", ImageMetadata(W, H, "png"), smart_crops=(SmartCrop(1.0, BoundingBox(10, 10, 100, 100)),)
    )
    legend_only = annotate(np.zeros((H, W, 3), np.uint8), only_crops)
    assert legend_only.height > H  # the legend names the colour used
    resized = annotate(Image.new("RGB", (W // 2, H // 2)), full_result())  # results in the original's pixels
    assert resized.width == W // 2


def test_same_corner_labels_are_spread() -> None:
    """Ten identical anchors (smart crops of one corner): ten distinct, non-overlapping label rectangles."""
    anchors = [(0, 0, 100, 100)] * 10
    rects = place_labels(anchors, [(60, 14)] * 10, 200, 150)
    assert all(r is not None for r in rects)
    placed = [r for r in rects if r is not None]
    for a, b in itertools.combinations(placed, 2):
        assert not rects_overlap(a, b)
    assert placed[0] == (0, 0, 60, 14)  # the first takes the preferred spot (inside, as above is off-picture)
    full = place_labels([(0, 0, 10, 10)] * 3, [(200, 150)] * 3, 200, 150)
    assert full[0] == (0, 0, 200, 150) and full[1:] == [None, None]  # no room: left out, never on top


def _products() -> ProductRecognitionResult:
    boxes = [(10 + 40 * k, 10, 50 + 40 * k, 90) for k in range(6)] + [
        (0 + 40 * k, 110, 40 + 40 * k, 190) for k in range(7)
    ]
    products = tuple(
        ProductDetection(
            str(k), BoundingBox.from_xyxy(*b), (Tag("bottle" if k % 2 else "can", 0.9 - k / 50),)
        )
        for k, b in enumerate(boxes)
    )
    gap = ProductDetection("13", BoundingBox.from_xyxy(250, 10, 300, 90), (Tag("gap", 1.0),))
    return ProductRecognitionResult(300, 200, products, (gap,))


def test_shelf_labels_do_not_overlap() -> None:
    result = _products()
    canvas = Canvas(np.full((200, 300, 3), 128, np.uint8))
    draw_products(canvas, result)
    canvas.finish()
    assert len(canvas.labels) == len(result.products)
    assert_no_overlap(canvas.labels, 300, 200)

    plan = Planogram(
        30.0,
        20.0,
        (PlanogramProduct("can", "can", 4.0, 8.0), PlanogramProduct("bottle", "bottle", 4.0, 8.0)),
        (Fixture("f", 0.0, 9.0, 30.0, 1.0),),
        tuple(Position(str(k), ("can", "bottle")[k % 2], "f", 1.0 + 4 * k, 1.0) for k in range(7)),
    )
    match = match_planogram(plan, result.products, (300, 200))
    canvas = Canvas(np.zeros((200, 300, 3), np.uint8))
    draw_planogram(canvas, match)
    canvas.finish()
    assert len(canvas.labels) == len(match.positions)
    assert_no_overlap(canvas.labels, 300, 200)
    picture = annotate_planogram(np.zeros((200, 300, 3), np.uint8), match)
    assert picture.shape == (200, 300, 3)


def test_shelf_pictures_keep_the_size_and_check_the_input() -> None:
    out = annotate_products(np.full((200, 300, 3), 128, np.uint8), _products())
    assert out.shape == (200, 300, 3) and out.dtype == np.uint8
    with pytest.raises(InvalidArgumentError, match="HxWx3 uint8"):
        annotate_products(np.zeros((5, 5)), _products())
