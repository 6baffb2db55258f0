"""Planogram compliance: which planogram positions hold the right product, the wrong one, or nothing.

Matching is one optimal assignment (``scipy.optimize.linear_sum_assignment``) of detections to positions: a pair
costs ``1 - IoU`` plus ``label_penalty`` when the product differs, pairs under ``min_iou`` are not allowed, and
the assignment first explains as many positions as possible, then minimises the total cost. Greedy "best IoU
first" assignment can steal a detection that a neighbouring position needed; the optimum cannot.

A detection names a product by its most confident tag: the planogram product's ``id`` or its ``name``. Each
position ends ``"matched"`` (the expected product is there), ``"misplaced"`` (another product is there) or
``"gap"`` (nothing there). Azure's JSON shapes, in and out, are in :mod:`imagelens.azure.shelf`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from imagelens.detections import Detections
from imagelens.errors import InvalidArgumentError
from imagelens.geometry import iou_matrix
from imagelens.shelf.planogram import Planogram
from imagelens.shelf.products import ProductDetection
from imagelens.types import BoundingBox, DetectedObject, Tag

PositionState = Literal["matched", "misplaced", "gap"]
STATES: tuple[PositionState, ...] = ("matched", "misplaced", "gap")


@dataclass(frozen=True, slots=True)
class DetectionSet:
    """Detections as a caller hands them over (e.g. a product recognition result read back from JSON)."""

    products: tuple[ProductDetection, ...]
    gaps: tuple[ProductDetection, ...] = ()
    """Regions a detector labelled as empty shelf (Azure's ``gaps``); not used for matching."""
    image_size: tuple[int, int] | None = None
    """``(width, height)`` of the image the boxes are in, when known."""


@dataclass(frozen=True, slots=True)
class PositionResult:
    position_id: str
    expected_product_id: str
    fixture_id: str
    state: PositionState
    expected_box: BoundingBox
    """Where the planogram puts the product, in image pixels."""
    detection: ProductDetection | None
    """The product found at this position (matched or misplaced); ``None`` for a gap."""
    iou: float


@dataclass(frozen=True, slots=True)
class PlanogramMatchResult:
    positions: tuple[PositionResult, ...]
    """One per planogram position, in the planogram's order."""
    unassigned: tuple[ProductDetection, ...]
    """Detections at no planogram position (extra facings, products off the plan)."""
    image_width: int
    image_height: int

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for p in self.positions if p.state == s) for s in STATES}

    @property
    def compliance(self) -> float:
        """Share of positions holding their expected product."""
        return self.counts()["matched"] / len(self.positions) if self.positions else 1.0


_FORBIDDEN = 1e6

DetectionsIn = Sequence[ProductDetection | DetectedObject] | DetectionSet | Detections


def match_planogram(
    planogram: Planogram,
    detections: DetectionsIn,
    image_size: tuple[int, int],
    *,
    min_iou: float = 0.1,
    label_penalty: float = 0.5,
    strategy: Literal["optimal", "greedy"] = "optimal",
) -> PlanogramMatchResult:
    """Assign detections to planogram positions and classify each position as matched, misplaced or gap.

    ``detections`` may be :class:`ProductDetection` or :class:`~imagelens.types.DetectedObject` items, a
    :class:`DetectionSet`, or a detector's :class:`~imagelens.detections.Detections` (ids ``"0"``.. in order).
    ``image_size`` is ``(width, height)`` of the image the detections are in. ``strategy="greedy"`` (best pair
    first) exists only as the baseline the benchmark compares against; use the default.
    """
    if not isinstance(planogram, Planogram):
        raise InvalidArgumentError(
            f"planogram must be a Planogram (read JSON with imagelens.azure.shelf.parse_planogram), "
            f"got {type(planogram).__name__}"
        )
    plan = planogram
    dets = coerce_detections(detections)
    width, height = (int(v) for v in image_size)
    if width <= 0 or height <= 0:
        raise InvalidArgumentError(f"image_size must be positive (width, height), got {image_size}")
    if not 0.0 <= min_iou < 1.0:
        raise InvalidArgumentError(f"min_iou must be in [0, 1), got {min_iou}")
    if label_penalty < 0:
        raise InvalidArgumentError(f"label_penalty must be >= 0, got {label_penalty}")

    boxes = [plan.position_box(p, width, height) for p in plan.positions]
    names = {p.id: {p.id, p.name} for p in plan.products}
    n_pos, n_det = len(boxes), len(dets)
    ious = (
        iou_matrix([b.xyxy() for b in boxes], [d.box.xyxy() for d in dets])
        if n_pos and n_det
        else np.zeros((n_pos, n_det))
    )
    same = np.array(
        [[d.label in names[p.product_id] for d in dets] for p in plan.positions], dtype=bool
    ).reshape(n_pos, n_det)
    cost = (1.0 - ious) + label_penalty * (~same)
    allowed = ious >= max(min_iou, 1e-9)
    cost = np.where(allowed, cost, _FORBIDDEN)

    if strategy == "optimal":
        pairs = _optimal_pairs(cost, allowed)
    elif strategy == "greedy":
        pairs = _greedy_pairs(cost, allowed)
    else:
        raise InvalidArgumentError(f"strategy must be 'optimal' or 'greedy', got {strategy!r}")

    assigned = dict(pairs)
    results = []
    for i, pos in enumerate(plan.positions):
        j = assigned.get(i)
        if j is None:
            results.append(PositionResult(pos.id, pos.product_id, pos.fixture_id, "gap", boxes[i], None, 0.0))
        else:
            state: PositionState = "matched" if same[i, j] else "misplaced"
            results.append(
                PositionResult(
                    pos.id, pos.product_id, pos.fixture_id, state, boxes[i], dets[j], float(ious[i, j])
                )
            )
    used = set(assigned.values())
    unassigned = tuple(d for j, d in enumerate(dets) if j not in used)
    return PlanogramMatchResult(tuple(results), unassigned, width, height)


def _optimal_pairs(cost: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment; forbidden pairs carry a cost so large that using fewer of them always wins, which
    makes the solver maximise the number of allowed pairs first. Forbidden pairs it still had to use are dropped."""
    if cost.size == 0:
        return []
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if allowed[i, j]]


def _greedy_pairs(cost: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    taken_rows: set[int] = set()
    taken_cols: set[int] = set()
    for flat in np.argsort(cost, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, cost.shape)
        if allowed[i, j] and i not in taken_rows and j not in taken_cols:
            pairs.append((int(i), int(j)))
            taken_rows.add(int(i))
            taken_cols.add(int(j))
    return pairs


def coerce_detections(detections: DetectionsIn) -> list[ProductDetection]:
    """The detections as :class:`ProductDetection` items with unique ids."""
    if isinstance(detections, Detections):
        return [
            ProductDetection(str(k), box, (Tag(name, float(score)),))
            for k, (box, name, score) in enumerate(
                zip(detections.bounding_boxes(), detections.names, detections.scores, strict=True)
            )
        ]
    items = detections.products if isinstance(detections, DetectionSet) else detections
    out = []
    for k, d in enumerate(items):
        if isinstance(d, ProductDetection):
            out.append(d)
        elif isinstance(d, DetectedObject):
            out.append(ProductDetection(str(k), d.box, d.tags))
        else:
            raise InvalidArgumentError(
                f"detection {k} must be a ProductDetection or DetectedObject, got {type(d).__name__}"
            )
    ids = [d.id for d in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InvalidArgumentError(f"detection ids must be unique; {dup!r} appears {ids.count(dup)} times")
    return out
