"""Customization and product-recognition lists: ``$skip``/``$top`` (capped) with a ``Link: rel="next"`` while more
follow; ``If-Match`` on dataset updates and deletes; the ``Product-Recognizer`` model kind; PascalCase planogram
keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from imagelens.api.app import create_app
from imagelens.api.routes import customization
from imagelens.azure import customization as wire
from imagelens.azure.shelf import camel_keys
from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError

from ..customize.test_training_data import make_settings, write_classification, write_detection
from .test_routes import assert_azure_error

V = "api-version=2023-02-01-preview"
DATASETS = "/computervision/datasets"


@pytest.fixture()
def client(tiny_model_dir: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = make_settings(tiny_model_dir, tmp_path)
    app = create_app(settings)  # type: ignore[arg-type]
    yield TestClient(app), settings  # type: ignore[misc]
    customization.stop(app)


def test_paging_helpers() -> None:
    assert wire.paging({}) == (0, wire.MAX_TOP)
    assert wire.paging({"$skip": "2", "$top": "5000"}) == (2, wire.MAX_TOP)  # capped
    for bad in ({"$skip": "-1"}, {"$top": "0"}, {"$top": "x"}):
        with pytest.raises(InvalidArgumentError):
            wire.paging(bad)
    assert wire.page_of(list(range(5)), 1, 2) == ([1, 2], True)
    assert wire.page_of(list(range(5)), 4, 2) == ([4], False)
    link = wire.next_link("http://h/computervision/datasets?api-version=x&$skip=0&$top=2", 0, 2)
    assert link == "http://h/computervision/datasets?api-version=x&$skip=2&$top=2"


def test_dataset_lists_page_and_if_match(client: tuple[TestClient, Settings]) -> None:
    c, settings = client
    assert settings.data_dir is not None
    coco = write_classification(settings.data_dir / "colours", per_class=2)
    for name in ("a", "b", "c"):
        body = {"annotationKind": "imageClassification", "annotationFileUris": [coco.as_uri()]}
        assert c.put(f"{DATASETS}/{name}?{V}", json=body).status_code == 200
    # a client paging with $skip ends: every name once, then an empty page
    seen, skip = [], 0
    while True:
        r = c.get(f"{DATASETS}?{V}&$skip={skip}&$top=2")
        page = r.json()
        if not page:
            break
        seen += [d["name"] for d in page]
        skip += 2
        assert ("link" in r.headers) == (skip < 3)
    assert seen == ["a", "b", "c"]
    r = c.get(f"{DATASETS}?{V}&$top=2")
    assert r.headers["link"].endswith('rel="next"') and "%24skip=2" not in r.headers["link"]
    assert "$skip=2" in r.headers["link"]
    # If-Match: the current ETag passes, a stale one is a 412, * always passes
    etag = c.get(f"{DATASETS}/a?{V}").headers["etag"]
    assert etag == c.get(f"{DATASETS}/a?{V}").json()["eTag"]
    r = c.patch(f"{DATASETS}/a?{V}", json={"customProperties": {"k": "v"}}, headers={"If-Match": '"stale"'})
    assert_azure_error(r, 412, "PreconditionFailed")
    r = c.patch(f"{DATASETS}/a?{V}", json={"customProperties": {"k": "v"}}, headers={"If-Match": etag})
    assert r.status_code == 200
    assert_azure_error(
        c.delete(f"{DATASETS}/b?{V}", headers={"If-Match": '"stale"'}), 412, "PreconditionFailed"
    )
    assert c.delete(f"{DATASETS}/b?{V}", headers={"If-Match": "*"}).status_code == 204


def test_product_recognizer_kind_is_accepted(client: tuple[TestClient, Settings]) -> None:
    c, settings = client
    assert settings.data_dir is not None
    coco = write_detection(settings.data_dir / "shelf")
    body = {"annotationKind": "imageObjectDetection", "annotationFileUris": [coco.as_uri()]}
    assert c.put(f"{DATASETS}/shelf?{V}", json=body).status_code == 200
    model = {"TrainingParameters": {"TrainingDatasetName": "shelf", "TimeBudgetInHours": 1,
                                    "ModelKind": "Product-Recognizer"}}  # fmt: skip
    r = c.put(f"/computervision/models/pr?{V}", json=model)
    assert r.status_code == 200, r.text
    assert r.json()["trainingParameters"]["modelKind"] == "Product-Recognizer"
    c.post(f"/computervision/models/pr:cancel?{V}")
    # a Product-Recognizer needs an object-detection dataset, like a Generic-Detector
    cls = write_classification(settings.data_dir / "cls", per_class=2)
    body = {"annotationKind": "imageClassification", "annotationFileUris": [cls.as_uri()]}
    assert c.put(f"{DATASETS}/cls?{V}", json=body).status_code == 200
    model["TrainingParameters"]["TrainingDatasetName"] = "cls"  # type: ignore[index]
    assert_azure_error(c.put(f"/computervision/models/pr2?{V}", json=model), 400, "BadArgument")


def test_product_recognition_runs_are_listed(client: tuple[TestClient, Settings]) -> None:
    c, _ = client
    runs = "/computervision/productrecognition/ms-pretrained-product-detection/runs"
    r = c.get(f"{runs}?api-version=2023-04-01-preview")
    assert r.status_code == 200 and r.json() == []
    other = "/computervision/productrecognition/other/runs?api-version=2023-04-01-preview"
    assert_azure_error(c.get(other), 404, "NotFound")


def test_planogram_keys_may_be_pascal_case() -> None:
    body = {
        "DetectedProducts": {"ImageMetadata": {"Width": 10}},
        "Planogram": {"Positions": [{"ProductId": "p"}]},
    }
    assert camel_keys(body) == {
        "detectedProducts": {"imageMetadata": {"width": 10}},
        "planogram": {"positions": [{"productId": "p"}]},
    }
