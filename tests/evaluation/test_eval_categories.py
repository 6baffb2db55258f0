"""``imagelens eval categories|landmarks``: labels from COCO through the documented mapping, the metrics on known
scores, and the commands end to end on a tiny random SigLIP (the harness runs; the numbers mean nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagelens.errors import InvalidArgumentError
from imagelens.evaluation.categories import (
    COCO_TO_AZURE,
    CategoryExample,
    LandmarkExample,
    coco_category_labels,
    coco_landmark_labels,
    evaluate_categories,
    evaluate_landmarks,
    read_category_labels,
    read_landmark_labels,
    write_category_labels,
)
from imagelens.features.categories import taxonomy


def test_the_mapping_names_azure_categories_only() -> None:
    names = set(taxonomy().names) | {n.partition("_")[0] for n in taxonomy().names}
    assert set(COCO_TO_AZURE.values()) <= names
    assert COCO_TO_AZURE["person"] == "people" and COCO_TO_AZURE["dog"] == "animal_dog"


def test_coco_labels_big_objects_positive_small_ones_ignored(coco_dir: Path, tmp_path: Path) -> None:
    examples = coco_category_labels(coco_dir)
    assert [sorted(e.positives) for e in examples] == [["people"], ["people"], ["people"]]
    assert examples[0].ignore == {"trans", "trans_car"}  # the car covers 8 % of image 1
    csv = write_category_labels(examples, tmp_path / "labels.csv")
    assert read_category_labels(csv) == examples
    assert [e.landmark for e in coco_landmark_labels(coco_dir)] == ["", "", ""]


def test_category_metrics_on_known_scores() -> None:
    examples = [
        CategoryExample(Path("a"), frozenset({"animal", "animal_dog"})),
        CategoryExample(Path("b"), frozenset({"people"})),
        CategoryExample(Path("c"), frozenset(), frozenset({"people"})),
    ]
    scores = {"a": {"animal": 0.9, "animal_dog": 0.6, "people": 0.3},
              "b": {"animal": 0.1, "animal_dog": 0.05, "people": 0.2},
              "c": {"animal": 0.5, "animal_dog": 0.4, "people": 0.99}}  # fmt: skip
    report, curves = evaluate_categories(
        examples, lambda p: scores[str(p)].__getitem__, model_id="m", data="d", threshold=0.25
    )
    m = report.metrics
    # parents: a/animal .9 TP, a/people .3 FP, b/animal .1, b/people .2 (missed), c/animal .5 FP (c/people ignored)
    assert m["precision_parents"] == pytest.approx(1 / 3) and m["recall_parents"] == pytest.approx(1 / 2)
    assert m["precision_children"] == pytest.approx(1 / 2) and m["recall_children"] == 1.0
    assert set(curves) == {"parents", "children"} and report.details["sweep"]["all"][0]["threshold"] == 0.05
    with pytest.raises(InvalidArgumentError):
        evaluate_categories([], lambda p: scores["a"].__getitem__, model_id="m", data="d", threshold=0.25)
    bogus = [CategoryExample(Path("a"), frozenset({"animal_unicorn"}))]
    with pytest.raises(InvalidArgumentError, match="animal_unicorn"):
        evaluate_categories(bogus, lambda p: scores["a"].__getitem__, model_id="m", data="d", threshold=0.25)


def test_landmark_metrics_on_known_scores(tmp_path: Path) -> None:
    examples = [LandmarkExample(Path("a"), "Big Ben"), LandmarkExample(Path("b"), "Big Ben"),
                LandmarkExample(Path("c"), ""), LandmarkExample(Path("d"), "")]  # fmt: skip
    found = {
        "a": [("Big Ben", 0.8)],
        "b": [("Eiffel Tower", 0.7)],
        "c": [("Big Ben", 0.6)],
        "d": [("Big Ben", 0.1)],
    }
    report, curves = evaluate_landmarks(
        examples, lambda p: found[str(p)], model_id="m", data="d", threshold=0.5
    )
    assert report.metrics["precision"] == pytest.approx(1 / 3) and report.metrics["recall"] == 0.5
    assert report.metrics["false_positive_rate"] == 0.5 and "landmarks" in curves
    (tmp_path / "labels.csv").write_text("image,landmark\nx.jpg,Big Ben\n/abs/y.jpg,\n", encoding="utf-8")
    assert read_landmark_labels(tmp_path / "labels.csv") == [
        LandmarkExample(tmp_path / "x.jpg", "Big Ben"), LandmarkExample(Path("/abs/y.jpg"), "")
    ]  # fmt: skip


def _cli(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> object:
    from typer.testing import CliRunner

    from imagelens.cli import app

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return CliRunner().invoke(app, args)


def test_eval_commands_run_on_a_tiny_model(
    coco_dir: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    (tmp_path / "landmarks.txt").write_text("Eiffel Tower\nBig Ben\n", encoding="utf-8")
    env = {"IMAGELENS_MODEL_DIR": str(tiny_model_dir), "IMAGELENS_HUB__OFFLINE": "true",
           "IMAGELENS_STORE_DIR": str(tmp_path / "store"), "IMAGELENS_LANDMARKS__FILE": str(tmp_path / "landmarks.txt")}  # fmt: skip
    png = tmp_path / "pr.png"
    r = _cli(["eval", "categories", "--data", str(coco_dir), "--json", "--pr-curve", str(png),
              "--write-labels", str(tmp_path / "labels.csv")], env, monkeypatch)  # fmt: skip
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    report = json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]
    assert report["feature"] == "categories" and report["n"] == 3 and "precision_parents" in report["metrics"]
    assert report["details"]["threshold"] == 0.25 and len(report["details"]["sweep"]["parents"]) == 12
    assert png.read_bytes()[:4] == b"\x89PNG" and (tmp_path / "labels.csv").is_file()
    r = _cli(["eval", "categories", "--data", str(tmp_path / "labels.csv"), "--threshold", "0.01",
              "--pr-curve", "-"], env, monkeypatch)  # fmt: skip
    assert r.exit_code == 0 and "operating threshold 0.01" in r.stdout and "sweep (parents)" in r.stdout  # type: ignore[attr-defined]
    r = _cli(["eval", "landmarks", "--data", str(coco_dir), "--pr-curve", "-"], env, monkeypatch)
    assert r.exit_code == 0 and "false_positive_rate" in r.stdout and "no PR curve" in r.stdout  # type: ignore[attr-defined]
    r = _cli(["eval", "categories", "--data", str(coco_dir), "--threshold", "1.5"], env, monkeypatch)
    assert r.exit_code == 2 and "[0, 1]" in r.output  # type: ignore[attr-defined]
