"""One annotator: pictures of results for people to look at.

:mod:`imagelens.annotate.canvas` holds the shared primitives (boxes, polygons, shading, non-overlapping labels on
a coloured background, a header with a legend, one colour per kind); :mod:`~imagelens.annotate.analysis` draws an
analysis result, :mod:`~imagelens.annotate.shelf` product recognition and planogram compliance. Surfaces (the
CLI) import this package; the core never does.
"""

from __future__ import annotations

from imagelens.annotate.analysis import annotate, draw_analysis
from imagelens.annotate.canvas import COLOURS, Canvas, LabelBox, place_labels, rects_overlap
from imagelens.annotate.shelf import (
    GREEN,
    GREY,
    ORANGE,
    RED,
    annotate_planogram,
    annotate_products,
    draw_planogram,
    draw_products,
)

__all__ = [
    "COLOURS",
    "GREEN",
    "GREY",
    "ORANGE",
    "RED",
    "Canvas",
    "LabelBox",
    "annotate",
    "annotate_planogram",
    "annotate_products",
    "draw_analysis",
    "draw_planogram",
    "draw_products",
    "place_labels",
    "rects_overlap",
]
