"""Pictures of shelf results: planogram compliance drawn on the shelf photo.

Colours follow a store auditor's habit: green where the expected product is, red where another product is (the
box drawn is the product found, with the expected position outlined thinly), grey shading where the shelf is
empty, and a thin orange outline around products that sit at no planogram position.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.shelf.planogram import PlanogramMatchResult
from imagelens.types import BoundingBox

GREEN = (40, 180, 70)
RED = (220, 40, 40)
GREY = (150, 150, 150)
ORANGE = (245, 150, 30)


def annotate_planogram(
    image: npt.ArrayLike, result: PlanogramMatchResult, *, labels: bool = True
) -> npt.NDArray[np.uint8]:
    """A copy of the RGB image with each planogram position drawn by state (green, red, grey)."""
    import cv2

    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise InvalidArgumentError(
            f"the image must be HxWx3 uint8 RGB, got shape {img.shape} and {img.dtype}"
        )
    out = np.ascontiguousarray(img.copy())
    height, width = out.shape[:2]
    sx, sy = width / result.image_width, height / result.image_height  # tolerate a resized picture
    thick = max(1, round(min(width, height) / 300))

    def rect(box: BoundingBox) -> tuple[tuple[int, int], tuple[int, int]]:
        return (round(box.x * sx), round(box.y * sy)), (round(box.x2 * sx) - 1, round(box.y2 * sy) - 1)

    shade = out.copy()
    for pos in result.positions:
        if pos.state == "gap":
            p1, p2 = rect(pos.expected_box)
            cv2.rectangle(shade, p1, p2, GREY, thickness=-1)
    out = np.asarray(cv2.addWeighted(shade, 0.55, out, 0.45, 0.0), dtype=np.uint8)

    for det in result.unassigned:
        p1, p2 = rect(det.box)
        cv2.rectangle(out, p1, p2, ORANGE, thickness=max(1, thick // 2))
    for pos in result.positions:
        if pos.state == "gap":
            p1, p2 = rect(pos.expected_box)
            cv2.rectangle(out, p1, p2, GREY, thickness=thick)
            text = f"{pos.position_id}: gap ({pos.expected_product_id})"
            colour = GREY
        else:
            assert pos.detection is not None
            colour = GREEN if pos.state == "matched" else RED
            if pos.state == "misplaced":
                e1, e2 = rect(pos.expected_box)
                cv2.rectangle(out, e1, e2, RED, thickness=1)
            p1, p2 = rect(pos.detection.box)
            cv2.rectangle(out, p1, p2, colour, thickness=thick)
            found = pos.detection.label or "?"
            text = (
                f"{pos.position_id}: {found}"
                if pos.state == "matched"
                else f"{pos.position_id}: {found} (want {pos.expected_product_id})"
            )
        if labels:
            _label(out, text, p1, colour)
    return out


def _label(
    image: npt.NDArray[np.uint8], text: str, corner: tuple[int, int], colour: tuple[int, int, int]
) -> None:
    import cv2

    scale = max(0.35, min(image.shape[:2]) / 1500)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x = min(max(0, corner[0]), max(0, image.shape[1] - tw - 2))
    y = max(th + base, corner[1])
    cv2.rectangle(image, (x, y - th - base), (x + tw + 2, y), colour, thickness=-1)
    cv2.putText(
        image, text, (x + 1, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
    )
