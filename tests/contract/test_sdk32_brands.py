"""The 3.2 SDK's ``analyze_image_in_stream(visual_features=[brands])`` against the live server, unchanged.

The session server has no brand file; a user addition in its store dir (what ``imagelens brands add`` writes) is the
brand list, read per request."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from .conftest import Server


@pytest.fixture()
def cv(server: Server) -> Any:
    from azure.cognitiveservices.vision.computervision import ComputerVisionClient
    from msrest.authentication import CognitiveServicesCredentials

    return ComputerVisionClient(server.url, CognitiveServicesCredentials(server.key))


def _word_image(text: str) -> io.BytesIO:
    font = ImageFont.load_default(size=48)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("RGB", (right - left + 120, bottom - top + 120), "white")
    ImageDraw.Draw(img).text((60 - left, 60 - top), text, fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    buf.seek(0)
    return buf


def test_sdk32_brands(cv: Any, server: Server) -> None:
    from azure.cognitiveservices.vision.computervision.models import VisualFeatureTypes as V

    store = server.data_dir.parent / "store" / "brands"
    store.mkdir(parents=True, exist_ok=True)
    (store / "brands.json").write_text(json.dumps({"added": ["Heineken"], "removed": []}), encoding="utf-8")
    try:
        result = cv.analyze_image_in_stream(_word_image("HEINEKEN"), visual_features=[V.brands])
    finally:
        (store / "brands.json").unlink()
    assert result.brands, "the printed brand name is found"
    names = [b.name for b in result.brands]
    assert "Heineken" in names
    brand = result.brands[names.index("Heineken")]
    assert 0 <= brand.confidence <= 1 and brand.rectangle.w > 0 and brand.rectangle.h > 0
