"""3.2 Read of PDF and multi-page TIFF documents, ``pages``, ``readingOrder``, ``language`` and ``model-version``
(checked before the 202), over HTTP with the tiny models; the page rendering and reading order as units."""

from __future__ import annotations

import io
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from imagelens.api.app import create_app
from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError
from imagelens.features.read import order_lines
from imagelens.io import documents
from imagelens.types import Line, Point, Polygon, ReadResult, TextBlock

from .test_routes import assert_azure_error

OCTET = {"content-type": "application/octet-stream"}
READ = "/vision/v3.2/read/analyze"


def _pages(n: int) -> list[Image.Image]:
    out = []
    for i in range(n):
        image = Image.new("RGB", (400 + 40 * i, 300), "white")
        ImageDraw.Draw(image).text((40, 40), f"PAGE {i + 1}", fill="black")
        out.append(image)
    return out


def _pdf(n: int) -> bytes:
    buf = io.BytesIO()
    first, *rest = _pages(n)
    first.save(buf, "PDF", save_all=True, append_images=rest, resolution=72.0)
    return buf.getvalue()


def _tiff(n: int) -> bytes:
    buf = io.BytesIO()
    first, *rest = _pages(n)
    first.save(buf, "TIFF", save_all=True, append_images=rest)
    return buf.getvalue()


def test_documents_render_every_page() -> None:
    pdf, tiff = _pdf(3), _tiff(2)
    assert documents.document_kind(pdf) == "pdf" and documents.document_kind(tiff) == "tiff"
    assert documents.document_kind(b"\x89PNG....") is None
    assert documents.page_count(pdf) == 3 and documents.page_count(tiff) == 2
    pages = list(documents.iter_pages(pdf, [1, 3]))
    assert [p.number for p in pages] == [1, 3] and {p.unit for p in pages} == {"inch"}
    assert pages[0].width == pytest.approx(400 / 72, abs=0.02)  # 400 pt at 72 dpi = 5.56 in
    assert pages[1].image.width == round(480 * documents.PDF_DPI / 72)
    tiff_pages = list(documents.iter_pages(tiff))
    assert [(p.number, p.unit, p.width) for p in tiff_pages] == [(1, "pixel", 400), (2, "pixel", 440)]


def test_pages_parameter() -> None:
    ranges = documents.parse_pages("1,3-4,6-")
    assert documents.select_pages(ranges, 7) == [1, 3, 4, 6, 7]
    assert documents.select_pages(documents.parse_pages("-2"), 5) == [1, 2]
    assert documents.select_pages(None, 3) == [1, 2, 3]
    for bad in ("a", "0", "3-1", "1,,2"):
        with pytest.raises(InvalidArgumentError):
            documents.select_pages(documents.parse_pages(bad), 5)
    with pytest.raises(InvalidArgumentError, match="selects no page"):
        documents.select_pages(documents.parse_pages("9-"), 3)


def _line(text: str, x: float, y: float, w: float = 80, h: float = 10) -> Line:
    poly = Polygon((Point(x, y), Point(x + w, y), Point(x + w, y + h), Point(x, y + h)))
    return Line(text, poly, ())


def test_reading_orders() -> None:
    # two columns: left a1 a2, right b1 b2, rows aligned
    read = ReadResult(
        (TextBlock((_line("b1", 300, 10), _line("a2", 10, 30), _line("a1", 10, 10), _line("b2", 300, 31))),)
    )
    assert [ln.text for ln in order_lines(read, "basic").lines] == ["a1", "b1", "a2", "b2"]
    assert [ln.text for ln in order_lines(read, "natural").lines] == ["a1", "a2", "b1", "b2"]


def _poll(c: TestClient, location: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        body = c.get(location).json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_read_a_pdf_and_a_tiff_over_http(tiny_settings: Settings) -> None:
    c = TestClient(create_app(tiny_settings))
    r = c.post(f"{READ}?pages=2-3&readingOrder=natural&language=en&model-version=latest", content=_pdf(3),
               headers=OCTET)  # fmt: skip
    assert r.status_code == 202, r.text
    body = _poll(c, r.headers["Operation-Location"])
    assert body["status"] == "succeeded", body
    pages = body["analyzeResult"]["readResults"]
    assert [p["page"] for p in pages] == [2, 3]
    assert {p["unit"] for p in pages} == {"inch"} and {p["language"] for p in pages} == {"en"}
    assert body["analyzeResult"]["modelVersion"] == "2026-12-01"
    r = c.post(READ, content=_tiff(2), headers=OCTET)
    pages = _poll(c, r.headers["Operation-Location"])["analyzeResult"]["readResults"]
    assert [(p["page"], p["unit"], p["width"]) for p in pages] == [(1, "pixel", 400), (2, "pixel", 440)]


@pytest.mark.parametrize(
    ("query", "inner"),
    [
        ("model-version=bogus", "BadArgument"),
        ("model-version=2020-01-01", "BadArgument"),
        ("readingOrder=sideways", "InvalidReadingOrder"),
        ("pages=x", "BadArgument"),
        ("pages=5", "BadArgument"),  # a one-page image has no page 5
        ("language=not a language", "BadArgument"),
    ],
)
def test_bad_read_parameters_are_400_not_202(tiny_settings: Settings, query: str, inner: str) -> None:
    c = TestClient(create_app(tiny_settings))
    png = io.BytesIO()
    _pages(1)[0].save(png, "PNG")
    assert_azure_error(c.post(f"{READ}?{query}", content=png.getvalue(), headers=OCTET), 400, inner)


def test_a_broken_pdf_is_a_400(tiny_settings: Settings) -> None:
    c = TestClient(create_app(tiny_settings))
    assert_azure_error(c.post(READ, content=b"%PDF-1.4 broken", headers=OCTET), 400, "InvalidImageFormat")
