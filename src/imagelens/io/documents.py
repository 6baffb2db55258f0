"""Multi-page documents for Read: PDF (rendered by PDFium through ``pypdfium2``, Apache-2.0/BSD-3) and multi-page
TIFF (Pillow), as one image per page.

Azure's 3.2 Read reports PDF pages in inches and image pages in pixels; :class:`Page` carries the unit and the
factor from the rendered pixels to it. PDF rendering needs the ``documents`` extra (``pip install
'imagelens[documents]'``); without it a PDF is refused with that command, never parsed by hand.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from imagelens.config import ImageLimits
from imagelens.errors import InvalidArgumentError, InvalidImageFormatError, NotSupportedFeatureError
from imagelens.io.formats import check_dimensions

#: PDF pages are rendered at this many pixels per inch for OCR (Azure reports their coordinates in inches).
PDF_DPI = 144
#: Azure's Read limit for one document (S1 tier).
MAX_PAGES = 2000

DocumentKind = Literal["pdf", "tiff"]


@dataclass(frozen=True)
class Page:
    """One page: its 1-based ``number``, the RGB ``image`` to read, and how to report it."""

    number: int
    image: Image.Image
    unit: Literal["pixel", "inch"]
    per_pixel: float  # units per rendered pixel: 1 for pixel pages, 1/PDF_DPI for PDF pages

    @property
    def width(self) -> float:
        return round(self.image.width * self.per_pixel, 4)

    @property
    def height(self) -> float:
        return round(self.image.height * self.per_pixel, 4)


def document_kind(data: bytes) -> DocumentKind | None:
    """``pdf`` or ``tiff`` from the magic bytes; ``None`` for anything else (a plain image)."""
    if data[:5] == b"%PDF-":
        return "pdf"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def parse_pages(value: str | None) -> list[tuple[int, int | None]] | None:
    """Azure's ``pages`` (``1,3-5,8-``, ``-2``): inclusive 1-based ranges (``None`` end: to the last page); ``None``
    when absent. A malformed value is a 400, as Azure answers it."""
    if value is None or not value.strip():
        return None
    ranges: list[tuple[int, int | None]] = []
    for raw in value.split(","):
        part = raw.strip()
        try:
            if "-" not in part:
                first = int(part)
                ranges.append((first, first))
                continue
            start, end = part.split("-", 1)
            low = int(start) if start else 1
            high = int(end) if end else None
        except ValueError:
            raise InvalidArgumentError(
                f"The 'pages' parameter '{value}' is not valid: use page numbers and ranges like 1,3-5,8-."
            ) from None
        if low < 1 or (high is not None and high < low):
            raise InvalidArgumentError(f"The page range '{part}' is not valid.")
        ranges.append((low, high))
    if any(low < 1 for low, _ in ranges):
        raise InvalidArgumentError(f"The 'pages' parameter '{value}' is not valid: pages start at 1.")
    return ranges


def select_pages(ranges: list[tuple[int, int | None]] | None, count: int) -> list[int]:
    """The 1-based page numbers ``ranges`` pick from a ``count``-page document, in order, each once."""
    if ranges is None:
        return list(range(1, count + 1))
    chosen: list[int] = []
    for low, high in ranges:
        for number in range(low, min(high if high is not None else count, count) + 1):
            if number not in chosen:
                chosen.append(number)
    if not chosen:
        raise InvalidArgumentError(f"The 'pages' parameter selects no page of this {count}-page document.")
    return sorted(chosen)


def _tiff_pages(data: bytes, numbers: Sequence[int] | None, limits: ImageLimits) -> Iterator[Page]:
    try:
        tiff = Image.open(io.BytesIO(data))
        count = getattr(tiff, "n_frames", 1)
    except Exception:
        raise InvalidImageFormatError("The TIFF document could not be read.") from None
    with tiff:
        for number in numbers if numbers is not None else range(1, count + 1):
            if number > count:
                continue
            tiff.seek(number - 1)
            check_dimensions(tiff.width, tiff.height, limits)  # from the header, before decoding the pixels
            yield Page(number, tiff.convert("RGB"), "pixel", 1.0)


def _pdf_document(data: bytes):  # type: ignore[no-untyped-def]
    try:
        import pypdfium2
    except ImportError:
        raise NotSupportedFeatureError(
            "Reading PDF documents needs the 'documents' extra: pip install 'imagelens[documents]'."
        ) from None
    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as error:
        raise InvalidImageFormatError(f"The PDF document could not be opened: {error}.") from None


def page_count(data: bytes) -> int:
    """How many pages a PDF or TIFF document has."""
    kind = document_kind(data)
    if kind == "pdf":
        pdf = _pdf_document(data)
        try:
            return len(pdf)
        finally:
            pdf.close()
    if kind == "tiff":
        try:
            with Image.open(io.BytesIO(data)) as tiff:
                return int(getattr(tiff, "n_frames", 1))
        except Exception:
            raise InvalidImageFormatError("The TIFF document could not be read.") from None
    return 1


def iter_pages(
    data: bytes, numbers: Sequence[int] | None = None, limits: ImageLimits | None = None
) -> Iterator[Page]:
    """The pages ``numbers`` (1-based; all when ``None``) of a PDF or TIFF document, rendered one at a time."""
    limits = limits if limits is not None else ImageLimits()
    kind = document_kind(data)
    if kind == "tiff":
        yield from _tiff_pages(data, numbers, limits)
        return
    if kind != "pdf":
        raise InvalidImageFormatError("The input is neither a PDF nor a TIFF document.")
    pdf = _pdf_document(data)
    try:
        count = len(pdf)
        for number in numbers if numbers is not None else range(1, count + 1):
            if number > count:
                continue
            page = pdf[number - 1]
            try:
                width_pt, height_pt = page.get_size()
                scale = PDF_DPI / 72.0
                check_dimensions(round(width_pt * scale), round(height_pt * scale), limits)
                image = page.render(scale=scale).to_pil().convert("RGB")
            finally:
                page.close()
            yield Page(number, image, "inch", 1.0 / PDF_DPI)
    finally:
        pdf.close()
