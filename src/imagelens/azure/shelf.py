"""Azure's retail-shelf JSON (Image Analysis 4.0 preview), both ways, with no web framework.

Out: ``ProductRecognitionResultApiModel`` (:func:`product_recognition_json`), ``PlanogramMatchingResultApiModel``
(:func:`planogram_match_json`), ``PlanogramApiModel`` (:func:`planogram_json`) and ``controlPoints``
(:func:`control_points_json`). In: the same planogram (:func:`parse_planogram`), detected products
(:func:`parse_detections`) and ``controlPoints`` (:func:`parse_control_points`); malformed input raises
:class:`~imagelens.errors.InvalidArgumentError` naming the offending field (``planogram.positions[3].productId``).

Planogram, Azure's ``PlanogramApiModel`` (units are arbitrary)::

    {"width": 100.0, "height": 50.0,
     "products":  [{"id": "p1", "name": "Cola 330ml", "w": 8.0, "h": 12.0}],
     "fixtures":  [{"id": "f1", "w": 100.0, "h": 2.0, "x": 0.0, "y": 20.0}],
     "positions": [{"id": "1", "productId": "p1", "fixtureId": "f1", "x": 0.0, "y": 8.0}]}

Detections are ``DetectedObject`` shapes in pixels, ``{"id", "boundingBox": {"x", "y", "w", "h"}, "tags": [{"name",
"confidence"}]}``, or the product recognition result's ``"classifications": [{"label", "confidence"}]``; the top
tag names the product (its planogram ``id`` or ``name``). Accepted wrappers: a bare list, Azure's product
recognition result ``{"products": [...], "gaps": [...], "imageMetadata": {"width", "height"}}`` (what
``imagelens products --json`` prints), ``{"detectedProducts": {...}}`` (Azure's match request) or
``{"objectsResult": {"values"}}`` (an analysis result).

The matching result carries two imagelens extensions (``state`` and ``expectedProductId``). Azure's REST reference
names the list ``matchingResultPerPosition`` while its how-to and sample client read ``matchedResultsPerPosition``;
both keys carry the same list::

    {"matchingResultPerPosition": [
        {"positionId": "1", "state": "matched", "expectedProductId": "p1",
         "detectedObject": {"id": "7", "boundingBox": {"x": 10, "y": 20, "w": 80, "h": 120},
                            "tags": [{"name": "p1", "confidence": 0.93}]}},
        {"positionId": "3", "state": "gap", "expectedProductId": "p3"}],
     "matchedResultsPerPosition": [... the same ...]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from imagelens.azure.analysis import box_json
from imagelens.config import MAX_LIST_ITEMS
from imagelens.errors import InvalidArgumentError
from imagelens.shelf.compliance import DetectionSet, PlanogramMatchResult, PositionResult
from imagelens.shelf.planogram import Fixture, Planogram, PlanogramProduct, Position
from imagelens.shelf.products import ProductDetection, ProductRecognitionResult
from imagelens.shelf.rectify import CORNER_NAMES, ControlPoints
from imagelens.types import BoundingBox, Tag

JSON = dict[str, Any]

# --- product recognition (out) ------------------------------------------------------------------------------------


def product_json(det: ProductDetection, width: int, height: int) -> JSON:
    """One product or gap: ``{"id", "boundingBox", "classifications": [{"confidence", "label"}]}``."""
    return {
        "id": det.id,
        "boundingBox": box_json(det.box, width, height),
        "classifications": [{"confidence": round(float(t.confidence), 6), "label": t.name} for t in det.tags],
    }


def product_recognition_json(result: ProductRecognitionResult) -> JSON:
    """Azure's ``ProductRecognitionResultApiModel``: integer pixel boxes, gaps labelled ``"gap"``."""
    w, h = result.width, result.height
    return {
        "imageMetadata": {"width": w, "height": h},
        "products": [product_json(p, w, h) for p in result.products],
        "gaps": [product_json(g, w, h) for g in result.gaps],
    }


# --- planogram matching (out) -------------------------------------------------------------------------------------


def detected_object_json(det: ProductDetection, width: int | None = None, height: int | None = None) -> JSON:
    """Azure's ``DetectedObject`` with its id: ``{"id", "boundingBox", "tags": [{"name", "confidence"}]}``."""
    return {
        "id": det.id,
        "boundingBox": box_json(det.box, width, height),
        "tags": [{"name": t.name, "confidence": float(t.confidence)} for t in det.tags],
    }


def position_json(position: PositionResult, width: int | None = None, height: int | None = None) -> JSON:
    out: JSON = {
        "positionId": position.position_id,
        "state": position.state,
        "expectedProductId": position.expected_product_id,
    }
    if position.detection is not None:
        out["detectedObject"] = detected_object_json(position.detection, width, height)
    return out


def planogram_match_json(result: PlanogramMatchResult) -> JSON:
    """Azure's ``PlanogramMatchingResultApiModel`` (both spellings of the list, see the module docstring)."""
    per_position = [position_json(p, result.image_width, result.image_height) for p in result.positions]
    return {"matchingResultPerPosition": per_position, "matchedResultsPerPosition": per_position}


# --- planogram (both ways) ----------------------------------------------------------------------------------------


def planogram_json(plan: Planogram) -> JSON:
    """Azure's ``PlanogramApiModel``; :func:`parse_planogram` reads it back to an equal planogram."""
    return {
        "width": plan.width,
        "height": plan.height,
        "products": [{"id": p.id, "name": p.name, "w": p.w, "h": p.h} for p in plan.products],
        "fixtures": [{"id": f.id, "w": f.w, "h": f.h, "x": f.x, "y": f.y} for f in plan.fixtures],
        "positions": [
            {"id": p.id, "productId": p.product_id, "fixtureId": p.fixture_id, "x": p.x, "y": p.y}
            for p in plan.positions
        ],
    }


def camel_keys(obj: Any) -> Any:
    """Every object key with its first letter lower-cased (``Planogram`` -> ``planogram``, ``ProductId`` ->
    ``productId``, ``W`` -> ``w``), recursively: the preview's samples wrote planogram keys in PascalCase."""
    if isinstance(obj, Mapping):
        return {(k[:1].lower() + k[1:] if isinstance(k, str) else k): camel_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [camel_keys(v) for v in obj]
    return obj


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
    return Planogram(width, height, products, fixtures, positions)  # checks ids and references


# --- detected products (in) ---------------------------------------------------------------------------------------


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
    if not isinstance(gaps, list):
        raise InvalidArgumentError(f"gaps must be a list, got {type(gaps).__name__}", {"field": "gaps"})
    _check_count(items, root)
    _check_count(gaps, "gaps")
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
    # An analysis result's objects carry ``tags: [{name}]``; a product recognition result ``classifications:
    # [{label}]``. Either names the product.
    key, name_key = (
        ("classifications", "label") if "tags" not in item and "classifications" in item else ("tags", "name")
    )
    raw = item.get(key, [])
    if not isinstance(raw, list):
        raise InvalidArgumentError(f"{path}.{key} must be a list", {"field": f"{path}.{key}"})
    tags = []
    for k, t in enumerate(raw):
        where = f"{path}.{key}[{k}]"
        _require_mapping(t, where)
        name = _string(t, name_key, where)
        conf = _number(t, "confidence", where, non_negative=True)
        if conf > 1:
            raise InvalidArgumentError(f"{where}.confidence must be in [0, 1], got {conf}", {"field": where})
        tags.append(Tag(name, conf))
    ident = _ident(item, path) if "id" in item else default_id
    return ProductDetection(ident, BoundingBox(x, y, w, h), tuple(tags))


# --- rectify control points (both ways) ---------------------------------------------------------------------------


def parse_control_points(obj: Any) -> ControlPoints:
    """From ``{"topLeft": {"x", "y"}, "topRight": ..., "bottomRight": ..., "bottomLeft": ...}`` (normalised)."""
    if not isinstance(obj, Mapping):
        raise InvalidArgumentError(f"controlPoints must be an object, got {type(obj).__name__}")
    points = []
    for name in CORNER_NAMES:
        point = obj.get(name)
        if not isinstance(point, Mapping) or "x" not in point or "y" not in point:
            raise InvalidArgumentError(f"controlPoints.{name} must be an object with x and y, got {point!r}")
        points.append((point["x"], point["y"]))
    return ControlPoints(*points)


def control_points_json(points: ControlPoints) -> dict[str, dict[str, float]]:
    return {name: {"x": p[0], "y": p[1]} for name, p in zip(CORNER_NAMES, points.corners(), strict=True)}


# --- field readers that name the field they refuse ----------------------------------------------------------------


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
    _check_count(value, f"{path}.{key}")
    for k, item in enumerate(value):
        _require_mapping(item, f"{path}.{key}[{k}]")
    return value


def _check_count(value: list[Any], path: str) -> None:
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidArgumentError(
            f"{path} has {len(value)} items; at most {MAX_LIST_ITEMS} are accepted (MAX_LIST_ITEMS)",
            {"field": path, "max_items": MAX_LIST_ITEMS},
        )


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
