"""The studio in a real browser (Debian's Chromium, headless, via Selenium) against a real ``imagelens serve`` with
tiny random models: Try draws the answer's boxes at the answer's coordinates, bad input gives a clear message,
labels and keyboard navigation work, Search finds and re-searches by a hit, and a dataset labelled in the page trains
to the end. No console errors in the normal flows. Screenshots of each page go to the artifacts folder."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from .conftest import API_KEY, Server

pytestmark = pytest.mark.timeout(600)
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "shop_receipt.png"


# --- helpers ------------------------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def console(driver: Any) -> list[str]:
    """SEVERE browser-console entries since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def open_studio(driver: Any, server: Server, tab: str = "try") -> None:
    """A fresh load of the page (a new query string, since a changed #hash alone does not reload it), key entered."""
    if driver.current_url.startswith(server.url):  # a key left by an earlier test would fail the first calls
        driver.execute_script("sessionStorage.setItem('imagelens.studio.key', arguments[0])", API_KEY)
    driver.get(f"{server.url}/studio?load={time.monotonic_ns()}#{tab}")
    key = by_id(driver, "api-key")
    key.clear()
    key.send_keys(API_KEY)
    by_id(driver, "key-form").submit()
    if tab == "try":
        wait_for(lambda: css(driver, "#feature-list input"), what="the feature list")


def error_text(driver: Any) -> str:
    box = by_id(driver, "error")
    return "" if box.get_attribute("hidden") is not None else str(box.text)


def png(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels).save(path)
    return path


def square(
    colour: tuple[int, int, int], size: int = 96, at: tuple[int, int, int] = (20, 24, 40)
) -> np.ndarray:
    img = np.full((size, size, 3), 128, np.uint8)
    x, y, side = at
    img[y : y + side, x : x + side] = colour
    return img


def rest(server: Server, path: str) -> Any:
    request = urllib.request.Request(f"{server.url}{path}", headers={"Ocp-Apim-Subscription-Key": API_KEY})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


# --- Try ----------------------------------------------------------------------------------------------------------


def test_try_draws_the_answer_on_the_image(browser: Any, studio_server: Server) -> None:
    from selenium.webdriver.common.keys import Keys

    open_studio(browser, studio_server)
    for box in css(browser, "#feature-list input"):
        if box.is_selected() != (box.get_attribute("value") in {"objects", "people", "read", "faces"}):
            box.click()
    by_id(browser, "try-file").send_keys(str(SAMPLE))
    wait_for(lambda: by_id(browser, "json").text.strip(), what="the JSON answer")
    assert error_text(browser) == ""
    answer = json.loads(by_id(browser, "json").text)
    v40, v32 = answer["imageanalysis:analyze"], answer["v3.2/analyze"]
    assert v40["metadata"] == {"width": 1280, "height": 720}

    # Every object and person box is in the overlay with the answer's own pixel coordinates.
    for kind, values in (
        ("objects", v40["objectsResult"]["values"]),
        ("people", v40["peopleResult"]["values"]),
    ):
        rects = css(browser, f"#overlay rect.{kind}")
        assert values and len(rects) == len(values)
        for rect, value in zip(rects, values, strict=True):
            box = value["boundingBox"]
            got = [float(rect.get_attribute(a)) for a in ("x", "y", "width", "height")]
            assert got == [box["x"], box["y"], box["w"], box["h"]]
    faces = css(browser, "#overlay rect.faces")
    assert len(faces) == len(v32["faces"]) > 0
    lines = [line for block in v40["readResult"]["blocks"] for line in block["lines"]]
    polygons = css(browser, "#overlay polygon.read")
    assert len(polygons) == len(lines) > 0
    first = lines[0]["boundingPolygon"]
    assert polygons[0].get_attribute("points") == " ".join(f"{p['x']},{p['y']}" for p in first)

    # ... and on screen: the first object's rectangle sits where its box falls on the displayed image.
    img = by_id(browser, "try-image").rect
    rect = css(browser, "#overlay rect.objects")[0].rect
    box = v40["objectsResult"]["values"][0]["boundingBox"]
    scale = img["width"] / 1280
    assert (
        abs(rect["x"] - (img["x"] + box["x"] * scale)) <= 3
        and abs(rect["y"] - (img["y"] + box["y"] * scale)) <= 3
    )
    assert abs(rect["width"] - box["w"] * scale) <= 4

    # The threshold slider (by keyboard) filters live; faces carry no confidence and stay.
    slider = by_id(browser, "threshold")
    slider.send_keys(Keys.END)
    wait_for(lambda: by_id(browser, "threshold-value").text == "1.00", what="the slider at 1")
    assert all(not r.is_displayed() for r in css(browser, "#overlay rect.objects, #overlay rect.people"))
    assert all(f.is_displayed() for f in css(browser, "#overlay rect.faces"))
    slider.send_keys(Keys.HOME)
    wait_for(lambda: by_id(browser, "threshold-value").text == "0.00", what="the slider at 0")
    assert all(r.is_displayed() for r in css(browser, "#overlay rect.objects"))
    shown = sum(1 for r in css(browser, "#overlay [data-kind]") if r.is_displayed())
    assert shown == len(css(browser, "#overlay [data-kind]"))

    by_id(browser, "copy-curl").click()
    curl = by_id(browser, "snippet").text
    assert "imageanalysis:analyze?api-version=2024-02-01&features=read,objects,people" in curl
    assert "Ocp-Apim-Subscription-Key: $IMAGELENS_KEY" in curl and "--data-binary @shop_receipt.png" in curl
    by_id(browser, "copy-python").click()
    python = by_id(browser, "snippet").text
    assert (
        "ImageAnalysisClient(" in python
        and "VisualFeatures.READ, VisualFeatures.OBJECTS, VisualFeatures.PEOPLE" in python
    )
    compile(python, "snippet.py", "exec")  # valid Python

    for _ in range(50):
        slider.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: by_id(browser, "threshold-value").text == "0.50", what="the slider at 0.5")
    browser.save_screenshot(str(studio_server.artifacts / "studio-try.png"))
    assert console(browser) == []


def test_background_removal_preview(browser: Any, studio_server: Server) -> None:
    open_studio(browser, studio_server)
    for box in css(browser, "#feature-list input:checked"):
        box.click()
    by_id(browser, "feat-background").click()
    by_id(browser, "try-file").send_keys(str(SAMPLE))
    wait_for(lambda: by_id(browser, "background").is_displayed(), what="the background-removal preview")
    natural = browser.execute_script(
        "const i = document.getElementById('background-image'); return i.complete && i.naturalWidth;"
    )
    wait_for(
        lambda: browser.execute_script("return document.getElementById('background-image').naturalWidth"),
        what="the PNG to load",
    )
    assert natural is not None
    assert error_text(browser) == "" and console(browser) == []


def test_bad_input_gives_a_clear_message(browser: Any, studio_server: Server, tmp_path: Path) -> None:
    open_studio(browser, studio_server)
    console(browser)
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG" + bytes(30 * 1024 * 1024))
    by_id(browser, "try-file").send_keys(str(big))
    message = wait_for(lambda: error_text(browser), what="the size message")
    assert "huge.png" in message and "30.0 MB" in message and "20.0 MB" in message

    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    by_id(browser, "try-file").send_keys(str(text))
    wait_for(lambda: "not an image" in error_text(browser), what="the non-image message")

    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is not a PNG at all")
    by_id(browser, "try-file").send_keys(str(fake))
    message = wait_for(
        lambda: "valid image" in error_text(browser) and error_text(browser), what="the server's message"
    )
    assert "Input data is not a valid image" in message

    url = by_id(browser, "try-url")
    url.clear()
    url.send_keys("http://127.0.0.1:9/missing.png")  # nothing listens on the discard port
    by_id(browser, "url-form").submit()
    message = wait_for(
        lambda: "url" in error_text(browser).lower() and error_text(browser), what="the URL message"
    )
    assert "Image URL is not accessible" in message, message

    # Never a blank page: the Try page is still there, and only the failed loads reached the console.
    assert by_id(browser, "page-try").is_displayed() and by_id(browser, "analyze").is_displayed()
    browser.save_screenshot(str(studio_server.artifacts / "studio-bad-input.png"))
    assert all("Failed to load resource" in m or "missing.png" in m for m in console(browser))


# --- accessibility --------------------------------------------------------------------------------------------------


def test_every_control_has_a_label_and_tabs_work_by_keyboard(browser: Any, studio_server: Server) -> None:
    from selenium.webdriver.common.keys import Keys

    open_studio(browser, studio_server)
    unlabelled = browser.execute_script(
        """return [...document.querySelectorAll('input, select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.id || e.outerHTML);"""
    )
    assert unlabelled == []
    assert browser.execute_script("return [...document.images].every(i => i.hasAttribute('alt'))")
    assert by_id(browser, "drop").get_attribute("tabindex") == "0"

    tab = by_id(browser, "tab-try")
    tab.click()
    tab.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: by_id(browser, "page-search").is_displayed(), what="the Search page")
    active = browser.switch_to.active_element
    assert active.get_attribute("id") == "tab-search" and active.get_attribute("aria-selected") == "true"
    assert not by_id(browser, "page-try").is_displayed()
    active.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: by_id(browser, "page-label").is_displayed(), what="the Label page")
    browser.switch_to.active_element.send_keys(Keys.HOME)
    wait_for(lambda: by_id(browser, "page-try").is_displayed(), what="the Try page")
    tabindex = [t.get_attribute("tabindex") for t in css(browser, "[role=tab]")]
    assert len(tabindex) >= 4 and tabindex == ["0"] + ["-1"] * (
        len(tabindex) - 1
    )  # roving tabindex, Try focused
    browser.switch_to.active_element.send_keys(Keys.END)  # End: the last tab (Shelves)
    wait_for(lambda: by_id(browser, "page-shelves").is_displayed(), what="the Shelves page")
    assert console(browser) == []


def test_a_missing_or_wrong_key_is_explained(browser: Any, studio_server: Server) -> None:
    browser.get(f"{studio_server.url}/studio?nokey")
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{studio_server.url}/studio?nokey={time.monotonic_ns()}#try")
    message = wait_for(lambda: error_text(browser), what="the key message")
    assert "needs an API key" in message
    assert browser.switch_to.active_element.get_attribute("id") == "api-key"
    assert console(browser) == []  # the page asked for the key instead of failing a call

    by_id(browser, "api-key").send_keys("wrong-key")
    by_id(browser, "key-form").submit()
    wait_for(lambda: css(browser, "#feature-list input"), what="the feature list")
    by_id(browser, "try-file").send_keys(str(SAMPLE))
    message = wait_for(lambda: "valid API key" in error_text(browser) and error_text(browser), what="the 401")
    assert "Access denied" in message
    assert all("401" in m for m in console(browser))  # the refused call, and only it
    browser.execute_script("sessionStorage.clear()")


# --- Search -------------------------------------------------------------------------------------------------------


def test_search_finds_images_and_searches_by_a_hit(
    browser: Any, studio_server: Server, tmp_path: Path
) -> None:
    open_studio(browser, studio_server, "search")
    name = by_id(browser, "index-name")
    name.clear()
    name.send_keys("gallery")
    by_id(browser, "index-form").submit()
    wait_for(
        lambda: "Index 'gallery': 0 image(s)" in by_id(browser, "index-stats").text, what="the new index"
    )
    files = [
        png(tmp_path / f"{n}.png", square(c, at=(10 + 5 * i, 12, 50)))
        for i, (n, c) in enumerate(
            (("red", (220, 30, 30)), ("green", (30, 200, 40)), ("blue", (30, 40, 220)))
        )
    ]
    by_id(browser, "index-files").send_keys("\n".join(str(f) for f in files))
    wait_for(lambda: "3 image(s)" in by_id(browser, "index-stats").text, what="3 images in the index")
    query = by_id(browser, "query-text")
    query.send_keys("a red square")
    by_id(browser, "query-form").submit()
    wait_for(lambda: len(css(browser, "#hits .hit")) == 3, what="3 hits")
    scores = [float(h.get_attribute("data-relevance")) for h in css(browser, "#hits .hit")]
    assert scores == sorted(scores, reverse=True)
    assert all(h.find_element("css selector", "img").get_attribute("alt") for h in css(browser, "#hits .hit"))

    blue = next(h for h in css(browser, "#hits .hit") if h.get_attribute("data-document") == "blue.png")
    blue.click()
    wait_for(lambda: "the image 'blue.png'" in by_id(browser, "status").text, what="the search by image")
    top = css(browser, "#hits .hit")[0]
    assert (
        top.get_attribute("data-document") == "blue.png" and float(top.get_attribute("data-relevance")) > 0.99
    )
    browser.save_screenshot(str(studio_server.artifacts / "studio-search.png"))
    assert console(browser) == []


# --- Label and train --------------------------------------------------------------------------------------------------


def test_label_boxes_save_and_train_to_the_end(browser: Any, studio_server: Server, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    open_studio(browser, studio_server, "label")
    name = by_id(browser, "dataset-name")
    name.clear()
    name.send_keys("boxes")
    by_id(browser, "dataset-form").submit()
    wait_for(lambda: by_id(browser, "label-area").is_displayed(), what="the label area")
    files = [
        png(tmp_path / "one.png", square((220, 30, 30), at=(20, 24, 40))),
        png(tmp_path / "two.png", square((220, 30, 30), at=(40, 10, 36))),
        png(tmp_path / "three.png", square((220, 30, 30), at=(8, 50, 30))),
    ]
    by_id(browser, "label-files").send_keys("\n".join(str(f) for f in files))
    wait_for(lambda: len(css(browser, "#label-images button")) == 3, what="3 images")
    label = by_id(browser, "current-label")
    label.clear()
    label.send_keys("square")

    # Image one: drag a box with the mouse from (20, 24) to (60, 64) in image pixels.
    css(browser, "#label-images button")[0].click()
    wait_for(lambda: by_id(browser, "label-stage").is_displayed(), what="the image")
    wait_for(
        lambda: browser.execute_script("return document.getElementById('label-image').naturalWidth"),
        what="load",
    )
    overlay = by_id(browser, "label-overlay")
    shown = overlay.rect
    scale = shown["width"] / 96
    start = (20 * scale - shown["width"] / 2, 24 * scale - shown["height"] / 2)
    actions = ActionChains(browser)
    actions.move_to_element_with_offset(overlay, int(start[0]), int(start[1])).click_and_hold()
    actions.move_by_offset(int(20 * scale), int(20 * scale)).move_by_offset(int(20 * scale), int(20 * scale))
    actions.release().perform()
    rect = wait_for(lambda: css(browser, "#label-overlay rect.label-box"), what="the drawn box")[0]
    got = [float(rect.get_attribute(a)) for a in ("x", "y", "width", "height")]
    assert np.allclose(got, [20, 24, 40, 40], atol=2.5), got
    # Move it by its body (+8, +8 image pixels), then resize it by its bottom-right handle (-8, -8).
    ActionChains(browser).move_to_element(rect).click_and_hold().move_by_offset(
        int(4 * scale), int(4 * scale)
    ).move_by_offset(int(4 * scale), int(4 * scale)).release().perform()
    moved = css(browser, "#label-overlay rect.label-box")[0]
    got = [float(moved.get_attribute(a)) for a in ("x", "y", "width", "height")]
    assert np.allclose(got, [got[0], got[1], 40, 40], atol=0.5) and np.allclose(
        got[:2], [28, 32], atol=2.5
    ), got
    handle = css(browser, '#label-overlay .handle[data-corner="se"]')[0]
    ActionChains(browser).move_to_element(handle).click_and_hold().move_by_offset(
        int(-4 * scale), int(-4 * scale)
    ).move_by_offset(int(-4 * scale), int(-4 * scale)).release().perform()
    resized = css(browser, "#label-overlay rect.label-box")[0]
    got = [float(resized.get_attribute(a)) for a in ("x", "y", "width", "height")]
    assert np.allclose(got, [28, 32, 32, 32], atol=2.5), got

    # Images two and three: boxes typed in by keyboard.
    for index, box in ((1, (40, 10, 36, 36)), (2, (8, 50, 30, 30))):
        css(browser, "#label-images button")[index].click()
        wait_for(
            lambda i=index: css(browser, "#label-images button")[i].get_attribute("aria-pressed") == "true"
        )
        for field, value in zip(("box-x", "box-y", "box-w", "box-h"), box, strict=True):
            by_id(browser, field).clear()
            by_id(browser, field).send_keys(str(value))
        by_id(browser, "box-form").submit()
        wait_for(lambda b=box: css(browser, "#label-boxes li"), what="the typed box")
        x, y, w, h = box
        assert f"square: x {x}, y {y}, w {w}, h {h}" in by_id(browser, "label-boxes").text
    browser.save_screenshot(str(studio_server.artifacts / "studio-label.png"))

    by_id(browser, "dataset-save").click()
    wait_for(lambda: "Saved 'boxes'" in by_id(browser, "status").text, what="the save")
    coco = json.loads((studio_server.data_dir / "studio" / "boxes" / "annotations.json").read_text())
    assert len(coco["images"]) == 3 and [c["name"] for c in coco["categories"]] == ["square"]
    assert (
        sorted(a["bbox"] for a in coco["annotations"])[1] == [20, 24, 40, 40] or len(coco["annotations"]) == 3
    )
    registered = rest(studio_server, "/computervision/datasets/boxes?api-version=2023-02-01-preview")
    assert registered["annotationKind"] == "imageObjectDetection"
    assert registered["annotationFileUris"] == ["studio/boxes/annotations.json"]

    model = by_id(browser, "model-name")
    model.clear()
    model.send_keys("boxes-model")
    budget = by_id(browser, "budget")
    budget.clear()
    budget.send_keys("0.5")
    by_id(browser, "train-form").submit()
    wait_for(
        lambda: by_id(browser, "train-status").get_attribute("data-status") in {"succeeded", "failed"},
        timeout=240,
        what="the training to end",
    )
    assert by_id(browser, "train-status").get_attribute("data-status") == "succeeded", error_text(browser)
    wait_for(lambda: css(browser, "#performance table"), what="the evaluation")
    assert "square" in by_id(browser, "performance").text and "mAP" in by_id(browser, "performance").text
    pr = css(browser, '#performance svg path.pr[data-class="square"]')
    assert pr and pr[0].get_attribute("d").startswith("M0.00 "), "a PR curve per class"

    # Active learning: a fourth, unlabelled image is suggested; clicking it opens it for labelling.
    by_id(browser, "label-files").send_keys(
        str(png(tmp_path / "four.png", square((220, 30, 30), at=(30, 30, 30))))
    )
    wait_for(lambda: len(css(browser, "#label-images button")) == 4, what="4 images")
    by_id(browser, "suggest-form").submit()
    hit = wait_for(lambda: css(browser, "#suggestions button"), what="the suggestions")
    assert [b.get_attribute("data-file") for b in hit] == ["images/four.png"] and "uncertainty" in hit[0].text
    hit[0].click()
    wait_for(lambda: css(browser, "#label-images button")[3].get_attribute("aria-pressed") == "true")
    browser.set_window_size(1400, 1500)  # the whole page: images, boxes, training and its evaluation
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(studio_server.artifacts / "studio-train.png"))
    browser.set_window_size(1400, 1000)
    assert error_text(browser) == "" and console(browser) == []


def test_coco_import_names_missing_images(browser: Any, studio_server: Server, tmp_path: Path) -> None:
    open_studio(browser, studio_server, "label")
    name = by_id(browser, "dataset-name")
    name.clear()
    name.send_keys("imported")
    by_id(browser, "dataset-form").submit()
    wait_for(lambda: by_id(browser, "label-area").is_displayed(), what="the label area")
    console(browser)
    coco = {
        "images": [{"id": 1, "file_name": "images/absent.png", "width": 8, "height": 8}],
        "categories": [],
    }
    path = tmp_path / "import.json"
    path.write_text(json.dumps(coco))
    by_id(browser, "coco-import").send_keys(str(path))
    message = wait_for(lambda: error_text(browser), what="the import message")
    assert "absent.png" in message and "Upload these images" in message
