"""The drawing primitives every annotated picture shares: boxes, polygons, translucent shading, labels on a
coloured background placed so that no two overlap, and a text header with a colour legend.

A :class:`Canvas` draws on a copy of the image. Shapes are drawn at once; labels are collected and placed when
:meth:`Canvas.finish` runs, each at the first free spot of a list of candidates (just above the box's top-left
corner, inside it, below it, right-aligned, then a grid over the whole picture ordered by distance from the
box), so labels of boxes that share a corner (smart crops) or sit side by side (products on a shelf) never cover
each other. A label that fits nowhere is left out; its box is still drawn. :attr:`Canvas.labels` keeps the
rectangles used, in pixels of the finished picture.

Result coordinates may be in another size than the picture (``source_size``): a resized picture still annotates.
PIL only; no OpenCV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from imagelens.errors import InvalidArgumentError
from imagelens.types import BoundingBox

Colour = tuple[int, int, int]
Rect = tuple[int, int, int, int]
"""``x0, y0, x1, y1`` in pixels, ``x1``/``y1`` exclusive."""

COLOURS: Mapping[str, Colour] = {
    # analysis results
    "line": (0, 160, 255),
    "word": (120, 200, 255),
    "object": (0, 200, 80),
    "person": (230, 60, 200),
    "face": (255, 60, 60),
    "denseCaption": (250, 210, 40),
    "crop": (255, 170, 0),
    "custom": (40, 220, 220),
    "brand": (255, 120, 0),
    # shelves
    "product": (40, 180, 70),
    "gap": (220, 40, 40),
    "matched": (40, 180, 70),
    "misplaced": (220, 40, 40),
    "empty": (150, 150, 150),
    "unplanned": (245, 150, 30),
}
"""One colour per kind of thing drawn; the legend names them."""

_PAD = 2


@dataclass(frozen=True, slots=True)
class LabelBox:
    """A label as drawn: its text, rectangle (pixels of the finished picture) and background colour."""

    text: str
    rect: Rect
    colour: Colour

    def overlaps(self, other: LabelBox) -> bool:
        return rects_overlap(self.rect, other.rect)


def rects_overlap(a: Rect, b: Rect) -> bool:
    """True when two rectangles share area (touching edges do not count)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled scalable font (needs FreeType)
    except (TypeError, ValueError, OSError, ImportError):
        return ImageFont.load_default()


def text_colour(background: Colour) -> Colour:
    """Black on light backgrounds, white on dark ones."""
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


@dataclass(frozen=True, slots=True)
class _Pending:
    text: str
    anchor: Rect
    colour: Colour


class Canvas:
    """A copy of ``image`` (PIL image or ``H x W x 3`` uint8 array) to draw results on.

    ``source_size`` is ``(width, height)`` of the coordinate space the results are in (default: the image's).
    """

    def __init__(
        self, image: Image.Image | npt.ArrayLike, *, source_size: tuple[int, int] | None = None
    ) -> None:
        if isinstance(image, Image.Image):
            self.image = image.convert("RGB").copy()
        else:
            arr = np.asarray(image)
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
                raise InvalidArgumentError(
                    f"the image must be HxWx3 uint8 RGB, got shape {arr.shape} and {arr.dtype}"
                )
            self.image = Image.fromarray(np.ascontiguousarray(arr), "RGB")
        self.width, self.height = self.image.size
        src_w, src_h = source_size or (self.width, self.height)
        if src_w <= 0 or src_h <= 0:
            raise InvalidArgumentError(f"source_size must be positive, got {source_size}")
        self.sx, self.sy = self.width / src_w, self.height / src_h
        self.thickness = max(2, round(max(self.width, self.height) / 500))
        self.font = _font(max(10, min(32, round(max(self.width, self.height) / 70))))
        ascent, descent = self.font.getmetrics() if hasattr(self.font, "getmetrics") else (10, 2)
        self._text_height = int(ascent + descent)
        self._draw = ImageDraw.Draw(self.image)
        self._pending: list[_Pending] = []
        self.kinds: list[str] = []
        """Kinds drawn, in first-use order (the legend)."""
        self.labels: list[LabelBox] = []
        """Labels placed by :meth:`finish`, in the finished picture's pixels."""

    # --- coordinates --------------------------------------------------------------------------------------------

    def rect(self, box: BoundingBox) -> Rect:
        """A result box in picture pixels (``x1``/``y1`` exclusive), at least one pixel wide and high."""
        x0, y0 = round(box.x * self.sx), round(box.y * self.sy)
        x1, y1 = round(box.x2 * self.sx), round(box.y2 * self.sy)
        return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)

    def colour(self, kind: str) -> Colour:
        if kind not in self.kinds:
            self.kinds.append(kind)
        return COLOURS[kind]

    # --- shapes -------------------------------------------------------------------------------------------------

    def box(self, box: BoundingBox, kind: str, *, width: int | None = None) -> Rect:
        """Outline a box (the line runs inside the box's edge); returns its rectangle."""
        r = self.rect(box)
        self._draw.rectangle(
            (r[0], r[1], r[2] - 1, r[3] - 1), outline=self.colour(kind), width=width or self.thickness
        )
        return r

    def polygon(self, points: Sequence[tuple[float, float]], kind: str, *, width: int | None = None) -> Rect:
        """Outline a closed polygon; returns its bounding rectangle."""
        pts = [(x * self.sx, y * self.sy) for x, y in points]
        self._draw.polygon(pts, outline=self.colour(kind), width=width or self.thickness)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        x0, y0 = round(min(xs)), round(min(ys))
        return x0, y0, max(round(max(xs)), x0 + 1), max(round(max(ys)), y0 + 1)

    def shade(self, box: BoundingBox, kind: str, alpha: float) -> None:
        """Blend the box's area towards the kind's colour (``alpha`` of the colour)."""
        x0, y0, x1, y1 = self.rect(box)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(self.width, x1), min(self.height, y1)
        if x1 <= x0 or y1 <= y0:
            return
        region = self.image.crop((x0, y0, x1, y1))
        tint = Image.new("RGB", region.size, self.colour(kind))
        self.image.paste(Image.blend(region, tint, alpha), (x0, y0))

    def label(self, text: str, anchor: Rect, kind: str) -> None:
        """Queue a label for the box ``anchor`` (picture pixels); :meth:`finish` places and draws it."""
        self._pending.append(_Pending(text, anchor, self.colour(kind)))

    # --- finishing ----------------------------------------------------------------------------------------------

    def label_size(self, text: str) -> tuple[int, int]:
        left, _top, right, _bottom = self._draw.textbbox((0, 0), text, font=self.font)
        return int(right - left) + 2 * _PAD, self._text_height + 2 * _PAD

    def finish(self, header: Sequence[str] = (), *, legend: bool | None = None) -> Image.Image:
        """Place and draw the queued labels; with ``header`` lines or ``legend`` (default: when there is a header),
        add a band above the picture holding the lines and a legend of the kinds drawn. Returns the finished
        picture (the same size as the input without a band)."""
        sizes = [self.label_size(p.text) for p in self._pending]
        rects = place_labels([p.anchor for p in self._pending], sizes, self.width, self.height)
        placed: list[LabelBox] = []
        for pending, rect in zip(self._pending, rects, strict=True):
            if rect is None:
                continue
            self._draw.rectangle((rect[0], rect[1], rect[2] - 1, rect[3] - 1), fill=pending.colour)
            self._draw.text(
                (rect[0] + _PAD, rect[1] + _PAD),
                pending.text,
                font=self.font,
                fill=text_colour(pending.colour),
            )
            placed.append(LabelBox(pending.text, rect, pending.colour))
        self._pending = []
        show_legend = bool(header) if legend is None else legend and bool(self.kinds)
        if not header and not show_legend:
            self.labels = placed
            return self.image
        band = self._header(header, show_legend)
        out = Image.new("RGB", (self.width, band.height + self.height))
        out.paste(band, (0, 0))
        out.paste(self.image, (0, band.height))
        dy = band.height
        self.labels = [
            LabelBox(lb.text, (lb.rect[0], lb.rect[1] + dy, lb.rect[2], lb.rect[3] + dy), lb.colour)
            for lb in placed
        ]
        return out

    def _header(self, lines: Sequence[str], legend: bool) -> Image.Image:
        line_h = self._text_height + _PAD
        wrapped = [w for line in lines for w in self._wrap(line, self.width - 2 * _PAD)]
        swatch = max(4, self._text_height - 2)
        # Legend entries (swatch + kind name), wrapped onto as many rows as the width needs.
        rows: list[list[tuple[int, str]]] = []
        x = self.width  # forces a first row
        for kind in self.kinds if legend else []:
            item = swatch + 2 * _PAD + int(self._draw.textlength(kind, font=self.font))
            if x + item > self.width - _PAD and (not rows or rows[-1]):
                rows.append([])
                x = _PAD
            rows[-1].append((x, kind))
            x += item + 4 * _PAD
        height = (len(wrapped) + len(rows)) * line_h + 2 * _PAD
        band = Image.new("RGB", (self.width, height), (255, 255, 255))
        draw = ImageDraw.Draw(band)
        y = _PAD
        for text in wrapped:
            draw.text((_PAD, y), text, font=self.font, fill=(0, 0, 0))
            y += line_h
        for row in rows:
            for x0, kind in row:
                draw.rectangle((x0, y + 1, x0 + swatch, y + 1 + swatch), fill=COLOURS[kind])
                draw.text((x0 + swatch + 2 * _PAD, y), kind, font=self.font, fill=(0, 0, 0))
            y += line_h
        return band

    def _wrap(self, text: str, width: int) -> list[str]:
        lines: list[str] = []
        current = ""
        for word in text.split():
            trial = f"{current} {word}".strip()
            if current and self._draw.textlength(trial, font=self.font) > width:
                lines.append(current)
                current = word
            else:
                current = trial
        return [*lines, current] if current else lines or [""]

    def array(self) -> npt.NDArray[np.uint8]:
        return np.asarray(self.image, dtype=np.uint8).copy()


def place_labels(
    anchors: Sequence[Rect], sizes: Sequence[tuple[int, int]], width: int, height: int
) -> list[Rect | None]:
    """Rectangles for labels of the given sizes near their anchor boxes, inside ``width x height``, no two
    overlapping; ``None`` for a label that fits nowhere. Earlier labels choose first."""
    taken = np.zeros((0, 4), dtype=np.int64)
    out: list[Rect | None] = []
    for anchor, (w, h) in zip(anchors, sizes, strict=True):
        cands = _candidates(anchor, w, h, width, height)
        if len(taken):
            clash = (
                (cands[:, None, 0] < taken[None, :, 2])
                & (taken[None, :, 0] < cands[:, None, 2])
                & (cands[:, None, 1] < taken[None, :, 3])
                & (taken[None, :, 1] < cands[:, None, 3])
            ).any(axis=1)
            free = np.flatnonzero(~clash)
        else:
            free = np.arange(len(cands))
        if len(free) == 0:
            out.append(None)
            continue
        best = cands[free[0]]
        rect = (int(best[0]), int(best[1]), int(best[2]), int(best[3]))
        taken = np.vstack([taken, np.asarray(rect, dtype=np.int64)[None, :]])
        out.append(rect)
    return out


def _candidates(anchor: Rect, w: int, h: int, width: int, height: int) -> npt.NDArray[np.int64]:
    """Candidate label rectangles, best first: beside the anchor's corners, then a grid over the picture ordered
    by distance from the anchor's top-left corner. All lie inside the picture (a label wider or taller than the
    picture is pinned to its top-left)."""
    ax0, ay0, ax1, ay1 = anchor
    preferred = [
        (ax0, ay0 - h),  # above, left-aligned
        (ax0, ay0),  # inside, top-left
        (ax0, ay1),  # below, left-aligned
        (ax0, ay1 - h),  # inside, bottom-left
        (ax1 - w, ay0 - h),  # above, right-aligned
        (ax1 - w, ay0),  # inside, top-right
    ]
    max_x, max_y = max(0, width - w), max(0, height - h)
    xs = np.unique(np.append(np.arange(0, max_x + 1, max(1, w // 2)), max_x))
    ys = np.unique(np.append(np.arange(0, max_y + 1, max(1, h // 2)), max_y))
    gx, gy = (g.ravel() for g in np.meshgrid(xs, ys))
    order = np.argsort(np.hypot(gx - ax0, gy - (ay0 - h)), kind="stable")
    grid = np.stack([gx[order], gy[order]], axis=1)
    first = np.asarray(
        [(x, y) for x, y in preferred if 0 <= x <= max_x and 0 <= y <= max_y], dtype=np.int64
    ).reshape(-1, 2)
    corners = np.concatenate([first, grid.astype(np.int64)])
    return np.concatenate([corners, corners + np.array([w, h])], axis=1)
