"""Products and gaps on a shelf photo: a generic open-vocabulary detector for the products, geometry for the gaps.

This is Azure's ``ms-pretrained-product-detection``: it finds *that* something is a product (and, from the prompt
that won, roughly what kind: bottle, box, can ...), not *which* product. Gaps come from
:func:`imagelens.shelf.gaps.find_gaps` on the product boxes: holes in a shelf row at least ``min_gap_fraction`` of
the row's median product width, including the ends of each row when ``row_ends`` (the image is taken to span the
shelf, as after :mod:`imagelens.shelf.rectify`).

A gap's confidence is how many median product widths of its row fit in it, capped at 1: a hole one product wide is
certain, one at the minimum width (half a product by default) scores 0.5. It is a geometric measure, not a learned
probability; it orders gaps sensibly and lets callers raise the bar.

Output is Azure's ``ProductRecognitionResultApiModel`` as the service writes it (integer pixel boxes,
``classifications`` with ``label``; gaps labelled ``"gap"``). Products and gaps share one id space, as Azure's do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.shelf.gaps import find_gaps, group_rows
from imagelens.shelf.planogram import ProductDetection
from imagelens.types import BoundingBox, Tag

GAP_LABEL = "gap"


class BoxDetections(Protocol):
    """What a detector returns: ``boxes`` (N, 4) xyxy in pixels, ``scores`` (N,), ``names`` (N labels)."""

    @property
    def boxes(self) -> npt.NDArray[np.float64]: ...

    @property
    def scores(self) -> npt.NDArray[np.float64]: ...

    @property
    def names(self) -> tuple[str, ...]: ...


class ProductDetector(Protocol):
    """An open-vocabulary detector (:class:`imagelens.models.adapters.owlv2.Owlv2Adapter`)."""

    def detect(
        self,
        image: npt.NDArray[np.uint8],
        prompts: Mapping[str, str] | Sequence[str] | None = None,
        threshold: float | None = None,
    ) -> BoxDetections: ...


@dataclass(frozen=True, slots=True)
class ProductRecognitionResult:
    """Products and gaps in pixels of the image (``width`` x ``height``), products best first, gaps top row first
    and left to right. Both are :class:`ProductDetection`, so planogram matching takes ``products`` as they are."""

    width: int
    height: int
    products: tuple[ProductDetection, ...]
    gaps: tuple[ProductDetection, ...]

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise InvalidArgumentError(f"width and height must be >= 1, got {self.width}x{self.height}")

    def to_azure(self) -> dict[str, Any]:
        """Azure's ``ProductRecognitionResultApiModel``."""
        return {
            "imageMetadata": {"width": self.width, "height": self.height},
            "products": [_detected_object(p, self.width, self.height) for p in self.products],
            "gaps": [_detected_object(g, self.width, self.height) for g in self.gaps],
        }


def _detected_object(det: ProductDetection, width: int, height: int) -> dict[str, Any]:
    return {
        "id": det.id,
        "boundingBox": wire_box(det.box, width, height),
        "classifications": [{"confidence": round(t.confidence, 6), "label": t.name} for t in det.tags],
    }


def wire_box(box: BoundingBox, width: int, height: int) -> dict[str, int]:
    """Azure's integer ``{x, y, w, h}``: corners rounded (not sizes, which would drift), kept inside the image."""
    x1 = min(max(round(box.x), 0), width)
    y1 = min(max(round(box.y), 0), height)
    x2 = min(max(round(box.x2), x1), width)
    y2 = min(max(round(box.y2), y1), height)
    return {"x": x1, "y": y1, "w": x2 - x1, "h": y2 - y1}


def products_from_detections(
    detections: BoxDetections,
    width: int,
    height: int,
    *,
    min_gap_fraction: float = 0.5,
    min_row_overlap: float = 0.5,
    row_ends: bool = True,
) -> ProductRecognitionResult:
    """Turn detector boxes into products (ids ``"0"``..) and find the gaps between them (ids after the products)."""
    if width < 1 or height < 1:
        raise InvalidArgumentError(f"width and height must be >= 1, got {width}x{height}")
    boxes = np.asarray(detections.boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(detections.scores, dtype=np.float64).reshape(-1)
    names = tuple(detections.names)
    if not len(boxes) == len(scores) == len(names):
        raise InvalidArgumentError(
            f"detections must have as many boxes, scores and names; got {len(boxes)}, {len(scores)}, {len(names)}"
        )
    products = tuple(
        ProductDetection(str(k), BoundingBox.from_xyxy(*boxes[k]), (Tag(names[k], _confidence(scores[k])),))
        for k in range(len(boxes))
    )
    gaps: list[ProductDetection] = []
    if len(boxes):
        rows = group_rows(boxes, min_row_overlap=min_row_overlap)
        row_width = {
            r.index: float(np.median(boxes[list(r.members), 2] - boxes[list(r.members), 0])) for r in rows
        }
        found = find_gaps(
            boxes,
            (0.0, float(width)) if row_ends else None,
            min_gap_fraction=min_gap_fraction,
            min_row_overlap=min_row_overlap,
        )
        for k, gap in enumerate(found):
            confidence = min(1.0, gap.width / row_width[gap.row]) if row_width[gap.row] > 0 else 1.0
            gaps.append(ProductDetection(str(len(products) + k), gap.box, (Tag(GAP_LABEL, confidence),)))
    return ProductRecognitionResult(int(width), int(height), products, tuple(gaps))


def _confidence(score: float) -> float:
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise InvalidArgumentError(f"detection scores must be in [0, 1], got {score!r}")
    return float(score)


def recognize_products(
    image: npt.NDArray[np.uint8],
    detector: ProductDetector,
    *,
    prompts: Mapping[str, str] | Sequence[str] | None = None,
    threshold: float | None = None,
    min_gap_fraction: float = 0.5,
    row_ends: bool = True,
) -> ProductRecognitionResult:
    """Detect the products on a shelf image (RGB uint8, original pixels) and the gaps between them."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InvalidArgumentError(f"expected a uint8 RGB array (H, W, 3), got {arr.dtype} {arr.shape}")
    detections = detector.detect(arr, prompts, threshold)
    return products_from_detections(
        detections, int(arr.shape[1]), int(arr.shape[0]), min_gap_fraction=min_gap_fraction, row_ends=row_ends
    )


def annotate_products(image: npt.ArrayLike, result: ProductRecognitionResult) -> npt.NDArray[np.uint8]:
    """A copy of the RGB image with products outlined in green (label and confidence) and gaps shaded red."""
    import cv2

    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise InvalidArgumentError(
            f"the image must be HxWx3 uint8 RGB, got shape {img.shape} and {img.dtype}"
        )
    out = np.ascontiguousarray(img.copy())
    sx, sy = out.shape[1] / result.width, out.shape[0] / result.height
    thick = max(1, round(min(out.shape[:2]) / 400))
    scale = max(0.35, min(out.shape[:2]) / 1600)

    def corners(box: BoundingBox) -> tuple[tuple[int, int], tuple[int, int]]:
        return (round(box.x * sx), round(box.y * sy)), (round(box.x2 * sx) - 1, round(box.y2 * sy) - 1)

    shade = out.copy()
    for gap in result.gaps:
        cv2.rectangle(shade, *corners(gap.box), (220, 40, 40), thickness=-1)
    out = np.asarray(cv2.addWeighted(shade, 0.4, out, 0.6, 0.0), dtype=np.uint8)
    for product in result.products:
        p1, p2 = corners(product.box)
        cv2.rectangle(out, p1, p2, (40, 180, 70), thickness=thick)
        tag = product.tags[0]
        cv2.putText(
            out, f"{tag.name} {tag.confidence:.2f}", (p1[0] + 2, max(p1[1] + 12, 12)),
            cv2.FONT_HERSHEY_SIMPLEX, scale, (40, 180, 70), 1, cv2.LINE_AA,
        )  # fmt: skip
    for gap in result.gaps:
        cv2.rectangle(out, *corners(gap.box), (220, 40, 40), thickness=thick)
    return out
