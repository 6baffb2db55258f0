"""``imagelens stitch | rectify | planogram`` in-process (typer's runner): outputs, JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from imagelens.cli import app
from imagelens.geometry import apply_homography

from .conftest import cut_tiles, synthetic_texture, warp_onto_background

runner = CliRunner()


def _save(path: Path, array: np.ndarray) -> str:
    Image.fromarray(array).save(path)
    return str(path)


def test_stitch_writes_the_image_and_reports_inputs(tmp_path: Path) -> None:
    tiles, _, _ = cut_tiles(synthetic_texture(300, 700, seed=11), cols=3, rows=1, overlap=0.4, seed=11)
    paths = [_save(tmp_path / f"t{k}.png", t) for k, t in enumerate(tiles)]
    out = tmp_path / "shelf.jpg"
    result = runner.invoke(app, ["stitch", *paths, "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["usedIndices"] == [0, 1, 2] and summary["used"] == paths
    with Image.open(out) as im:
        assert im.format == "JPEG"
        assert (im.width, im.height) == (summary["width"], summary["height"])
        assert abs(im.width - 700) <= 3


def test_stitch_one_image_exits_2(tmp_path: Path) -> None:
    path = _save(tmp_path / "a.png", synthetic_texture(100, 100, seed=1))
    result = runner.invoke(app, ["stitch", path, "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2
    assert "BadArgument" in result.stderr and "at least 2 images" in result.stderr


def test_stitch_unknown_extension_exits_2(tmp_path: Path) -> None:
    tiles, _, _ = cut_tiles(synthetic_texture(300, 700, seed=12), cols=2, rows=1, overlap=0.5, seed=12)
    paths = [_save(tmp_path / f"t{k}.png", t) for k, t in enumerate(tiles)]
    result = runner.invoke(app, ["stitch", *paths, "-o", str(tmp_path / "o.xyz")])
    assert result.exit_code == 2 and ".xyz" in result.stderr


def test_rectify_given_and_detected_corners(tmp_path: Path) -> None:
    doc = np.clip(150 + synthetic_texture(300, 200, seed=3).astype(np.int16) // 3, 0, 255).astype(np.uint8)
    image, corners, _ = warp_onto_background(doc, 3)
    src = _save(tmp_path / "warped.png", image)
    h, w = image.shape[:2]
    norm = (corners / np.array([w, h])).ravel()
    given = tmp_path / "given.png"
    result = runner.invoke(
        app, ["rectify", src, "--corners", ",".join(f"{v:.6f}" for v in norm), "-o", str(given), "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["detected"] is False
    assert body["controlPoints"]["topLeft"]["x"] == pytest.approx(norm[0], abs=1e-6)
    auto = tmp_path / "auto.png"
    result = runner.invoke(app, ["rectify", src, "-o", str(auto), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["detected"] is True
    found = np.array(
        [
            [body["controlPoints"][k]["x"] * w, body["controlPoints"][k]["y"] * h]
            for k in ("topLeft", "topRight", "bottomRight", "bottomLeft")
        ]
    )
    assert np.linalg.norm(found - corners, axis=1).max() < 2.0
    with Image.open(given) as a, Image.open(auto) as b:
        assert abs(a.width - b.width) <= 3 and abs(a.height - b.height) <= 3


def test_rectify_bad_corners_exit_2(tmp_path: Path) -> None:
    src = _save(tmp_path / "a.png", synthetic_texture(100, 100, seed=1))
    result = runner.invoke(
        app, ["rectify", src, "--corners", "0.1,0.1,0.9,0.1,0.1,0.9,0.9,0.9", "-o", str(tmp_path / "o.png")]
    )
    assert result.exit_code == 2 and "crosses itself" in result.stderr


def _plan_files(tmp_path: Path) -> tuple[Path, Path]:
    plan = {
        "width": 30.0,
        "height": 10.0,
        "products": [
            {"id": "a", "name": "A", "w": 10.0, "h": 10.0},
            {"id": "b", "name": "B", "w": 10.0, "h": 10.0},
        ],
        "fixtures": [{"id": "f", "w": 30.0, "h": 1.0, "x": 0.0, "y": 9.0}],
        "positions": [
            {"id": str(k), "productId": "ab"[k % 2], "fixtureId": "f", "x": 10.0 * k, "y": 0.0}
            for k in range(3)
        ],
    }
    dets = {
        "imageMetadata": {"width": 300, "height": 100},
        "products": [
            {
                "id": "x",
                "boundingBox": {"x": 2, "y": 1, "w": 96, "h": 98},
                "tags": [{"name": "a", "confidence": 0.9}],
            },
            {
                "id": "y",
                "boundingBox": {"x": 101, "y": 0, "w": 97, "h": 100},
                "tags": [{"name": "a", "confidence": 0.8}],
            },
        ],
    }
    p, d = tmp_path / "plan.json", tmp_path / "dets.json"
    p.write_text(json.dumps(plan))
    d.write_text(json.dumps(dets))
    return p, d


def test_planogram_json_is_the_azure_response(tmp_path: Path) -> None:
    plan, dets = _plan_files(tmp_path)
    result = runner.invoke(app, ["planogram", "--planogram", str(plan), "--detections", str(dets), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    states = [(r["positionId"], r["state"]) for r in body["matchingResultPerPosition"]]
    assert states == [("0", "matched"), ("1", "misplaced"), ("2", "gap")]
    assert body["matchedResultsPerPosition"] == body["matchingResultPerPosition"]


def test_planogram_annotates_with_image(tmp_path: Path) -> None:
    plan, dets = _plan_files(tmp_path)
    image = _save(tmp_path / "shelf.png", np.zeros((100, 300, 3), np.uint8))
    out = tmp_path / "annotated.png"
    result = runner.invoke(
        app,
        [
            "planogram",
            "--planogram",
            str(plan),
            "--detections",
            str(dets),
            "--image",
            image,
            "--annotate",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 matched, 1 misplaced, 1 gaps" in result.stdout
    with Image.open(out) as im:
        assert im.size == (300, 100)


def test_planogram_malformed_exits_2(tmp_path: Path) -> None:
    plan, dets = _plan_files(tmp_path)
    body = json.loads(plan.read_text())
    body["positions"][1]["productId"] = "zzz"
    plan.write_text(json.dumps(body))
    result = runner.invoke(app, ["planogram", "--planogram", str(plan), "--detections", str(dets)])
    assert result.exit_code == 2 and "positions[1].productId" in result.stderr
    plan.write_text("{not json")
    result = runner.invoke(app, ["planogram", "--planogram", str(plan), "--detections", str(dets)])
    assert result.exit_code == 2 and "not readable JSON" in result.stderr


def test_planogram_needs_an_image_size(tmp_path: Path) -> None:
    plan, dets = _plan_files(tmp_path)
    body = json.loads(dets.read_text())
    del body["imageMetadata"]
    dets.write_text(json.dumps(body))
    result = runner.invoke(app, ["planogram", "--planogram", str(plan), "--detections", str(dets)])
    assert result.exit_code == 2 and "image size is unknown" in result.stderr
    result = runner.invoke(
        app,
        [
            "planogram",
            "--planogram",
            str(plan),
            "--detections",
            str(dets),
            "--width",
            "300",
            "--height",
            "100",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output


def test_apply_homography_is_what_the_cli_reports() -> None:
    """The CLI's corner JSON and the library's homography agree (guards the continuous-coordinate convention)."""
    from imagelens.shelf.rectify import ControlPoints, rectify

    image = np.zeros((100, 200, 3), np.uint8)
    cps = ControlPoints((0.1, 0.1), (0.9, 0.2), (0.8, 0.9), (0.2, 0.8))
    result = rectify(image, cps)
    h, w = result.image.shape[:2]
    assert np.allclose(
        apply_homography(result.homography, cps.to_pixels(200, 100)), [[0, 0], [w, 0], [w, h], [0, h]]
    )


# --- rectify without a shelf ---------------------------------------------------------------------------------------


def test_rectify_without_a_shelf_fails_and_writes_nothing(tmp_path: Path) -> None:
    """Auto-detection on a photo with no shelf outline used to write a warped blob and exit 0."""
    src = _save(tmp_path / "texture.png", synthetic_texture(300, 400, seed=1))
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["rectify", src, "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "no shelf or document edge found" in result.stderr and "TL,TR,BR,BL" in result.stderr
    assert not out.exists()
    # The message's corners are in --corners form, and --min-support 0 takes the candidate with a warning.
    corners = result.stderr.split("normalized to [0, 1] are ")[1].split(";")[0]
    forced = runner.invoke(app, ["rectify", src, "-o", str(out), "--min-support", "0", "--json"])
    assert forced.exit_code == 0, forced.output
    assert "warning: no clear shelf edge" in forced.stderr
    body = json.loads(forced.stdout)
    assert body["detected"] is True and min(body["edgeSupport"]) < 0.3 and out.exists()
    found = [
        body["controlPoints"][k][a]
        for k in ("topLeft", "topRight", "bottomRight", "bottomLeft")
        for a in "xy"
    ]
    assert np.allclose(found, [float(v) for v in corners.split(",")], atol=1e-3)


# --- products --json | planogram: the chain a user builds -----------------------------------------------------------


PLAN = {  # a 300 x 100 image: 10 px per unit; positions 0 and 2 expect "a", position 1 expects "b"
    "width": 30.0,
    "height": 10.0,
    "products": [
        {"id": "a", "name": "Cola", "w": 10.0, "h": 10.0},
        {"id": "b", "name": "Lemonade", "w": 10.0, "h": 10.0},
    ],
    "fixtures": [{"id": "f", "w": 30.0, "h": 1.0, "x": 0.0, "y": 9.0}],
    "positions": [
        {"id": str(k), "productId": "aba"[k], "fixtureId": "f", "x": 10.0 * k, "y": 0.0} for k in range(3)
    ],
}


def test_products_json_feeds_planogram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``imagelens products --json`` then ``imagelens planogram --detections`` on its output: the labels asked for
    with ``--prompt LABEL=...`` are the product names the planogram matches (they used to come out as ``None``
    and match 0 %)."""
    from imagelens.models.hub import ModelHub

    from .conftest import FakeDetector, detections

    found = detections(  # "a" where "a" belongs, "a" where "b" belongs, nothing at position 2
        [[2, 1, 98, 99], [101, 0, 198, 100], [140, 20, 160, 40]], [0.9, 0.8, 0.7], ["a", "a", "c"]
    )
    fake = FakeDetector(found, by_label=True)
    monkeypatch.setattr(ModelHub, "open_vocab_detector", lambda self, model_id=None: fake)
    image = _save(tmp_path / "shelf.png", np.zeros((100, 300, 3), np.uint8))
    run = runner.invoke(
        app, ["products", image, "--json", "--prompt", "a=a can of cola", "--prompt", "b=lemonade"]
    )
    assert run.exit_code == 0, run.output
    assert fake.calls == [(["a=a can of cola", "b=lemonade"], None, (100, 300, 3))]
    dets = tmp_path / "products.json"
    dets.write_text(run.stdout)
    assert [p["classifications"][0]["label"] for p in json.loads(run.stdout)["products"]] == ["a", "a"]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    match = runner.invoke(app, ["planogram", "--planogram", str(plan), "--detections", str(dets), "--json"])
    assert match.exit_code == 0, match.output
    states = [(r["positionId"], r["state"]) for r in json.loads(match.stdout)["matchingResultPerPosition"]]
    assert states == [("0", "matched"), ("1", "misplaced"), ("2", "gap")]
    text = runner.invoke(app, ["planogram", "--planogram", str(plan), "--detections", str(dets)])
    assert text.exit_code == 0 and "1 matched, 1 misplaced, 1 gaps" in text.stdout
    assert "1: a instead of b" in text.stdout and "None" not in text.stdout


def test_products_json_feeds_planogram_with_the_tiny_model(
    owl_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same chain through the real model path (tiny random OWLv2): a planogram whose positions are where the
    model put its products, under the prompt's label, matches every position."""
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(owl_dir))
    monkeypatch.setenv("IMAGELENS_HUB__OFFLINE", "true")
    image = _save(
        tmp_path / "shelf.png", np.random.default_rng(3).integers(0, 256, (90, 240, 3), dtype=np.uint8)
    )
    run = runner.invoke(
        app, ["products", image, "--json", "--prompt", "cola=a can of cola", "--threshold", "0"]
    )
    assert run.exit_code == 0, run.output
    body = json.loads(run.stdout)
    products = body["products"][:3]
    assert products and all(p["classifications"][0]["label"] == "cola" for p in products)
    plan = {
        "width": 240.0,
        "height": 90.0,
        "products": [{"id": f"s{k}", "name": "cola", "w": p["boundingBox"]["w"], "h": p["boundingBox"]["h"]}
                     for k, p in enumerate(products)],
        "fixtures": [{"id": "f", "w": 240.0, "h": 1.0, "x": 0.0, "y": 89.0}],
        "positions": [{"id": str(k), "productId": f"s{k}", "fixtureId": "f", "x": p["boundingBox"]["x"],
                       "y": p["boundingBox"]["y"]} for k, p in enumerate(products)],
    }  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "products.json").write_text(run.stdout)
    match = runner.invoke(app, ["planogram", "--planogram", str(tmp_path / "plan.json"),
                                "--detections", str(tmp_path / "products.json"), "--json"])  # fmt: skip
    assert match.exit_code == 0, match.output
    assert {r["state"] for r in json.loads(match.stdout)["matchingResultPerPosition"]} == {"matched"}
