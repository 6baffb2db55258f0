"""``imagelens eval ...`` and ``imagelens dataset ...`` through typer's test runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from imagelens.cli import dataset as dataset_cli
from imagelens.cli import evaluate as evaluate_cli
from imagelens.customize.metrics import evaluate_coco_classification, evaluate_coco_detection


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()
    evaluate_cli.register(app)
    dataset_cli.register(app)
    return app


def _run(app: typer.Typer, *args: str) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def _write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj))
    return path


DET_GT = {
    "images": [{"id": 1}, {"id": 2}],
    "categories": [{"id": 1, "name": "RBC"}, {"id": 2, "name": "WBC"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0},
    ],
}
DET_PRED = [
    {"image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 10], "score": 0.9},
    {"image_id": 2, "category_id": 2, "bbox": [40, 40, 5, 5], "score": 0.8},
    {"image_id": 2, "category_id": 2, "bbox": [5, 6, 20, 20], "score": 0.3},
]


def test_eval_detection_json_equals_the_library(app: typer.Typer, tmp_path: Path) -> None:
    gt, pred = _write(tmp_path / "gt.json", DET_GT), _write(tmp_path / "pred.json", DET_PRED)
    result = _run(
        app,
        "eval",
        "detection",
        "--ground-truth",
        gt,
        "--predictions",
        pred,
        "--json",
        "--plots",
        tmp_path / "plots",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    expected = evaluate_coco_detection(DET_GT, DET_PRED)
    for key in ("map30", "map50", "map75", "map50_95"):
        assert out[key] == pytest.approx(getattr(expected, key))
    assert [c["name"] for c in out["per_class"]] == ["RBC", "WBC"]
    assert all(Path(p).is_file() for p in out["plots"]) and len(out["plots"]) == 2


def test_eval_detection_table(app: typer.Typer, tmp_path: Path) -> None:
    gt, pred = _write(tmp_path / "gt.json", DET_GT), _write(tmp_path / "pred.json", DET_PRED)
    result = _run(app, "eval", "detection", "-g", gt, "-p", pred)
    assert result.exit_code == 0, result.output
    assert "RBC" in result.stdout and "AP50:95" in result.stdout and "mean" in result.stdout


def test_eval_bad_input_exits_2_with_the_reason(app: typer.Typer, tmp_path: Path) -> None:
    gt = _write(tmp_path / "gt.json", DET_GT)
    bad = _write(
        tmp_path / "pred.json", [{"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]
    )
    result = _run(app, "eval", "detection", "-g", gt, "-p", bad)
    assert result.exit_code == 2 and "not in the ground truth" in result.stderr
    (tmp_path / "broken.json").write_text("[{")
    result = _run(app, "eval", "detection", "-g", gt, "-p", tmp_path / "broken.json")
    assert result.exit_code == 2 and "not valid JSON" in result.stderr
    result = _run(app, "eval", "classification", "-g", tmp_path / "missing.json", "-p", gt)
    assert result.exit_code == 2 and "not found" in result.stderr


CLS_GT = {
    "images": [{"id": 1}, {"id": 2}, {"id": 3}],
    "categories": [{"id": 1, "name": "lemon"}, {"id": 2, "name": "lime"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1},
        {"id": 2, "image_id": 2, "category_id": 2},
        {"id": 3, "image_id": 3, "category_id": 2},
    ],
}
CLS_PRED = [
    {"image_id": 1, "scores": {"lemon": 0.8, "lime": 0.2}},
    {"image_id": 2, "scores": {"1": 0.6, "2": 0.4}},
    {"image_id": 3, "category_id": 2, "score": 0.7},
]


def test_eval_classification_json_and_table(app: typer.Typer, tmp_path: Path) -> None:
    gt, pred = _write(tmp_path / "gt.json", CLS_GT), _write(tmp_path / "pred.json", CLS_PRED)
    result = _run(
        app, "eval", "classification", "-g", gt, "-p", pred, "--json", "--plots", tmp_path / "plots"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    expected = evaluate_coco_classification(CLS_GT, CLS_PRED)
    assert out["accuracy_top1"] == pytest.approx(2 / 3) == expected.accuracy_top1
    assert out["accuracy_top5"] == 1.0 and out["calibration_ece"] == pytest.approx(expected.calibration_ece)
    assert [c["name"] for c in out["per_class"]] == ["lemon", "lime"]
    assert len(out["plots"]) == 3
    table = _run(app, "eval", "classification", "-g", gt, "-p", pred)
    assert table.exit_code == 0 and "lime" in table.stdout and "ECE" in table.stdout


def _dataset(tmp_path: Path, write_image: Callable[..., Path], broken: bool = False) -> Path:
    root = tmp_path / "ds"
    for name in ("a", "b"):
        write_image(root / "img" / f"{name}.png", 40, 30)
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [35 if broken else 5, 5, 10, 10], "iscrowd": 0},
    ]
    coco = {
        "images": [
            {"id": 1, "file_name": "img/a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "img/b.png"},
        ],
        "categories": [{"id": 1, "name": "spot"}],
        "annotations": anns,
    }
    return _write(root / "coco.json", coco)


def test_dataset_validate_ok_and_broken(
    app: typer.Typer, tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    good = _run(app, "dataset", "validate", _dataset(tmp_path / "1", write_image))
    assert good.exit_code == 0 and "no problems found" in good.stdout
    bad = _run(app, "dataset", "validate", _dataset(tmp_path / "2", write_image, broken=True), "--json")
    assert bad.exit_code == 2 and "box_out_of_bounds" in bad.stderr
    report = json.loads(bad.stdout)["report"]
    assert report["errors"] == 1 and report["issues"][0]["annotation_id"] == 2


def test_dataset_import_split_export(
    app: typer.Typer, tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    src = _dataset(tmp_path, write_image)
    imported = _run(app, "dataset", "import", src, "--output", tmp_path / "copy")
    assert imported.exit_code == 0, imported.output
    copy = json.loads((tmp_path / "copy" / "annotations.json").read_text())
    assert copy["images"][1]["width"] == 40 and (tmp_path / "copy" / "images" / "img" / "b.png").is_file()
    split = _run(app, "dataset", "split", tmp_path / "copy", "--output", tmp_path / "split", "--json")
    assert split.exit_code == 0, split.output
    parts = json.loads(split.stdout)
    assert parts["train"]["images"] + parts["val"]["images"] == 2 and parts["val"]["images"] == 1
    exported = _run(app, "dataset", "export", src, "--output", tmp_path / "azure.json", "--to", "normalized")
    assert exported.exit_code == 0, exported.output
    boxes = [a["bbox"] for a in json.loads((tmp_path / "azure.json").read_text())["annotations"]]
    assert boxes[0] == pytest.approx([1 / 40, 1 / 30, 10 / 40, 10 / 30])
    wrong = _run(app, "dataset", "export", src, "--output", tmp_path / "x.json", "--to", "inches")
    assert wrong.exit_code == 2 and "--to must be one of" in wrong.stderr
