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
        visual_features=list(VisualFeatures),  # every 4.0 feature
        smart_crops_aspect_ratios=[0.9, 1.33],
        gender_neutral_caption=True,
        language="en",
    )
    assert (result.metadata.width, result.metadata.height) == (1280, 720)
    assert result.read is not None and len(result.read.blocks) == 1
    assert [round(c.aspect_ratio, 2) for c in result.smart_crops.list] == [0.9, 1.33]
    assert result.caption is not None and 0.0 <= result.caption.confidence <= 1.0
    dense = result.dense_captions.list
    assert 1 <= len(dense) <= 10
    assert (dense[0].bounding_box.width, dense[0].bounding_box.height) == (1280, 720)  # first = whole image
    assert result.tags is not None and result.objects is not None and result.people is not None
    for obj in result.objects.list:
        assert len(obj.tags) == 1 and obj.bounding_box.x + obj.bounding_box.width <= 1280
    confidences = [p.confidence for p in result.people.list]
    assert confidences == sorted(confidences, reverse=True)

    only_caption = sdk.analyze(image_data=SAMPLE_IMAGE.read_bytes(), visual_features=[VisualFeatures.CAPTION])
    assert only_caption.read is None and only_caption.tags is None and only_caption.caption is not None

    base, folder = file_server
    (folder / "sample.png").write_bytes(SAMPLE_IMAGE.read_bytes())
    result = sdk.analyze_from_url(
        image_url=f"{base}/sample.png", visual_features=[VisualFeatures.SMART_CROPS]
    )
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
    # Azure's docs write feature names in PascalCase; like Azure, any case works
    pascal = sdk.analyze(image_data=SAMPLE_IMAGE.read_bytes(), visual_features=["Read", "SmartCrops"])
    assert pascal.read is not None and pascal.smart_crops is not None
    with pytest.raises(HttpResponseError) as info:
        sdk.analyze(image_data=SAMPLE_IMAGE.read_bytes(), visual_features=["Reed"])
    assert info.value.status_code == 400
    assert info.value.error.code == "InvalidRequest"
    with pytest.raises(HttpResponseError) as info:
        sdk.analyze(image_data=b"not an image", visual_features=[VisualFeatures.READ])
    assert info.value.status_code == 400
    with pytest.raises(HttpResponseError) as info:
        sdk.analyze(
            image_data=SAMPLE_IMAGE.read_bytes(), visual_features=[VisualFeatures.CAPTION], language="xx"
        )
    assert info.value.status_code == 400 and "NotSupportedLanguage" in str(info.value)


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


def test_computer_vision_sdk_describe_tag_detect_analyze(endpoint: str) -> None:
    from azure.cognitiveservices.vision.computervision import ComputerVisionClient
    from azure.cognitiveservices.vision.computervision.models import (
        ComputerVisionErrorResponseException,
        VisualFeatureTypes,
    )
    from msrest.authentication import CognitiveServicesCredentials

    cv = ComputerVisionClient(endpoint, CognitiveServicesCredentials(KEY))

    def stream():  # each call consumes its stream
        return SAMPLE_IMAGE.open("rb")

    with stream() as fh:
        described = cv.describe_image_in_stream(fh, max_candidates=1)
    assert len(described.captions) == 1 and 0.0 <= described.captions[0].confidence <= 1.0
    with stream() as fh:
        tagged = cv.tag_image_in_stream(fh)
    assert all(0.0 <= t.confidence <= 1.0 for t in tagged.tags)
    with stream() as fh:
        detected = cv.detect_objects_in_stream(fh)
    assert detected.metadata.width == 1280
    for obj in detected.objects:
        assert obj.rectangle.x + obj.rectangle.w <= 1280 and obj.object_property
    with stream() as fh:
        analysis = cv.analyze_image_in_stream(
            fh,
            visual_features=[
                VisualFeatureTypes.tags,
                VisualFeatureTypes.description,
                VisualFeatureTypes.objects,
                VisualFeatureTypes.faces,
            ],
        )
    assert analysis.description.captions and analysis.metadata.height == 720
    for face in analysis.faces:
        assert face.age is None and face.gender is None  # boxes only, never identity, age or gender
    with stream() as fh:  # celebrities: declined by design, the rest of the request still answered
        declined = cv.analyze_image_in_stream(
            fh, visual_features=[VisualFeatureTypes.tags], details=["Celebrities"]
        )
    assert declined.tags is not None and declined.categories is None
    with stream() as fh, pytest.raises(ComputerVisionErrorResponseException) as info:
        cv.analyze_image_in_stream(fh, visual_features=[VisualFeatureTypes.brands])
    assert info.value.response.status_code == 400
