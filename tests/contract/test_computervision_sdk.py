"""``azure-cognitiveservices-vision-computervision`` (the Computer Vision 3.2 SDK) against ``imagelens serve``:
each operation from a stream and from a URL, as the SDK calls them (endpoint with a trailing slash)."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from PIL import Image

from ..conftest import SAMPLE_IMAGE
from .conftest import Server


@pytest.fixture(scope="module")
def cv(server: Server) -> Any:
    from azure.cognitiveservices.vision.computervision import ComputerVisionClient
    from msrest.authentication import CognitiveServicesCredentials

    return ComputerVisionClient(server.url + "/", CognitiveServicesCredentials(server.key))


def _stream() -> io.BytesIO:
    return io.BytesIO(SAMPLE_IMAGE.read_bytes())


def _url(server: Server) -> str:
    return f"{server.files_url}/sample.png"


def test_analyze_image(cv: Any, server: Server) -> None:
    from azure.cognitiveservices.vision.computervision.models import VisualFeatureTypes as V

    features = [V.tags, V.description, V.objects, V.faces, V.color]
    result = cv.analyze_image_in_stream(_stream(), visual_features=features, language="en")
    assert (
        result.description.captions and result.metadata.width == 1280 and result.color.is_bw_img is not None
    )
    assert result.model_version == "2026-12-01"
    from_url = cv.analyze_image(
        _url(server), visual_features=["Tags", "Objects"]
    )  # PascalCase, as Azure's docs
    assert from_url.tags is not None and from_url.objects is not None


def test_analyze_image_declines_celebrities_but_answers(cv: Any) -> None:
    from azure.cognitiveservices.vision.computervision.models import VisualFeatureTypes as V

    result = cv.analyze_image_in_stream(_stream(), visual_features=[V.tags], details=["Celebrities"])
    assert result.tags is not None and result.categories is None


def test_describe_tag_detect(cv: Any, server: Server) -> None:
    assert len(cv.describe_image_in_stream(_stream(), max_candidates=1).captions) == 1
    assert cv.describe_image(_url(server)).captions
    assert cv.tag_image_in_stream(_stream()).tags is not None
    assert cv.tag_image(_url(server)).tags is not None
    detected = cv.detect_objects_in_stream(_stream())
    assert detected.metadata.width == 1280
    for obj in detected.objects:
        parent = obj.parent
        while parent is not None:
            assert parent.confidence == pytest.approx(obj.confidence)
            parent = parent.parent
    assert cv.detect_objects(_url(server)).objects is not None


def _read(cv: Any, started: Any) -> Any:
    op_id = started.headers["Operation-Location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while True:
        result = cv.get_read_result(op_id)
        if result.status.lower() not in ("notstarted", "running") or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def _two_pages() -> list[Image.Image]:
    sample = Image.open(SAMPLE_IMAGE).convert("RGB")
    first = Image.new("RGB", sample.size)
    first.paste(sample)
    return [first, Image.new("RGB", (300, 200), "white")]


def test_read_image_pdf_and_tiff(cv: Any, server: Server) -> None:
    result = _read(
        cv, cv.read_in_stream(_stream(), raw=True, reading_order="natural", model_version="latest")
    )
    assert result.status.lower() == "succeeded" and result.analyze_result.read_results[0].width == 1280
    result = _read(cv, cv.read(_url(server), raw=True, language="en"))
    assert result.analyze_result.read_results[0].language == "en"
    pages = _two_pages()
    pdf = io.BytesIO()
    pages[0].save(pdf, "PDF", save_all=True, append_images=pages[1:], resolution=72.0)
    pdf.seek(0)
    result = _read(cv, cv.read_in_stream(pdf, raw=True, pages=["2"]))
    assert [(p.page, p.unit) for p in result.analyze_result.read_results] == [(2, "inch")]
    tiff, pages = io.BytesIO(), _two_pages()  # fresh images: Pillow keeps the PDF's save options on them
    pages[0].save(tiff, "TIFF", save_all=True, append_images=pages[1:])
    tiff.seek(0)
    result = _read(cv, cv.read_in_stream(tiff, raw=True))
    assert [p.page for p in result.analyze_result.read_results] == [1, 2]


def test_read_rejects_bad_parameters_before_accepting(cv: Any) -> None:
    from azure.cognitiveservices.vision.computervision.models import ComputerVisionOcrErrorException

    for kwargs in ({"model_version": "bogus"}, {"reading_order": "sideways"}, {"pages": ["x"]}):
        with pytest.raises(ComputerVisionOcrErrorException) as info:
            cv.read_in_stream(_stream(), raw=True, **kwargs)
        assert info.value.response.status_code == 400


def test_legacy_ocr(cv: Any, server: Server) -> None:
    assert cv.recognize_printed_text_in_stream(_stream(), detect_orientation=True).regions is not None
    assert cv.recognize_printed_text(_url(server), detect_orientation=True).language


def test_thumbnail_and_area_of_interest(cv: Any, server: Server) -> None:
    assert (
        b"".join(cv.generate_thumbnail_in_stream(64, 48, _stream(), smart_cropping=True))[:2] == b"\xff\xd8"
    )
    assert b"".join(cv.generate_thumbnail(32, 32, _url(server)))[:2] == b"\xff\xd8"
    assert cv.get_area_of_interest_in_stream(_stream()).area_of_interest.w > 0
    assert cv.get_area_of_interest(_url(server)).metadata.width == 1280


def test_domain_models(cv: Any, server: Server) -> None:
    from azure.cognitiveservices.vision.computervision.models import ComputerVisionErrorResponseException

    assert [m.name for m in cv.list_models().models_property] == ["landmarks"]
    celebrities = cv.analyze_image_by_domain_in_stream("celebrities", _stream())
    assert celebrities.result == {"celebrities": []}  # declined by design: never an identity
    assert cv.analyze_image_by_domain("celebrities", _url(server)).result == {"celebrities": []}
    with pytest.raises(ComputerVisionErrorResponseException) as info:
        cv.analyze_image_by_domain_in_stream("landmarks", _stream())
    assert info.value.response.status_code == 400
