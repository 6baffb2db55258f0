"""The HTTP route (Azure's shape), ``imagelens remove-bg`` and ``imagelens eval segment``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import MINI79, encode, person_image, real_model_dir

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

URL = "/computervision/imageanalysis:segment"
Q = {"api-version": "2023-02-01-preview"}


@pytest.fixture()
def client(seg_settings: object) -> TestClient:
    from imagelens.api.app import create_app

    with TestClient(create_app(seg_settings)) as c:  # type: ignore[arg-type]
        yield c


def _post(client: TestClient, data: bytes, **query: str) -> object:
    return client.post(
        URL, params={**Q, **query}, content=data, headers={"content-type": "application/octet-stream"}
    )


def test_background_removal_answers_an_rgba_png(client: TestClient) -> None:
    r = _post(client, encode(Image.fromarray(person_image()), "JPEG"), mode="backgroundRemoval")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    png = Image.open(io.BytesIO(r.content))
    assert png.format == "PNG" and png.mode == "RGBA" and png.size == (160, 120)


def test_foreground_matting_answers_a_greyscale_png_the_input_size(client: TestClient) -> None:
    r = _post(client, encode(Image.fromarray(person_image(90, 70)), "PNG"), mode="foregroundMatting")
    png = Image.open(io.BytesIO(r.content))
    assert r.status_code == 200 and png.mode == "L" and png.size == (90, 70)


@pytest.mark.parametrize(
    "query,inner",
    [
        ({}, "BadArgument"),  # mode is required
        ({"mode": "blur"}, "BadArgument"),
        ({"mode": "backgroundRemoval", "model": "yunet-2023mar"}, "BadArgument"),
    ],
)
def test_bad_parameters_get_azures_error_body(client: TestClient, query: dict[str, str], inner: str) -> None:
    r = _post(client, encode(Image.fromarray(person_image()), "PNG"), **query)
    body = r.json()
    assert r.status_code == 400 and body["error"]["code"] == "InvalidRequest"
    assert body["error"]["innererror"]["code"] == inner and body["error"]["message"]


def test_an_unknown_api_version_is_azures_404(client: TestClient) -> None:
    r = _post(
        client,
        encode(Image.fromarray(person_image()), "PNG"),
        mode="backgroundRemoval",
        **{"api-version": "2024-02-01"},
    )
    assert r.status_code == 404 and r.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_bad_images_get_azures_error_body(client: TestClient) -> None:
    r = _post(client, b"not an image at all", mode="backgroundRemoval")
    assert r.status_code == 400 and r.json()["error"]["innererror"]["code"] == "InvalidImageFormat"
    wide = encode(Image.new("RGB", (16000, 60)), "PNG")
    r = _post(client, wide, mode="backgroundRemoval")
    assert r.status_code == 400 and r.json()["error"]["innererror"]["code"] == "InvalidImageSize"


def test_the_route_is_described_in_openapi(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"][URL]["post"]
    names = {p["name"] for p in op["parameters"]}
    assert {"api-version", "mode"} <= names and "image/png" in op["responses"]["200"]["content"]


def _cli(args: list[str], settings_dir: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    from typer.testing import CliRunner

    from imagelens.cli import app

    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(settings_dir))
    monkeypatch.setenv("IMAGELENS_HUB__OFFLINE", "true")
    return CliRunner().invoke(app, args)


def test_remove_bg_batch_writes_one_png_per_input_and_reports_bad_ones(
    tmp_path: Path, seg_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, bad = tmp_path / "a.jpg", tmp_path / "sub" / "a.png", tmp_path / "bad.jpg"
    b.parent.mkdir()
    Image.fromarray(person_image()).save(a)
    Image.fromarray(person_image(seed=2)).save(b)
    bad.write_bytes(b"nope")
    out = tmp_path / "out"
    r = _cli(["remove-bg", str(a), str(b), str(bad), "-o", str(out), "--json"], seg_model_dir, monkeypatch)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert r.exit_code == 2, r.output
    assert sorted(p.name for p in out.iterdir()) == ["a-2.png", "a.png"]  # same stem: no overwrite
    with Image.open(out / "a.png") as cut:
        assert cut.mode == "RGBA"
    assert rows[2]["error"] == "InvalidImageFormat"
    r = _cli(["remove-bg", str(a), "-o", str(out), "--matte", "--width", "80"], seg_model_dir, monkeypatch)
    assert r.exit_code == 0, r.output
    with Image.open(out / "a.png") as matte:
        assert matte.mode == "L" and matte.size == (80, 60)


def test_remove_bg_refuses_bad_options_and_unknown_models(
    tmp_path: Path, seg_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    img = tmp_path / "a.png"
    Image.fromarray(person_image()).save(img)
    r = _cli(["remove-bg", str(img), "--matte", "--mask"], seg_model_dir, monkeypatch)
    assert r.exit_code == 2 and "exclude" in r.output
    r = _cli(["remove-bg", str(img), "--background", "#zz"], seg_model_dir, monkeypatch)
    assert r.exit_code == 2
    r = _cli(["remove-bg", str(img), "--model", "nope"], seg_model_dir, monkeypatch)
    assert r.exit_code == 2 and "Unknown model" in r.output


def _mini_coco(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    Image.fromarray(person_image(160, 120)).save(root / "images" / "1.jpg")
    Image.fromarray(person_image(160, 120, seed=3)).save(root / "images" / "2.jpg")
    disc = [40, 20, 120, 20, 120, 100, 40, 100]
    coco = {
        "images": [
            {"id": 1, "file_name": "1.jpg", "width": 160, "height": 120},
            {"id": 2, "file_name": "2.jpg", "width": 160, "height": 120},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [disc],
                "area": 6400,
                "bbox": [40, 20, 80, 80],
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 2,
                "category_id": 18,
                "segmentation": [disc],
                "area": 6400,
                "bbox": [40, 20, 80, 80],
                "iscrowd": 0,
            },
        ],
    }
    (root / "annotations" / "instances_val.json").write_text(json.dumps(coco))
    return root


def test_eval_segment_prints_both_figures_and_writes_a_grid(
    tmp_path: Path, seg_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pycocotools")
    data = _mini_coco(tmp_path / "coco")
    grid = tmp_path / "grid.png"
    r = _cli(
        ["eval", "segment", "--data", str(data), "--grid", str(grid), "--json"], seg_model_dir, monkeypatch
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["feature"] == "segment" and report["n"] == 2  # the shape of every `imagelens eval FEATURE`
    assert report["metrics"]["person_images"] == 1 and report["metrics"]["salient_images"] == 2
    assert 0.0 <= report["metrics"]["mIoU"] <= 1.0
    with Image.open(grid) as img:
        assert img.mode == "RGB" and img.size[1] >= 2 * 160
    r = _cli(["eval", "segment", "--data", str(tmp_path)], seg_model_dir, monkeypatch)
    assert r.exit_code == 2


@pytest.mark.realdata
@pytest.mark.slow
def test_real_selfie_person_miou_on_coco_mini79(tmp_path: Path) -> None:
    """The figure the issue states (about 0.59 on persons >= 5 % of the frame); measured here 0.600 (guided)."""
    pytest.importorskip("pycocotools")
    if not MINI79.is_dir():
        pytest.skip(f"not present: {MINI79}")
    from imagelens.analyzer import Analyzer
    from imagelens.config import HubSettings, Settings
    from imagelens.segment.evaluate import evaluate_coco

    analyzer = Analyzer(Settings(model_dir=real_model_dir(tmp_path), hub=HubSettings(offline=True)))
    report = evaluate_coco(analyzer, MINI79, refine="none")
    assert report["person"]["images"] == 22
    assert 0.55 <= report["person"]["miou"] <= 0.65
    assert np.isfinite(report["salient"]["miou"])
