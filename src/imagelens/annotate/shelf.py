"""Pictures of shelf results: product recognition and planogram compliance, drawn on the shelf photo.

Products are outlined green with their label and score, gaps shaded and outlined red. For planogram compliance
the colours follow a store auditor's habit: green where the expected product is, red where another product is (the
box drawn is the product found, with the expected position outlined thinly), grey shading where the shelf is
empty, and a thin orange outline around products that sit at no planogram position. Both return a new RGB array
the size of the input.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from imagelens.annotate.canvas import COLOURS, Canvas
from imagelens.shelf.compliance import PlanogramMatchResult
from imagelens.shelf.products import ProductRecognitionResult

GREEN = COLOURS["matched"]
RED = COLOURS["misplaced"]
GREY = COLOURS["empty"]
ORANGE = COLOURS["unplanned"]


def draw_products(canvas: Canvas, result: ProductRecognitionResult) -> None:
    for gap in result.gaps:
        canvas.shade(gap.box, "gap", 0.4)
    for product in result.products:
        r = canvas.box(product.box, "product")
        if product.tags:
            tag = product.tags[0]
            canvas.label(f"{tag.name} {tag.confidence:.2f}", r, "product")
    for gap in result.gaps:
        canvas.box(gap.box, "gap")


def annotate_products(image: npt.ArrayLike, result: ProductRecognitionResult) -> npt.NDArray[np.uint8]:
    """A copy of the RGB image with products outlined in green (label and confidence) and gaps shaded red."""
    canvas = Canvas(image, source_size=(result.width, result.height))
    draw_products(canvas, result)
    canvas.finish()
    return canvas.array()


def draw_planogram(canvas: Canvas, result: PlanogramMatchResult, *, labels: bool = True) -> None:
    for pos in result.positions:
        if pos.state == "gap":
            canvas.shade(pos.expected_box, "empty", 0.55)
    for det in result.unassigned:
        canvas.box(det.box, "unplanned", width=max(1, canvas.thickness // 2))
    for pos in result.positions:
        if pos.state == "gap":
            r = canvas.box(pos.expected_box, "empty")
            text, kind = f"{pos.position_id}: gap ({pos.expected_product_id})", "empty"
        else:
            assert pos.detection is not None
            kind = "matched" if pos.state == "matched" else "misplaced"
            if pos.state == "misplaced":
                canvas.box(pos.expected_box, "misplaced", width=1)
            r = canvas.box(pos.detection.box, kind)
            found = pos.detection.label or "?"
            text = (
                f"{pos.position_id}: {found}"
                if pos.state == "matched"
                else f"{pos.position_id}: {found} (want {pos.expected_product_id})"
            )
        if labels:
            canvas.label(text, r, kind)


def annotate_planogram(
    image: npt.ArrayLike, result: PlanogramMatchResult, *, labels: bool = True
) -> npt.NDArray[np.uint8]:
    """A copy of the RGB image with each planogram position drawn by state (green, red, grey)."""
    canvas = Canvas(image, source_size=(result.image_width, result.image_height))
    draw_planogram(canvas, result, labels=labels)
    canvas.finish()
    return canvas.array()
