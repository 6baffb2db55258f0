"""Products and gaps on a shelf photo: a generic open-vocabulary detector for the products, geometry for the gaps.

This is Azure's ``ms-pretrained-product-detection``: it finds *that* something is a product (and, from the prompt
that won, roughly what kind: bottle, box, can ...), not *which* product. Prompts given as ``label=prompt`` name the
products with their labels (a planogram's product ids, say), so the result feeds planogram matching as it is.
Gaps come from :func:`imagelens.shelf.gaps.find_gaps` on the product boxes: holes in a shelf row at least
``min_gap_fraction`` of the row's median product width, including the ends of each row when ``row_ends`` (the
image is taken to span the shelf, as after :mod:`imagelens.shelf.rectify`).

A gap's confidence is how many median product widths of its row fit in it, capped at 1: a hole one product wide is
certain, one at the minimum width (half a product by default) scores 0.5. It is a geometric measure, not a learned
probability; it orders gaps sensibly and lets callers raise the bar.

Products and gaps share one id space, as Azure's do. Azure's JSON shape (``ProductRecognitionResultApiModel``) is
written by :func:`imagelens.azure.shelf.product_recognition_json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.shelf.gaps import find_gaps, group_rows
from imagelens.types import BoundingBox, Tag

if TYPE_CHECKING:
    from imagelens.detections import Detections
    from imagelens.models.roles import OpenVocabDetector

GAP_LABEL = "gap"


@dataclass(frozen=True, slots=True)
class ProductDetection:
    """A detected product (or gap) in image pixels, with its id: Azure's ``DetectedObject``."""

    id: str
    box: BoundingBox
    tags: tuple[Tag, ...]

    @property
    def label(self) -> str | None:
        """The most confident tag's name."""
        if not self.tags:
            return None
        return max(self.tags, key=lambda t: t.confidence).name


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


def products_from_detections(
    detections: Detections,
    width: int,
    height: int,
    *,
    min_gap_fraction: float = 0.5,
    min_row_overlap: float = 0.5,
    row_ends: bool = True,
) -> ProductRecognitionResult:
    """Turn detector boxes into products (ids ``"0"``.., named by their class) and find the gaps between them
    (ids after the products)."""
    if width < 1 or height < 1:
        raise InvalidArgumentError(f"width and height must be >= 1, got {width}x{height}")
    boxes = np.asarray(detections.boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(detections.scores, dtype=np.float64).reshape(-1)
    names = detections.names
    products = tuple(
        ProductDetection(str(k), BoundingBox.from_xyxy(*boxes[k]), (Tag(names[k], float(scores[k])),))
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


def recognize_products(
    image: npt.NDArray[np.uint8],
    detector: OpenVocabDetector,
    *,
    prompts: Mapping[str, str] | Sequence[str] | None = None,
    threshold: float | None = None,
    min_gap_fraction: float = 0.5,
    row_ends: bool = True,
) -> ProductRecognitionResult:
    """Detect the products on a shelf image (RGB uint8, original pixels) and the gaps between them.

    Library, CLI and server reach this through :meth:`imagelens.analyzer.Analyzer.recognize_products`, which
    loads the image and the model and times the call.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InvalidArgumentError(f"expected a uint8 RGB array (H, W, 3), got {arr.dtype} {arr.shape}")
    detections = detector.detect(arr, prompts, threshold)
    return products_from_detections(
        detections, int(arr.shape[1]), int(arr.shape[0]), min_gap_fraction=min_gap_fraction, row_ends=row_ends
    )
