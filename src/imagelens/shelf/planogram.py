"""A planogram: where each product should stand on a shelf fixture.

Units are arbitrary (inches, centimetres ...). Position ``x, y`` are the top-left corner of the product's box in
planogram coordinates (origin top-left, as for fixtures); the box's size is the product's ``w, h``. The planogram's
``width, height`` map onto the image's width and height (the photo is assumed cropped/rectified to the planogram's
extent), so a unit is ``image_width / width`` pixels across and ``image_height / height`` pixels down.

Pure types: Azure's JSON shape (``PlanogramApiModel``) is read and written by :mod:`imagelens.azure.shelf`;
matching detections to positions is :mod:`imagelens.shelf.compliance`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from imagelens.errors import InvalidArgumentError
from imagelens.types import BoundingBox


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
    """Products, fixtures and positions; ids are unique per kind and every position names a known product and
    fixture (checked here, so a planogram built in code is as sound as one read from JSON)."""

    width: float
    height: float
    products: tuple[PlanogramProduct, ...]
    fixtures: tuple[Fixture, ...]
    positions: tuple[Position, ...]

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise InvalidArgumentError(
                    f"planogram.{name} must be > 0, got {value!r}", {"field": f"planogram.{name}"}
                )
        groups: tuple[tuple[str, Sequence[PlanogramProduct | Fixture | Position]], ...] = (
            ("products", self.products),
            ("fixtures", self.fixtures),
            ("positions", self.positions),
        )
        for name, items in groups:
            seen: dict[str, int] = {}
            for k, item in enumerate(items):
                if item.id in seen:
                    raise InvalidArgumentError(
                        f"planogram.{name}[{k}].id {item.id!r} duplicates planogram.{name}[{seen[item.id]}].id",
                        {"field": f"planogram.{name}[{k}].id"},
                    )
                seen[item.id] = k
        product_ids = {p.id for p in self.products}
        fixture_ids = {f.id for f in self.fixtures}
        for k, pos in enumerate(self.positions):
            if pos.product_id not in product_ids:
                raise InvalidArgumentError(
                    f"planogram.positions[{k}].productId {pos.product_id!r} is not in planogram.products "
                    f"(known: {sorted(product_ids)[:10]})",
                    {"field": f"planogram.positions[{k}].productId"},
                )
            if pos.fixture_id not in fixture_ids:
                raise InvalidArgumentError(
                    f"planogram.positions[{k}].fixtureId {pos.fixture_id!r} is not in planogram.fixtures "
                    f"(known: {sorted(fixture_ids)[:10]})",
                    {"field": f"planogram.positions[{k}].fixtureId"},
                )

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
