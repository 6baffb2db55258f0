"""The studio's server side without a browser: the page and its assets (open, shipped in the package), the open
``/studio/api/info`` built from the feature registry, and the key-protected helpers for labelling."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from imagelens.api import studio
from imagelens.api.app import create_app
from imagelens.config import HubSettings, Settings
from imagelens.features.registry import FEATURE_LIST

KEY = {"Ocp-Apim-Subscription-Key": "k1"}
V = "api-version=2023-02-01-preview"
WEB = resources.files("imagelens").joinpath("web")


def _png(size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size + 4, 3), 90, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture()
def client(tiny_model_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "data").mkdir()
    settings = Settings(
        model_dir=tiny_model_dir,
        hub=HubSettings(offline=True),
        data_dir=tmp_path / "data",
        store_dir=tmp_path / "store",
        api_keys="k1",
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_the_page_and_its_assets_are_open_and_allow_no_other_origin(client: TestClient) -> None:
    r = client.get("/studio")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    for name, media_type in studio.ASSETS.items():
        r = client.get(f"/studio/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"] == media_type, name
    assert client.get("/studio/static/studio.html").status_code == 404
    assert client.get("/studio/static/..%2Fstudio.py").status_code == 404


def test_every_file_the_page_loads_is_served_and_shipped() -> None:
    """No CDN: every src/href/import in the page is a /studio/static/ asset; every web/ file is flat (the
    package-data glob "web/*" ships it) and listed."""
    html = WEB.joinpath("studio.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(r.startswith("/studio/static/") or r in ("#main", "data:,") for r in refs), refs
    for name in studio.ASSETS:
        if name.endswith(".js"):
            for imported in re.findall(r'from "\./([^"]+)"', WEB.joinpath(name).read_text()):
                assert imported in studio.ASSETS, (name, imported)
            assert "http://" not in WEB.joinpath(name).read_text().replace("http://www.w3.org/2000/svg", "")
    shipped = {p.name for p in WEB.iterdir() if p.is_file() and not p.name.startswith("__")}
    assert shipped == set(studio.ASSETS) | {"studio.html"}
    assert not [p for p in WEB.iterdir() if p.is_dir() and p.name != "__pycache__"]


def test_info_is_open_and_lists_every_registry_feature(client: TestClient) -> None:
    body = client.get("/studio/api/info").json()
    assert [f["name"] for f in body["features"]] == [f.name for f in FEATURE_LIST]
    assert all(f["surface"] in {"v40", "v32"} for f in body["features"])  # each one can be tried
    assert {f["name"] for f in body["features"] if f["surface"] == "v32"} == {
        "faces",
        "color",
        "categories",
        "adult",
        "brands",
        "imageType",
        "landmarks",
    }
    assert body["keyRequired"] is True and body["dataDir"] is True and body["maxBytes"] > 0


def test_the_helpers_need_the_key(client: TestClient) -> None:
    r = client.get("/studio/api/datasets/d/coco")
    assert r.status_code == 401 and r.json()["error"]["code"] == "401"
    assert client.get("/studio/api/datasets/d/coco", headers=KEY).json() == {
        "images": [],
        "annotations": [],
        "categories": [],
    }


def test_images_and_coco_make_a_dataset_the_azure_route_accepts(client: TestClient, tmp_path: Path) -> None:
    r = client.put("/studio/api/datasets/d/images/a.png", content=_png(), headers=KEY)
    assert r.status_code == 200 and r.json() == {"file_name": "images/a.png", "width": 20, "height": 16}
    assert client.get("/studio/api/datasets/d/images/a.png", headers=KEY).content == _png()
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 16}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 8, 9]}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    r = client.put("/studio/api/datasets/d/coco", json=coco, headers=KEY)
    assert r.status_code == 200 and r.json() == {
        "annotationFileUri": "studio/d/annotations.json",
        "images": 1,
    }
    saved = json.loads((tmp_path / "data" / "studio" / "d" / "annotations.json").read_text())
    assert saved["images"][0]["file_name"] == "images/a.png"  # normalised
    assert client.get("/studio/api/datasets/d/coco", headers=KEY).json() == saved
    body = {"annotationKind": "imageObjectDetection", "annotationFileUris": [studio.annotation_uri("d")]}
    r = client.put(f"/computervision/datasets/d?{V}", json=body, headers=KEY)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("path", "content", "status", "inner"),
    [
        ("/studio/api/datasets/d/images/a.png", b"not an image", 400, "InvalidImageFormat"),
        ("/studio/api/datasets/d/images/a.exe", None, 400, "BadArgument"),
        ("/studio/api/datasets/d/images/.hidden.png", None, 400, "BadArgument"),
        ("/studio/api/datasets/bad%20name/images/a.png", None, 400, "BadArgument"),
        ("/studio/api/datasets/d/coco", b"{not json", 400, "BadArgument"),
        ("/studio/api/datasets/d/coco", b'{"images": [{"id": 1, "file_name": "gone.png"}], "categories": []}', 400,
         "BadArgument"),
    ],
)  # fmt: skip
def test_bad_uploads_are_azure_errors(
    client: TestClient, path: str, content: bytes | None, status: int, inner: str
) -> None:
    r = client.put(path, content=content if content is not None else _png(), headers=KEY)
    assert r.status_code == status and r.json()["error"]["innererror"]["code"] == inner, r.text
    if path.endswith("coco") and b"gone" in (content or b""):
        assert "gone.png" in r.json()["error"]["message"]


def test_labelling_without_a_data_folder_says_how_to_set_one(tiny_model_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=tiny_model_dir, hub=HubSettings(offline=True)))) as c:
        assert c.get("/studio/api/info").json()["dataDir"] is False
        r = c.put("/studio/api/datasets/d/images/a.png", content=_png())
        assert r.status_code == 400 and "IMAGELENS_DATA_DIR" in r.json()["error"]["message"]


def test_model_detail_of_an_unknown_model_is_404(client: TestClient) -> None:
    r = client.get("/studio/api/models/absent", headers=KEY)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
