"""3.2 ``visualFeatures=Brands`` over HTTP: Azure's shape, the brand list errors, real OCR on a rendered word."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFont

from imagelens.api.app import create_app
from imagelens.config import BrandSettings, HubSettings, Settings

OCTET = {"Content-Type": "application/octet-stream"}


def _png(text: str) -> bytes:
    font = ImageFont.load_default(size=48)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("RGB", (right - left + 120, bottom - top + 120), "white")
    ImageDraw.Draw(img).text((60 - left, 60 - top), text, fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _settings(tmp_path: Path, file: Path | None) -> Settings:
    return Settings(
        model_dir=tmp_path / "no-models", hub=HubSettings(offline=True), store_dir=tmp_path / "store",
        brands=BrandSettings(file=file),
    )  # fmt: skip


def test_v32_brands_shape(tmp_path: Path) -> None:
    file = tmp_path / "brands.txt"
    file.write_text("Heineken\nAdidas\n", encoding="utf-8")
    c = TestClient(create_app(_settings(tmp_path, file)))
    r = c.post("/vision/v3.2/analyze?visualFeatures=Brands", content=_png("HEINEKEN"), headers=OCTET)
    assert r.status_code == 200, r.text
    brands = r.json()["brands"]
    assert [b["name"] for b in brands] == ["Heineken"]
    assert set(brands[0]) == {"name", "confidence", "rectangle"}
    assert set(brands[0]["rectangle"]) == {"x", "y", "w", "h"} and 0.5 <= brands[0]["confidence"] <= 1
    assert all(isinstance(v, int) for v in brands[0]["rectangle"].values())


def test_v32_brands_without_a_list_or_with_a_missing_file(tmp_path: Path) -> None:
    for file, status in ((None, 400), (tmp_path / "missing.csv", 500)):
        c = TestClient(create_app(_settings(tmp_path, file)))
        r = c.post("/vision/v3.2/analyze?visualFeatures=Brands", content=_png("X"), headers=OCTET)
        assert r.status_code == status  # no list: not available here (400); a configured file missing: 500
        assert "IMAGELENS_BRANDS__FILE" in r.json()["error"]["message"]
