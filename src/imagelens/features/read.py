"""The ``read`` feature (Azure's OCR): printed and handwritten text as one block of lines with words.

Azure answers ``readResult: {"blocks": [{"lines": [...]}]}`` -- one block holding every line in reading order, and
still one block, with no lines, when the image has no text. We return the same shape:
``ReadResult(blocks=(TextBlock(lines=()),))`` for an empty image, never ``blocks=()``.

The OCR result is memoised as the artefact ``"read"``, so another feature that needs the text of the same image (for
example a product-shelf reader) gets it without a second OCR pass.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from imagelens.features.base import FeatureContext
from imagelens.models.spec import Role
from imagelens.types import Line, ReadResult, TextBlock


class ReadFeature:
    name: ClassVar[str] = "read"
    field: ClassVar[str] = "read"
    needs: ClassVar[tuple[Role, ...]] = (Role.OCR,)
    after: ClassVar[tuple[str, ...]] = ()

    def run(self, ctx: FeatureContext) -> ReadResult:
        reader = ctx.hub.reader()
        return ctx.artefact("read", lambda: reader.read(ctx.image.array()))


ReadingOrder = Literal["basic", "natural"]
READING_ORDERS: tuple[ReadingOrder, ...] = ("basic", "natural")


def _span(line: Line, axis: int) -> tuple[float, float]:
    values = [p.x if axis == 0 else p.y for p in line.polygon.points]
    return min(values), max(values)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """How much two intervals overlap, as a fraction of the shorter one."""
    shorter = min(a[1] - a[0], b[1] - b[0])
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0])) / shorter if shorter > 0 else 0.0


def order_lines(read: ReadResult, order: ReadingOrder) -> ReadResult:
    """Azure's 3.2 ``readingOrder``. ``basic``: rows top to bottom (lines whose vertical extents overlap by half
    share a row), left to right within a row. ``natural``: columns first -- lines are grouped into columns by
    horizontal overlap, columns read left to right, each top to bottom -- the order a person reads a multi-column
    page in."""
    lines = list(read.lines)
    if order == "basic":
        rows: list[list[Line]] = []
        for line in sorted(lines, key=lambda ln: _span(ln, 1)[0]):
            row = next((r for r in rows if _overlap(_span(r[0], 1), _span(line, 1)) >= 0.5), None)
            if row is None:
                rows.append([line])
            else:
                row.append(line)
        ordered = [ln for row in rows for ln in sorted(row, key=lambda ln: _span(ln, 0)[0])]
    elif order == "natural":
        columns: list[tuple[list[float], list[Line]]] = []  # ([x0, x1], lines)
        for line in sorted(lines, key=lambda ln: (_span(ln, 1)[0], _span(ln, 0)[0])):
            x = _span(line, 0)
            column = next((c for c in columns if _overlap((c[0][0], c[0][1]), x) >= 0.5), None)
            if column is None:
                columns.append(([x[0], x[1]], [line]))
            else:
                column[0][0], column[0][1] = min(column[0][0], x[0]), max(column[0][1], x[1])
                column[1].append(line)
        ordered = [ln for _, col in sorted(columns, key=lambda c: c[0][0]) for ln in col]
    else:
        raise ValueError(f"reading order must be one of {READING_ORDERS}, got {order!r}")
    return ReadResult(blocks=(TextBlock(lines=tuple(ordered)),))
