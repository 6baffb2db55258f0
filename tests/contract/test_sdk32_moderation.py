"""``azure-cognitiveservices-vision-computervision`` (3.2 SDK) ``analyze_image`` with ``VisualFeatureTypes.adult`` and
``image_type`` against ``imagelens serve`` (tiny random models: the SDK call works unchanged, the values are
shapes, not accuracy)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from ..conftest import SAMPLE_IMAGE
from .conftest import Server


@pytest.fixture(scope="module")
def cv(server: Server) -> Any:
    from azure.cognitiveservices.vision.computervision import ComputerVisionClient
    from msrest.authentication import CognitiveServicesCredentials

    return ComputerVisionClient(server.url + "/", CognitiveServicesCredentials(server.key))


def _check(result: Any) -> None:
    adult = result.adult
    assert isinstance(adult.is_adult_content, bool) and isinstance(adult.is_racy_content, bool)
    assert isinstance(adult.is_gory_content, bool)
    for score in (adult.adult_score, adult.racy_score, adult.gore_score):
        assert 0.0 <= score <= 1.0
    assert adult.is_adult_content == (adult.adult_score >= 0.5)  # the default threshold
    assert result.image_type.clip_art_type in (0, 1, 2, 3) and result.image_type.line_drawing_type in (0, 1)


def test_analyze_image_adult_and_image_type(cv: Any, server: Server) -> None:
    from azure.cognitiveservices.vision.computervision.models import VisualFeatureTypes

    features = [VisualFeatureTypes.adult, VisualFeatureTypes.image_type]
    _check(cv.analyze_image(f"{server.files_url}/sample.png", visual_features=features))
    in_stream = cv.analyze_image_in_stream(io.BytesIO(SAMPLE_IMAGE.read_bytes()), visual_features=features)
    _check(in_stream)
    assert in_stream.metadata.width == 1280 and in_stream.tags is None


def test_image_type_of_a_receipt_scan(cv: Any) -> None:
    from azure.cognitiveservices.vision.computervision.models import VisualFeatureTypes

    result = cv.analyze_image_in_stream(
        io.BytesIO(SAMPLE_IMAGE.read_bytes()), visual_features=[VisualFeatureTypes.image_type]
    )
    assert result.adult is None and result.image_type is not None
