"""Planogram compliance: which planogram positions hold the right product, the wrong one, or nothing.

Input, Azure's ``PlanogramApiModel`` (units are arbitrary: inches, centimetres ...)::

    {"width": 100.0, "height": 50.0,
     "products":  [{"id": "p1", "name": "Cola 330ml", "w": 8.0, "h": 12.0}],
     "fixtures":  [{"id": "f1", "w": 100.0, "h": 2.0, "x": 0.0, "y": 20.0}],
     "positions": [{"id": "1", "productId": "p1", "fixtureId": "f1", "x": 0.0, "y": 8.0}]}

Position ``x, y`` are the top-left corner of the product's box in planogram coordinates (origin top-left, as for
fixtures); the box's size is the product's ``w, h``. The planogram's ``width, height`` map onto the image's width
and height (the photo is assumed cropped/rectified to the planogram's extent), so a unit is
``image_width / width`` pixels across and ``image_height / height`` pixels down.

Detections are Azure ``DetectedObject`` shapes: ``{"id", "boundingBox": {"x", "y", "w", "h"}, "tags": [{"name",
"confidence"}]}`` in pixels; the top tag names the product (its planogram ``id`` or ``name``). Accepted wrappers:
a bare list, ``{"products": [...], "gaps": [...], "imageMetadata": {"width", "height"}}`` (Azure's product
recognition result), ``{"detectedProducts": {...}}`` (Azure's match request) or ``{"objectsResult": {"values"}}``.

Matching is one optimal assignment (``scipy.optimize.linear_sum_assignment``) of detections to positions: a pair
costs ``1 - IoU`` plus ``label_penalty`` when the product differs, pairs under ``min_iou`` are not allowed, and
the assignment first explains as many positions as possible, then minimises the total cost. Greedy "best IoU
first" assignment can steal a detection that a neighbouring position needed; the optimum cannot.

Output, Azure's ``PlanogramMatchingResultApiModel`` with two imagelens extensions (``state`` and
``expectedProductId``). Azure's REST reference names the list ``matchingResultPerPosition`` while its how-to and
sample client read ``matchedResultsPerPosition``; both keys carry the same list::

    {"matchingResultPerPosition": [
        {"positionId": "1", "state": "matched", "expectedProductId": "p1",
         "detectedObject": {"id": "7", "boundingBox": {"x": 10, "y": 20, "w": 80, "h": 120},
                            "tags": [{"name": "p1", "confidence": 0.93}]}},
        {"positionId": "2", "state": "misplaced", "expectedProductId": "p2", "detectedObject": {...}},
        {"positionId": "3", "state": "gap", "expectedProductId": "p3"}],
     "matchedResultsPerPosition": [... the same ...]}

``state`` is ``"matched"`` (the expected product is there), ``"misplaced"`` (another product is there; it is the
``detectedObject``) or ``"gap"`` (nothing there: no ``detectedObject`` key).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from imagelens.errors import InvalidArgumentError
from imagelens.geometry import iou_matrix
from imagelens.types import BoundingBox, DetectedObject, Tag

PositionState = Literal["matched", "misplaced", "gap"]
STATES: tuple[PositionState, ...] = ("matched", "misplaced", "gap")


# --- planogram ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanogramProduct:
    id: str
    name: str
    w: float
    h: float


@dataclass(frozen=True, slots=True)
class Fixture:
    id: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True, slots=True)
class Position:
    id: str
    product_id: str
    fixture_id: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Planogram:
    width: float
    height: float
    products: tuple[PlanogramProduct, ...]
    fixtures: tuple[Fixture, ...]
    positions: tuple[Position, ...]

    def product(self, product_id: str) -> PlanogramProduct:
        for p in self.products:
            if p.id == product_id:
                return p
        raise KeyError(product_id)

    def position_box(self, position: Position, image_width: float, image_height: float) -> BoundingBox:
        """The position's product box in image pixels (planogram width/height map to the image's)."""
        sx, sy = image_width / self.width, image_height / self.height
        product = self.product(position.product_id)
        return BoundingBox(position.x * sx, position.y * sy, product.w * sx, product.h * sy)

    @classmethod
    def from_dict(cls, obj: Any) -> Planogram:
        return parse_planogram(obj)

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "products": [{"id": p.id, "name": p.name, "w": p.w, "h": p.h} for p in self.products],
            "fixtures": [{"id": f.id, "w": f.w, "h": f.h, "x": f.x, "y": f.y} for f in self.fixtures],
            "positions": [
                {"id": p.id, "productId": p.product_id, "fixtureId": p.fixture_id, "x": p.x, "y": p.y}
                for p in self.positions
            ],
        }


def parse_planogram(obj: Any) -> Planogram:
    """Validate Azure's planogram JSON; :class:`InvalidArgumentError` names the offending field.

    Accepts the planogram itself or a request body that holds it under ``"planogram"``.
    """
    if isinstance(obj, Mapping) and "planogram" in obj and "positions" not in obj:
        obj = obj["planogram"]
    root = "planogram"
    _require_mapping(obj, root)
    width = _number(obj, "width", root, positive=True)
    height = _number(obj, "height", root, positive=True)
    products = tuple(
        PlanogramProduct(
            id=_ident(p, f"{root}.products[{k}]"),
            name=_string(p, "name", f"{root}.products[{k}]"),
            w=_number(p, "w", f"{root}.products[{k}]", positive=True),
            h=_number(p, "h", f"{root}.products[{k}]", positive=True),
        )
        for k, p in enumerate(_list(obj, "products", root))
    )
    fixtures = tuple(
        Fixture(
            id=_ident(f, f"{root}.fixtures[{k}]"),
            x=_number(f, "x", f"{root}.fixtures[{k}]", non_negative=True),
            y=_number(f, "y", f"{root}.fixtures[{k}]", non_negative=True),
            w=_number(f, "w", f"{root}.fixtures[{k}]", positive=True),
            h=_number(f, "h", f"{root}.fixtures[{k}]", positive=True),
        )
        for k, f in enumerate(_list(obj, "fixtures", root))
    )
    positions = tuple(
        Position(
            id=_ident(p, f"{root}.positions[{k}]"),
            product_id=_ident(p, f"{root}.positions[{k}]", key="productId"),
            fixture_id=_ident(p, f"{root}.positions[{k}]", key="fixtureId"),
            x=_number(p, "x", f"{root}.positions[{k}]", non_negative=True),
            y=_number(p, "y", f"{root}.positions[{k}]", non_negative=True),
        )
        for k, p in enumerate(_list(obj, "positions", root))
    )
    groups: tuple[tuple[str, Sequence[PlanogramProduct | Fixture | Position]], ...] = (
        ("products", products),
        ("fixtures", fixtures),
        ("positions", positions),
    )
    for name, items in groups:
        seen: dict[str, int] = {}
        for k, item in enumerate(items):
            if item.id in seen:
                raise InvalidArgumentError(
                    f"{root}.{name}[{k}].id {item.id!r} duplicates {root}.{name}[{seen[item.id]}].id",
                    {"field": f"{root}.{name}[{k}].id"},
                )
            seen[item.id] = k
    product_ids = {p.id for p in products}
    fixture_ids = {f.id for f in fixtures}
    for k, pos in enumerate(positions):
        if pos.product_id not in product_ids:
            raise InvalidArgumentError(
                f"{root}.positions[{k}].productId {pos.product_id!r} is not in {root}.products "
                f"(known: {sorted(product_ids)[:10]})",
                {"field": f"{root}.positions[{k}].productId"},
            )
        if pos.fixture_id not in fixture_ids:
            raise InvalidArgumentError(
                f"{root}.positions[{k}].fixtureId {pos.fixture_id!r} is not in {root}.fixtures "
                f"(known: {sorted(fixture_ids)[:10]})",
                {"field": f"{root}.positions[{k}].fixtureId"},
            )
    return Planogram(width, height, products, fixtures, positions)


def _require_mapping(obj: Any, path: str) -> None:
    if not isinstance(obj, Mapping):
        raise InvalidArgumentError(f"{path} must be a JSON object, got {type(obj).__name__}", {"field": path})


def _list(obj: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
    if key not in obj:
        raise InvalidArgumentError(f"{path}.{key} is missing (expected a list)", {"field": f"{path}.{key}"})
    value = obj[key]
    if not isinstance(value, list):
        raise InvalidArgumentError(
            f"{path}.{key} must be a list, got {type(value).__name__}", {"field": f"{path}.{key}"}
        )
    for k, item in enumerate(value):
        _require_mapping(item, f"{path}.{key}[{k}]")
    return value


def _number(
    obj: Mapping[str, Any], key: str, path: str, *, positive: bool = False, non_negative: bool = False
) -> float:
    field = f"{path}.{key}"
    if key not in obj:
        raise InvalidArgumentError(f"{field} is missing (expected a number)", {"field": field})
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(f"{field} must be a finite number, got {value!r}", {"field": field})
    if positive and value <= 0:
        raise InvalidArgumentError(f"{field} must be > 0, got {value!r}", {"field": field})
    if non_negative and value < 0:
        raise InvalidArgumentError(f"{field} must be >= 0, got {value!r}", {"field": field})
    return float(value)


def _string(obj: Mapping[str, Any], key: str, path: str) -> str:
    field = f"{path}.{key}"
    if key not in obj:
        raise InvalidArgumentError(f"{field} is missing (expected a string)", {"field": field})
    value = obj[key]
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{field} must be a string, got {value!r}", {"field": field})
    return value


def _ident(obj: Mapping[str, Any], path: str, key: str = "id") -> str:
    """Ids are strings in Azure's schema; integers are accepted and turned into their decimal text."""
    field = f"{path}.{key}"
    if key not in obj:
        raise InvalidArgumentError(f"{field} is missing (expected a string id)", {"field": field})
    value = obj[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{field} must be a non-empty string, got {value!r}", {"field": field})
    return value


# --- detections ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductDetection:
    """A detected product in image pixels; Azure's ``DetectedObject`` with its ``id``."""

    id: str
    box: BoundingBox
    tags: tuple[Tag, ...]

    @property
    def label(self) -> str | None:
        """The most confident tag's name."""
        if not self.tags:
            return None
        return max(self.tags, key=lambda t: t.confidence).name

    def to_azure(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "boundingBox": {k: _wire_number(getattr(self.box, k)) for k in ("x", "y", "w", "h")},
            "tags": [{"name": t.name, "confidence": t.confidence} for t in self.tags],
        }


def _wire_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 3)


@dataclass(frozen=True, slots=True)
class DetectionSet:
    products: tuple[ProductDetection, ...]
    gaps: tuple[ProductDetection, ...]
    """Regions a detector labelled as empty shelf (Azure's ``gaps``); not used for matching."""
    image_size: tuple[int, int] | None
    """``(width, height)`` from ``imageMetadata`` / ``metadata`` when the JSON carried it."""


def parse_detections(obj: Any) -> DetectionSet:
    """Read detections from any of the accepted JSON shapes (see the module docstring)."""
    size = None
    gaps: list[Any] = []
    if isinstance(obj, Mapping) and "detectedProducts" in obj:
        obj = obj["detectedProducts"]
    if isinstance(obj, Mapping):
        meta = obj.get("imageMetadata", obj.get("metadata"))
        if isinstance(meta, Mapping) and "width" in meta and "height" in meta:
            w = _number(meta, "width", "imageMetadata", positive=True)
            h = _number(meta, "height", "imageMetadata", positive=True)
            size = (round(w), round(h))
        if "products" in obj:
            items, root = obj["products"], "detectedProducts.products"
            gaps = obj.get("gaps") or []
        elif isinstance(obj.get("objectsResult"), Mapping):
            items, root = obj["objectsResult"].get("values", []), "objectsResult.values"
        elif "values" in obj:
            items, root = obj["values"], "values"
        else:
            raise InvalidArgumentError(
                "detections must be a list of detected objects or an object with 'products', "
                f"'objectsResult' or 'values'; got keys {sorted(obj)[:10]}"
            )
    else:
        items, root = obj, "detections"
    if not isinstance(items, list):
        raise InvalidArgumentError(f"{root} must be a list, got {type(items).__name__}", {"field": root})
    products = tuple(_detection(item, f"{root}[{k}]", str(k)) for k, item in enumerate(items))
    gap_items = tuple(_detection(item, f"gaps[{k}]", f"gap-{k}") for k, item in enumerate(gaps))
    return DetectionSet(products, gap_items, size)


def _detection(item: Any, path: str, default_id: str) -> ProductDetection:
    _require_mapping(item, path)
    if "boundingBox" not in item:
        raise InvalidArgumentError(f"{path}.boundingBox is missing", {"field": f"{path}.boundingBox"})
    bb = item["boundingBox"]
    _require_mapping(bb, f"{path}.boundingBox")
    x = _number(bb, "x", f"{path}.boundingBox")
    y = _number(bb, "y", f"{path}.boundingBox")
    w = _number(bb, "w", f"{path}.boundingBox", non_negative=True)
    h = _number(bb, "h", f"{path}.boundingBox", non_negative=True)
    tags_raw = item.get("tags", [])
    if not isinstance(tags_raw, list):
        raise InvalidArgumentError(f"{path}.tags must be a list", {"field": f"{path}.tags"})
    tags = []
    for k, t in enumerate(tags_raw):
        _require_mapping(t, f"{path}.tags[{k}]")
        name = _string(t, "name", f"{path}.tags[{k}]")
        conf = _number(t, "confidence", f"{path}.tags[{k}]", non_negative=True)
        if conf > 1:
            raise InvalidArgumentError(
                f"{path}.tags[{k}].confidence must be in [0, 1], got {conf}", {"field": f"{path}.tags[{k}]"}
            )
        tags.append(Tag(name, conf))
    ident = _ident(item, path) if "id" in item else default_id
    return ProductDetection(ident, BoundingBox(x, y, w, h), tuple(tags))


# --- matching -----------------------------------------------------------------------------------------------------


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

    def to_azure(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "positionId": self.position_id,
            "state": self.state,
            "expectedProductId": self.expected_product_id,
        }
        if self.detection is not None:
            out["detectedObject"] = self.detection.to_azure()
        return out


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

    def to_azure(self) -> dict[str, Any]:
        per_position = [p.to_azure() for p in self.positions]
        return {"matchingResultPerPosition": per_position, "matchedResultsPerPosition": per_position}


_FORBIDDEN = 1e6


def match_planogram(
    planogram: Planogram | Mapping[str, Any],
    detections: Sequence[ProductDetection | DetectedObject] | DetectionSet,
    image_size: tuple[int, int],
    *,
    min_iou: float = 0.1,
    label_penalty: float = 0.5,
    strategy: Literal["optimal", "greedy"] = "optimal",
) -> PlanogramMatchResult:
    """Assign detections to planogram positions and classify each position as matched, misplaced or gap.

    ``image_size`` is ``(width, height)`` of the image the detections are in. ``strategy="greedy"`` (best pair
    first) exists only as the baseline the benchmark compares against; use the default.
    """
    plan = planogram if isinstance(planogram, Planogram) else parse_planogram(planogram)
    dets = _coerce_detections(detections)
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


def _coerce_detections(
    detections: Sequence[ProductDetection | DetectedObject] | DetectionSet,
) -> list[ProductDetection]:
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
