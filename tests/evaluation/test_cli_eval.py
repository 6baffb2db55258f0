"""``imagelens eval faces|objects|people|caption|categories`` on tiny random models: the one JSON shape, the PR
curve PNG, and the clear refusal of what is not supported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _cli(args: list[str], model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    from typer.testing import CliRunner

    from imagelens.cli import app

    monkeypatch.setenv("IMAGELENS_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("IMAGELENS_HUB__OFFLINE", "true")
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize(("feature", "model"), [("objects", "yolox-nano"), ("people", "nanodet-m-416"),
                                                ("faces", "yunet-2026may")])  # fmt: skip
def test_eval_json_shape_and_pr_png(
    feature: str,
    model: str,
    coco_dir: Path,
    small_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "pr.png"
    r = _cli(["eval", feature, "--data", str(coco_dir), "--model", model, "--json", "--pr-curve", str(png)],
             small_model_dir, monkeypatch)  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(report) == ["feature", "model", "data", "n", "metrics", "threshold"]
    assert report["feature"] == feature and report["model"] == model and report["n"] == 3
    assert set(report["threshold"]) == {"target_precision", "threshold", "precision", "recall"}
    assert ("mAP" in report["metrics"]) if feature != "faces" else ("AP" in report["metrics"])
    assert png.read_bytes()[:4] == b"\x89PNG"
    table = _cli(["eval", feature, "--data", str(coco_dir), "--model", model, "--pr-curve", "-"],
                 small_model_dir, monkeypatch)  # fmt: skip
    assert table.exit_code == 0 and f"{feature} with {model}" in table.stdout


def test_eval_refuses_what_it_cannot_measure(
    coco_dir: Path, small_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for feature in ("caption",):
        r = _cli(["eval", feature, "--data", str(coco_dir)], small_model_dir, monkeypatch)
        assert r.exit_code == 2 and "not supported" in r.output
    r = _cli(
        ["eval", "objects", "--data", str(coco_dir), "--model", "yunet-2026may"], small_model_dir, monkeypatch
    )
    assert r.exit_code == 2 and "cannot serve as detector" in r.output
    r = _cli(["eval", "objects", "--data", str(coco_dir / "missing"), "--model", "yolox-nano"], small_model_dir,
             monkeypatch)  # fmt: skip
    assert r.exit_code == 2
