"""Microsoft's own clients against a live imagelens server on loopback (tiny random models)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelens.api.app import create_app
from imagelens.config import Settings

from ..conftest import SAMPLE_IMAGE
from .conftest import live_server

KEY = "test-key-123"


@pytest.fixture()
def endpoint(tiny_settings: Settings) -> Iterator[str]:
    settings = tiny_settings.model_copy(update={"api_keys": KEY, "allow_private_urls": True})
    with live_server(create_app(settings)) as base:
        yield base


def test_image_analysis_sdk_from_bytes_and_url(endpoint: str, file_server: tuple[str, Path]) -> None:
    from azure.ai.vision.imageanalysis import ImageAnalysisClient
    from azure.ai.vision.imageanalysis.models import VisualFeatures
    from azure.core.credentials import AzureKeyCredential

    sdk = ImageAnalysisClient(endpoint=endpoint, credential=AzureKeyCredential(KEY))
    result = sdk.analyze(
        image_data=SAMPLE_IMAGE.read_bytes(),
        visual_features=[VisualFeatures.READ, VisualFeatures.SMART_CROPS],
        smart_crops_aspect_ratios=[0.9, 1.33],
        gender_neutral_caption=True,
    )
    assert (result.metadata.width, result.metadata.height) == (1280, 720)
    assert result.read is not None and len(result.read.blocks) == 1
    assert [round(c.aspect_ratio, 2) for c in result.smart_crops.list] == [0.9, 1.33]
    assert result.caption is None and result.tags is None

    base, folder = file_server
    (folder / "sample.png").write_bytes(SAMPLE_IMAGE.read_bytes())
    result = sdk.analyze_from_url(image_url=f"{base}/sample.png", visual_features=[VisualFeatures.SMART_CROPS])
    assert result.smart_crops is not None and len(result.smart_crops.list) == 1


def test_image_analysis_sdk_errors(endpoint: str) -> None:
    from azure.ai.vision.imageanalysis import ImageAnalysisClient
    from azure.ai.vision.imageanalysis.models import VisualFeatures
    from azure.core.credentials import AzureKeyCredential
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    wrong = ImageAnalysisClient(endpoint=endpoint, credential=AzureKeyCredential("wrong"))
    with pytest.raises(ClientAuthenticationError):
        wrong.analyze(image_data=SAMPLE_IMAGE.read_bytes(), visual_features=[VisualFeatures.READ])
    sdk = ImageAnalysisClient(endpoint=endpoint, credential=AzureKeyCredential(KEY))
    with pytest.raises(HttpResponseError) as info:
        sdk.analyze(image_data=SAMPLE_IMAGE.read_bytes(), visual_features=["Read"])  # case-sensitive
    assert info.value.status_code == 400
    assert info.value.error.code == "InvalidRequest"
    with pytest.raises(HttpResponseError) as info:
        sdk.analyze(image_data=b"not an image", visual_features=[VisualFeatures.READ])
    assert info.value.status_code == 400


def test_computer_vision_sdk_read_thumbnail_aoi(endpoint: str) -> None:
    from azure.cognitiveservices.vision.computervision import ComputerVisionClient
    from msrest.authentication import CognitiveServicesCredentials

    cv = ComputerVisionClient(endpoint, CognitiveServicesCredentials(KEY))
    with SAMPLE_IMAGE.open("rb") as fh:
        started = cv.read_in_stream(fh, raw=True)
    op_id = started.headers["Operation-Location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while True:
        result = cv.get_read_result(op_id)
        if result.status.lower() not in ("notstarted", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert result.status.lower() == "succeeded"
    assert result.analyze_result.read_results[0].width == 1280

    with SAMPLE_IMAGE.open("rb") as fh:
        chunks = cv.generate_thumbnail_in_stream(64, 48, fh, smart_cropping=True)
    data = b"".join(chunks)
    assert data[:2] == b"\xff\xd8"  # JPEG

    with SAMPLE_IMAGE.open("rb") as fh:
        aoi = cv.get_area_of_interest_in_stream(fh)
    assert aoi.area_of_interest.w > 0 and aoi.metadata.width == 1280
