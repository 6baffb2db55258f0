"""The studio's Shelves page in a real browser (Debian's Chromium via Selenium) against ``imagelens serve`` with tiny
models: two overlapping tiles cut from one synthetic image are stitched, products and gaps from a tiny-OWLv2 run are
drawn at the run's own coordinates, a planogram's compliance overlay matches the JSON, and bad input (a tile that is
not an image, a planogram that is not JSON) gives a clear message in the page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ..shelf.conftest import cut_tiles, synthetic_texture
from .conftest import Server
from .test_studio_browser import by_id, console, css, error_text, open_studio, png, wait_for

pytestmark = pytest.mark.timeout(120)

PLANOGRAM = {
    "width": 100.0, "height": 50.0,
    "products": [{"id": "product", "name": "product", "w": 20.0, "h": 20.0}],
    "fixtures": [{"id": "f1", "x": 0.0, "y": 25.0, "w": 100.0, "h": 2.0}],
    "positions": [{"id": "1", "productId": "product", "fixtureId": "f1", "x": 0.0, "y": 5.0},
                  {"id": "2", "productId": "product", "fixtureId": "f1", "x": 40.0, "y": 5.0},
                  {"id": "3", "productId": "product", "fixtureId": "f1", "x": 70.0, "y": 5.0}],
}  # fmt: skip


def boxes(driver: Any, selector: str) -> list[list[float]]:
    return [[float(r.get_attribute(a)) for a in ("x", "y", "width", "height")] for r in css(driver, selector)]


def as_list(box: dict) -> list[float]:
    return [float(box[k]) for k in ("x", "y", "w", "h")]


def shelf_json(driver: Any) -> Any:
    return json.loads(by_id(driver, "shelf-json").text)


def test_shelves_stitch_products_and_compliance(browser: Any, studio_server: Server, tmp_path: Path) -> None:
    source = synthetic_texture(240, 520, seed=11)
    tiles, offsets, (tw, th) = cut_tiles(source, cols=2, rows=1, overlap=0.5)
    paths = [png(tmp_path / f"tile{k}.png", tile) for k, tile in enumerate(tiles)]
    open_studio(browser, studio_server, "shelves")
    console(browser)
    by_id(browser, "shelf-tiles").send_keys("\n".join(str(p) for p in paths))
    by_id(browser, "shelf-stitch").click()
    img = wait_for(
        lambda: by_id(browser, "shelf-image").get_attribute("data-width"), 30, "the stitched shelf"
    )
    span = offsets[-1][0] + tw - offsets[0][0]
    height = int(by_id(browser, "shelf-image").get_attribute("data-height"))
    assert abs(int(img) - span) <= 3 and abs(height - th) <= 3, (img, height)
    assert error_text(browser) == ""

    # Four clicked corners (real clicks, 10% in from each side) rectify the shelf to that quadrilateral.
    from selenium.webdriver.common.action_chains import ActionChains

    by_id(browser, "shelf-pick").click()
    overlay = by_id(browser, "shelf-overlay")
    w, h = overlay.rect["width"], overlay.rect["height"]
    for fx, fy in ((0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)):
        ActionChains(browser).move_to_element_with_offset(
            overlay, (fx - 0.5) * w, (fy - 0.5) * h
        ).click().perform()
    wait_for(lambda: "four corners" in by_id(browser, "status").text, 30, "the rectified shelf")
    assert error_text(browser) == ""
    img = by_id(browser, "shelf-image").get_attribute("data-width")
    height = int(by_id(browser, "shelf-image").get_attribute("data-height"))
    assert 0.6 * span <= int(img) <= 0.95 * span, img

    by_id(browser, "shelf-products").click()
    result = wait_for(
        lambda: by_id(browser, "shelf-json").text.strip() and shelf_json(browser), 30, "the run"
    )
    assert result["imageMetadata"] == {"width": int(img), "height": height}
    assert boxes(browser, "#shelf-overlay rect.product") == [
        as_list(p["boundingBox"]) for p in result["products"]
    ]
    assert boxes(browser, "#shelf-overlay rect.gap") == [as_list(g["boundingBox"]) for g in result["gaps"]]
    assert css(browser, "#shelf-overlay rect.product") or css(browser, "#shelf-overlay rect.gap")

    by_id(browser, "planogram").send_keys(json.dumps(PLANOGRAM))
    by_id(browser, "shelf-match").click()
    answer = wait_for(
        lambda: "matchingResultPerPosition" in by_id(browser, "shelf-json").text and shelf_json(browser),
        30,
        "the compliance answer",
    )
    positions = answer["matchingResultPerPosition"]
    assert [li.get_attribute("data-state") for li in css(browser, "#compliance li")] == [
        p["state"] for p in positions
    ]
    for state in ("matched", "misplaced"):
        expected = [as_list(p["detectedObject"]["boundingBox"]) for p in positions if p["state"] == state]
        assert boxes(browser, f"#shelf-overlay rect.{state}") == expected
    assert boxes(browser, "#shelf-overlay rect.gap") == [as_list(g["boundingBox"]) for g in result["gaps"]]
    assert error_text(browser) == ""
    assert console(browser) == []
    browser.save_screenshot(str(studio_server.artifacts / "shelves.png"))


def test_shelves_bad_input_is_a_clear_message(browser: Any, studio_server: Server, tmp_path: Path) -> None:
    open_studio(browser, studio_server, "shelves")
    by_id(browser, "shelf-match").click()
    assert "Find the products first" in error_text(browser)
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not an image")
    tile = png(tmp_path / "tile.png", synthetic_texture(120, 160, seed=3))
    by_id(browser, "shelf-tiles").send_keys(f"{tile}\n{not_image}")
    by_id(browser, "shelf-stitch").click()
    message = wait_for(lambda: error_text(browser), 30, "the error message")
    assert "image" in message.lower(), message
    assert by_id(browser, "shelf-stage").get_attribute("hidden") is not None  # no shelf, no blank page
