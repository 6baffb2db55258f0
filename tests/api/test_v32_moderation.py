"""3.2 ``visualFeatures=Adult,ImageType`` over HTTP (tiny random models: shapes, not accuracy), and the moderation
gate's answers on 3.2 and 4.0."""

from __future__ import annotations

import io

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from imagelens.api.app import create_app
from imagelens.config import ModerationSettings, Settings

V32 = "/vision/v3.2/analyze"
V40 = "/computervision/imageanalysis:analyze?api-version=2023-10-01"
OCTET = {"content-type": "application/octet-stream"}


def _png() -> bytes:
    """A photo-like picture: shading plus grain (no flat regions)."""
    y, x = np.mgrid[0:120, 0:160]
    grain = np.random.default_rng(0).normal(0, 14, (120, 160, 3))
    rgb = np.clip(np.stack([x, y, (x + y) / 2], axis=-1) + 40 + grain, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _client(settings: Settings, **moderation: object) -> TestClient:
    if moderation:
        settings = settings.model_copy(update={"moderation": ModerationSettings(**moderation)})  # type: ignore[arg-type]
    return TestClient(create_app(settings))


def test_adult_and_image_type_in_azure_shapes(tiny_settings: Settings) -> None:
    r = _client(tiny_settings).post(f"{V32}?visualFeatures=Adult,ImageType", content=_png(), headers=OCTET)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body["adult"]) == [
        "isAdultContent", "isRacyContent", "isGoryContent", "adultScore", "racyScore", "goreScore",
    ]  # fmt: skip
    adult = body["adult"]
    assert all(0.0 <= adult[k] <= 1.0 for k in ("adultScore", "racyScore", "goreScore"))
    assert adult["isAdultContent"] == (adult["adultScore"] >= 0.5)
    assert body["imageType"] == {"clipArtType": 0, "lineDrawingType": 0}  # a grainy picture is no drawing
    assert "warnings" not in body and {"requestId", "metadata", "modelVersion"} <= set(body)


def test_operator_thresholds_set_the_booleans(tiny_settings: Settings) -> None:
    c = _client(tiny_settings, adult_threshold=0.0, racy_threshold=1.0, gore_threshold=0.0)
    adult = c.post(f"{V32}?visualFeatures=adult", content=_png(), headers=OCTET).json()["adult"]
    assert adult["isAdultContent"] is True and adult["isGoryContent"] is True
    assert adult["isRacyContent"] is (adult["racyScore"] >= 1.0)


def test_gate_withholds_the_rest_with_a_warning(tiny_settings: Settings) -> None:
    c = _client(tiny_settings, gate=True, adult_threshold=0.0)
    r = c.post(f"{V32}?visualFeatures=Color,ImageType&details=Celebrities", content=_png(), headers=OCTET)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "color" not in body and "imageType" not in body
    assert body["adult"]["isAdultContent"] is True  # the reason, though Adult was not asked for
    codes = [w["code"] for w in body["warnings"]]
    assert codes == ["CelebrityRecognitionDeclined", "ContentWithheldByModeration"]
    r40 = c.post(f"{V40}&features=tags", content=_png(), headers=OCTET)
    assert r40.status_code == 200, r40.text
    body40 = r40.json()
    assert "tagsResult" not in body40 and body40["warnings"][0]["code"] == "ContentWithheldByModeration"
    assert body40["adultResult"]["isAdult"] is True


def test_gate_open_answers_everything(tiny_settings: Settings) -> None:
    c = _client(tiny_settings, gate=True, adult_threshold=1.0, gore_threshold=1.0)
    body = c.post(f"{V32}?visualFeatures=Color", content=_png(), headers=OCTET).json()
    assert "color" in body and "warnings" not in body and "adult" not in body


def test_ocr_and_read_are_not_gated(tiny_settings: Settings) -> None:
    c = _client(tiny_settings, gate=True, adult_threshold=0.0)
    r = c.post("/vision/v3.2/ocr", content=_png(), headers=OCTET)
    assert r.status_code == 200, r.text
    assert "regions" in r.json()
