"""The Computer Vision 3.2 SDK, unchanged, against ``imagelens serve``: the default feature (Categories),
``details=["Landmarks"]``, the landmarks domain model and ``list_models``. The session server has no landmark file;
the landmarks come from the user's additions in its store folder (re-read without a restart) and are removed after."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from imagelens.config import Settings

from ..conftest import SAMPLE_IMAGE
from .conftest import Server


@pytest.fixture(scope="module")
def cv(server: Server) -> Any:
    from azure.cognitiveservices.vision.computervision import ComputerVisionClient
    from msrest.authentication import CognitiveServicesCredentials

    return ComputerVisionClient(server.url + "/", CognitiveServicesCredentials(server.key))


@pytest.fixture()
def added_landmarks(server: Server) -> Iterator[list[str]]:
    from imagelens.features.landmark_list import add_landmarks, remove_landmarks

    settings = Settings(store_dir=server.data_dir.parent / "store")  # the server's IMAGELENS_STORE_DIR
    names = ["Eiffel Tower", "Big Ben"]
    add_landmarks(settings, names)
    try:
        yield names
    finally:
        remove_landmarks(settings, names)


def _stream() -> io.BytesIO:
    return io.BytesIO(SAMPLE_IMAGE.read_bytes())


def test_default_analysis_is_categories(cv: Any, server: Server) -> None:
    from azure.cognitiveservices.vision.computervision.models import VisualFeatureTypes as V

    result = cv.analyze_image_in_stream(_stream())  # no visual_features: Azure's default, Categories
    assert result.categories is not None and result.tags is None
    assert all(0.0 <= c.score <= 1.0 for c in result.categories)
    named = cv.analyze_image(f"{server.files_url}/sample.png", visual_features=[V.categories])
    assert named.categories is not None and named.metadata.width == 1280


def test_landmarks_detail_domain_model_and_list(cv: Any, added_landmarks: list[str]) -> None:
    from azure.cognitiveservices.vision.computervision.models import VisualFeatureTypes as V

    result = cv.analyze_image_in_stream(_stream(), visual_features=[V.categories], details=["Landmarks"])
    assert result.categories is not None
    for category in result.categories:
        for landmark in (category.detail.landmarks or []) if category.detail else []:
            assert landmark.name in added_landmarks and 0.0 <= landmark.confidence <= 1.0
    domain = cv.analyze_image_by_domain_in_stream("landmarks", _stream())
    assert set(domain.result) == {"landmarks"}
    assert {lm["name"] for lm in domain.result["landmarks"]} <= set(added_landmarks)
    assert domain.metadata.width == 1280
    models = cv.list_models().models_property
    assert [(m.name, m.categories) for m in models] == [("landmarks", ["outdoor_", "building_"])]
