"""``azure-ai-vision-imageanalysis`` (the Image Analysis 4.0 SDK) against ``imagelens serve``, called as the SDK's
own samples call it. The endpoint is given with a trailing slash, as the Azure portal shows it (the SDK then sends
``//computervision/...``), and features are also passed as Azure's docs spell them (PascalCase)."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import SAMPLE_IMAGE
from .conftest import Server

IMAGE = SAMPLE_IMAGE.read_bytes()


def _client(server: Server, key: str | None = None, trailing_slash: bool = True) -> Any:
    from azure.ai.vision.imageanalysis import ImageAnalysisClient
    from azure.core.credentials import AzureKeyCredential

    endpoint = server.url + ("/" if trailing_slash else "")
    return ImageAnalysisClient(endpoint=endpoint, credential=AzureKeyCredential(key or server.key))


@pytest.mark.parametrize("trailing_slash", [True, False])
def test_analyze_every_feature_from_bytes(server: Server, trailing_slash: bool) -> None:
    from azure.ai.vision.imageanalysis.models import VisualFeatures

    result = _client(server, trailing_slash=trailing_slash).analyze(
        image_data=IMAGE,
        visual_features=list(VisualFeatures),
        smart_crops_aspect_ratios=[0.9, 1.33],
        gender_neutral_caption=True,
        language="en",
        model_version="latest",
    )
    assert (result.metadata.width, result.metadata.height) == (1280, 720)
    assert result.model_version == "2026-12-01"
    for block in (result.caption, result.dense_captions, result.objects, result.people, result.read,
                  result.smart_crops, result.tags):  # fmt: skip
        assert block is not None
    assert [round(c.aspect_ratio, 2) for c in result.smart_crops.list] == [0.9, 1.33]


def test_analyze_from_url(server: Server) -> None:
    from azure.ai.vision.imageanalysis.models import VisualFeatures

    result = _client(server).analyze_from_url(
        image_url=f"{server.files_url}/sample.png", visual_features=[VisualFeatures.TAGS, VisualFeatures.READ]
    )
    assert result.tags is not None and result.read is not None and result.caption is None


def test_pascal_case_feature_names(server: Server) -> None:
    result = _client(server).analyze(
        image_data=IMAGE, visual_features=["Caption", "SmartCrops", "DenseCaptions"]
    )
    assert result.caption is not None and result.smart_crops is not None and result.dense_captions is not None


def test_errors_are_the_sdks_exceptions(server: Server) -> None:
    from azure.ai.vision.imageanalysis.models import VisualFeatures
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    with pytest.raises(ClientAuthenticationError) as auth:
        _client(server, key="wrong").analyze(image_data=IMAGE, visual_features=[VisualFeatures.TAGS])
    assert auth.value.response.headers["WWW-Authenticate"].startswith("AzureApiManagementKey")
    for kwargs, inner in [
        ({"image_data": b"not an image", "visual_features": [VisualFeatures.TAGS]}, "InvalidImageFormat"),
        (
            {"image_data": IMAGE, "visual_features": [VisualFeatures.CAPTION], "language": "xx"},
            "NotSupportedLanguage",
        ),
        (
            {"image_data": IMAGE, "visual_features": [VisualFeatures.TAGS], "model_version": "v2"},
            "BadArgument",
        ),
    ]:
        with pytest.raises(HttpResponseError) as info:
            _client(server).analyze(**kwargs)
        assert info.value.status_code == 400 and inner in str(info.value)
