"""Products and gaps: detector boxes to Azure's product recognition result, the run store, the ``products`` CLI,
and the tiny OWLv2 model end to end (contracts, not accuracy)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from imagelens.annotate import annotate_products
from imagelens.azure.analysis import box_json
from imagelens.azure.shelf import parse_detections, parse_planogram, product_recognition_json
from imagelens.config import HubSettings, Settings
from imagelens.detections import Detections
from imagelens.errors import ConflictError, InvalidArgumentError, NotFoundError
from imagelens.models.hub import ModelHub
from imagelens.models.roles import OpenVocabDetector, missing_members
from imagelens.shelf.compliance import match_planogram
from imagelens.shelf.products import (
    GAP_LABEL,
    ProductRecognitionResult,
    products_from_detections,
    recognize_products,
)
from imagelens.shelf.runs import ProductRunStore
from imagelens.types import BoundingBox

from .conftest import FakeDetector, detections

MODEL_ID = "owlv2-base-patch16-ensemble"


def two_shelves() -> Detections:
    """Two rows of 40 px wide products in a 300 x 200 image: the top row has a 40 px hole after its second product
    and 60 px empty at its right end; the bottom row has a 20 px hole (half a product) and is full to the right."""
    top = [(10, 10, 50, 90), (50, 10, 90, 90), (130, 10, 170, 90), (170, 12, 210, 90), (200, 10, 240, 88)]
    bottom = [(0, 110, 40, 190), (40, 110, 80, 190), (100, 110, 140, 190), (140, 110, 180, 190),
              (180, 110, 220, 190), (220, 110, 260, 190), (260, 110, 300, 190)]  # fmt: skip
    boxes = np.asarray(top + bottom, dtype=np.float64)
    scores = np.linspace(0.9, 0.3, len(boxes))
    return detections(boxes, scores, [("bottle", "can")[k % 2] for k in range(len(boxes))])


# --- products and gaps from boxes ---------------------------------------------------------------------------------


def test_products_keep_the_detector_boxes_labels_and_scores() -> None:
    dets = two_shelves()
    result = products_from_detections(dets, 300, 200)
    assert [p.id for p in result.products] == [str(k) for k in range(len(dets.boxes))]
    np.testing.assert_allclose([p.box.xyxy() for p in result.products], dets.boxes)
    assert [p.tags[0].name for p in result.products] == list(dets.names)
    np.testing.assert_allclose([p.tags[0].confidence for p in result.products], dets.scores)


def test_gaps_between_products_and_at_row_ends_with_their_confidence() -> None:
    result = products_from_detections(two_shelves(), 300, 200)
    boxes = [g.box.xyxy() for g in result.gaps]
    # top row: the 40 px hole (one product wide, confidence 1), the 60 px end (capped at 1), and the 10 px start is
    # too small; bottom row: the 20 px hole is exactly half a product (confidence 0.5).
    np.testing.assert_allclose([b[0] for b in boxes], [90, 240, 80])
    np.testing.assert_allclose([b[2] for b in boxes], [130, 300, 100])
    assert [g.tags[0].name for g in result.gaps] == [GAP_LABEL] * 3
    np.testing.assert_allclose([g.tags[0].confidence for g in result.gaps], [1.0, 1.0, 0.5])
    n = len(result.products)
    assert [g.id for g in result.gaps] == [str(n), str(n + 1), str(n + 2)]  # one id space, as Azure's
    without_ends = products_from_detections(two_shelves(), 300, 200, row_ends=False)
    assert [g.box.x for g in without_ends.gaps] == [90, 80]
    stricter = products_from_detections(two_shelves(), 300, 200, min_gap_fraction=0.75)
    assert [g.box.x for g in stricter.gaps] == [90, 240]


def test_no_products_means_no_gaps_and_bad_inputs_are_refused() -> None:
    empty = Detections.empty(("product",))
    result = products_from_detections(empty, 64, 64)
    assert result.products == () and result.gaps == ()
    assert product_recognition_json(result) == {
        "imageMetadata": {"width": 64, "height": 64},
        "products": [],
        "gaps": [],
    }
    # The one Detections type refuses mismatched columns and out-of-range scores before they reach the shelf code.
    with pytest.raises(ValueError, match="boxes must have shape"):
        detections(np.zeros((2, 4)), np.zeros(1), ["a"])
    with pytest.raises(ValueError, match="scores"):
        detections(np.asarray([[0, 0, 5, 5.0]]), np.asarray([1.5]), ["a"])
    with pytest.raises(InvalidArgumentError, match="width and height"):
        products_from_detections(empty, 0, 10)


def test_azure_shape_is_the_product_recognition_result() -> None:
    body = product_recognition_json(products_from_detections(two_shelves(), 300, 200))
    assert set(body) == {"imageMetadata", "products", "gaps"}
    assert body["imageMetadata"] == {"width": 300, "height": 200}
    for item in body["products"] + body["gaps"]:
        assert set(item) == {"id", "boundingBox", "classifications"}
        assert set(item["boundingBox"]) == {"x", "y", "w", "h"}
        assert all(isinstance(v, int) for v in item["boundingBox"].values())
        assert [set(c) for c in item["classifications"]] == [{"confidence", "label"}]
    assert {c["label"] for g in body["gaps"] for c in g["classifications"]} == {GAP_LABEL}
    assert json.loads(json.dumps(body)) == body


def test_wire_box_rounds_corners_and_stays_inside() -> None:
    """Product boxes go out through the one box-to-JSON, :func:`imagelens.azure.analysis.box_json`."""
    assert box_json(BoundingBox(10.4, 20.6, 10.2, 10.2), 100, 100) == {"x": 10, "y": 21, "w": 11, "h": 10}
    assert box_json(BoundingBox(95.0, 95.0, 10.0, 10.0), 100, 100) == {"x": 95, "y": 95, "w": 5, "h": 5}
    result = products_from_detections(detections([[10.4, 20.6, 20.6, 30.8]], [0.5], ["a"]), 100, 100)
    assert product_recognition_json(result)["products"][0]["boundingBox"] == {
        "x": 10,
        "y": 21,
        "w": 11,
        "h": 10,
    }


def test_recognize_products_passes_prompts_and_threshold_and_uses_original_pixels() -> None:
    detector = FakeDetector(two_shelves())
    assert missing_members(FakeDetector, OpenVocabDetector) == []  # the fake satisfies the role's Protocol
    image = np.zeros((200, 300, 3), np.uint8)
    result = recognize_products(image, detector, prompts=["a jar"], threshold=0.3)
    assert detector.calls == [(["a jar"], 0.3, (200, 300, 3))]
    assert (result.width, result.height) == (300, 200)
    with pytest.raises(InvalidArgumentError, match="uint8 RGB"):
        recognize_products(np.zeros((200, 300), np.uint8), detector)


def test_result_feeds_planogram_matching() -> None:
    result = products_from_detections(two_shelves(), 300, 200)
    plan = {
        "width": 300, "height": 200,
        "products": [{"id": "bottle", "name": "bottle", "w": 40, "h": 80}],
        "fixtures": [{"id": "f1", "x": 0, "y": 0, "w": 300, "h": 100}],
        "positions": [{"id": "p1", "productId": "bottle", "fixtureId": "f1", "x": 10, "y": 10},
                      {"id": "p2", "productId": "bottle", "fixtureId": "f1", "x": 90, "y": 10}],
    }  # fmt: skip
    direct = match_planogram(parse_planogram(plan), result.products, (300, 200))
    assert [p.state for p in direct.positions] == ["matched", "gap"]
    via_wire = parse_detections(json.loads(json.dumps(product_recognition_json(result))))
    assert via_wire.image_size == (300, 200)
    assert [d.label for d in via_wire.products] == list(two_shelves().names)
    assert [
        p.state for p in match_planogram(parse_planogram(plan), via_wire, via_wire.image_size).positions
    ] == [
        "matched",
        "gap",
    ]


def test_annotate_outlines_products_and_shades_gaps() -> None:
    result = products_from_detections(two_shelves(), 300, 200)
    image = np.full((200, 300, 3), 128, np.uint8)
    out = annotate_products(image, result)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (image == 128).all()  # the input is untouched
    red = out[50, 110]  # inside the top row's gap
    assert red[0] > 128 > red[1]
    assert tuple(out[60, 30]) == (128, 128, 128)  # inside a product, away from its outline and label
    assert tuple(out[10, 30]) == (40, 180, 70)  # on a product's top edge: green
    with pytest.raises(InvalidArgumentError):
        annotate_products(np.zeros((5, 5)), result)


def test_result_validates_its_size() -> None:
    with pytest.raises(InvalidArgumentError):
        ProductRecognitionResult(0, 10, (), ())


# --- the run store ------------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_runs_lifecycle_conflict_and_not_found() -> None:
    clock = Clock()
    store = ProductRunStore(ttl_s=100, max_runs=10, clock=clock)
    run = store.create("m", "r1")
    assert (run.status, run.created, run.result) == ("notStarted", 1000.0, None)
    with pytest.raises(ConflictError):
        store.create("m", "r1")
    with pytest.raises(ConflictError):
        store.ensure_free("m", "r1")
    store.ensure_free("other-model", "r1")  # names are per model
    clock.now = 1001.0
    store.mark_running("m", "r1")
    assert store.get("m", "r1").status == "running"
    store.succeed("m", "r1", {"products": []})
    done = store.get("m", "r1")
    assert (done.status, done.result, done.updated) == ("succeeded", {"products": []}, 1001.0)
    assert run.status == "notStarted"  # snapshots never change under the reader
    store.create("m", "r2")
    store.fail("m", "r2", {"code": "InvalidRequest"})
    assert store.get("m", "r2").error == {"code": "InvalidRequest"}
    store.delete("m", "r1")
    with pytest.raises(NotFoundError):
        store.get("m", "r1")
    with pytest.raises(NotFoundError):
        store.delete("m", "r1")
    store.succeed("m", "r1", {})  # a worker finishing after a delete does not bring the run back
    with pytest.raises(NotFoundError):
        store.get("m", "r1")


def test_runs_expire_and_are_bounded() -> None:
    clock = Clock()
    store = ProductRunStore(ttl_s=100, max_runs=3, clock=clock)
    for k in range(4):
        store.create("m", f"r{k}")
    assert len(store) == 3
    with pytest.raises(NotFoundError):
        store.get("m", "r0")  # the oldest went first
    clock.now += 101
    assert len(store) == 0


@pytest.mark.parametrize("name", ["", "a b", "a/b", "x" * 256, "tab\there"], ids=repr)
def test_run_names_are_checked(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        ProductRunStore().create("m", name)


# --- the tiny model end to end, and the CLI -----------------------------------------------------------------------


def test_tiny_model_products_in_original_pixels(owl_dir: Path) -> None:
    hub = ModelHub(Settings(model_dir=owl_dir, hub=HubSettings(offline=True)))
    image = np.random.default_rng(1).integers(0, 256, (90, 240, 3), dtype=np.uint8)
    result = recognize_products(image, hub.open_vocab_detector(), threshold=0.0)
    assert (result.width, result.height) == (240, 90)
    assert result.products
    for det in result.products + result.gaps:
        assert 0 <= det.box.x < det.box.x2 <= 240 and 0 <= det.box.y < det.box.y2 <= 90
    body = product_recognition_json(result)
    assert {c["label"] for p in body["products"] for c in p["classifications"]} <= {
        "product", "bottle", "box", "can", "package"
    }  # fmt: skip
    again = recognize_products(image, hub.open_vocab_detector(MODEL_ID), threshold=0.0)
    assert product_recognition_json(again) == body  # deterministic
    hub.close()


def test_products_cli_json_and_annotation(
    owl_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from PIL import Image
    from typer.testing import CliRunner

    from imagelens.cli import products

    app = typer.Typer()
    products.register(app)
    app.command("noop")(lambda: None)  # two commands: typer keeps "products" as a sub-command name
    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(owl_dir))
    monkeypatch.setenv("IMAGELENS_HUB__OFFLINE", "true")
    source = tmp_path / "shelf.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (80, 200, 3), dtype=np.uint8)).save(source)
    picture = tmp_path / "annotated.png"
    runner = CliRunner()
    result = runner.invoke(
        app, ["products", str(source), "--json", "--annotate", str(picture), "--threshold", "0"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["imageMetadata"] == {"width": 200, "height": 80}
    assert len(body["products"]) > 0
    with Image.open(io.BytesIO(picture.read_bytes())) as im:
        assert im.size == (200, 80)
    text = runner.invoke(app, ["products", str(source), "--prompt", "jar=a jar", "--threshold", "0"])
    assert text.exit_code == 0 and "jar" in text.stdout and "products" in text.stdout
    bad = runner.invoke(app, ["products", str(source), "--threshold", "2"])
    assert bad.exit_code == 2 and "threshold" in bad.output
