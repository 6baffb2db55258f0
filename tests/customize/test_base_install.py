"""On the base install (no torch, transformers, fastapi or matplotlib) every customization command either works or
says in one line which extra to install. The extras are hidden in a subprocess (``sys.modules[name] = None`` makes
both ``import name`` and ``importlib.util.find_spec(name)`` fail as for a missing package), nothing is uninstalled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imagelens.customize.evaluate import metrics_performance
from imagelens.customize.job_state import new_model_record
from imagelens.customize.metrics import evaluate_classification
from imagelens.store import SQLiteStore

from .test_training_data import write_classification

EXTRAS = (
    "torch",
    "torchvision",
    "transformers",
    "fastapi",
    "starlette",
    "uvicorn",
    "matplotlib",
    "pycocotools",
)
WATCHED = ("imagelens.api", "fastapi", "torch", "transformers", "matplotlib")
SCRIPT = """
import json, sys
for name in {extras!r}:
    sys.modules[name] = None
sys.argv = ["imagelens", *json.loads(sys.argv[1])]
from imagelens.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
loaded = [m for m in {watched!r} if sys.modules.get(m) is not None]
sys.stderr.write("LOADED=" + ",".join(loaded) + "\\n")
sys.exit(code)
"""


def _base_cli(tmp_path: Path, *args: str | Path) -> tuple[int, str, list[str], list[str]]:
    """(exit code, stdout, stderr lines, heavy modules imported) of ``imagelens ARGS`` without the extras."""
    env = {
        **os.environ,
        "IMAGELENS_STORE_DIR": str(tmp_path / "store"),
        "IMAGELENS_MODEL_DIR": str(tmp_path / "models"),
        "IMAGELENS_HUB__OFFLINE": "true",
        "COLUMNS": "200",  # rich tables on one line each
    }
    code = SCRIPT.format(extras=EXTRAS, watched=WATCHED)
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps([str(a) for a in args])],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    lines = out.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("LOADED="), out.stderr
    loaded = [m for m in lines[-1].removeprefix("LOADED=").split(",") if m]
    return out.returncode, out.stdout, lines[:-1], loaded


def _one_line_hint(code: int, errors: list[str], extra: str) -> None:
    assert code == 4, errors
    assert len(errors) == 1 and f'pip install "imagelens[{extra}]"' in errors[0], errors


DET_GT = {
    "images": [{"id": 1}],
    "categories": [{"id": 1, "name": "cell"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}],
}
DET_PRED = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}]


def test_eval_with_plots_names_the_eval_extra_and_works_without_plots(tmp_path: Path) -> None:
    gt, preds = tmp_path / "gt.json", tmp_path / "preds.json"
    gt.write_text(json.dumps(DET_GT))
    preds.write_text(json.dumps(DET_PRED))
    code, _, errors, _ = _base_cli(
        tmp_path, "eval", "detection", "-g", gt, "-p", preds, "--plots", tmp_path / "p"
    )
    _one_line_hint(code, errors, "eval")
    assert not (tmp_path / "p").exists()
    code, out, errors, loaded = _base_cli(tmp_path, "eval", "detection", "-g", gt, "-p", preds, "--json")
    assert code == 0, errors
    assert json.loads(out)["map50"] == pytest.approx(1.0) and loaded == []


def test_train_names_the_ml_extra_before_registering_anything(tmp_path: Path) -> None:
    coco = write_classification(tmp_path / "data", per_class=2)
    args = ("train", "--dataset", coco, "--name", "m", "--kind", "Generic-Classifier", "--wait")
    code, _, errors, _ = _base_cli(tmp_path, *args)
    _one_line_hint(code, errors, "ml")
    assert not (tmp_path / "store").exists() or SQLiteStore(tmp_path / "store").list_models() == []
    code, _, errors, _ = _base_cli(tmp_path, "models", "custom", "resume")
    _one_line_hint(code, errors, "ml")
    code, _, errors, _ = _base_cli(tmp_path, "suggest-labels", tmp_path / "data", "--model-name", "m")
    _one_line_hint(code, errors, "ml")


def test_models_custom_show_and_list_work_without_the_server_extra(tmp_path: Path) -> None:
    """Regression: ``models custom show`` imported the HTTP app for its JSON and crashed without fastapi."""
    store = SQLiteStore(tmp_path / "store")
    store.create_model(new_model_record("colours", "Generic-Classifier", "colours-train", 0.5))
    metrics = evaluate_classification([0, 1], [[0.9, 0.1], [0.2, 0.8]], class_names=["red", "blue"])
    store.update_model("colours", status="succeeded", performance=metrics_performance(metrics))
    code, out, errors, loaded = _base_cli(tmp_path, "models", "custom", "show", "colours")
    assert code == 0, errors
    body = json.loads(out)
    assert body["name"] == "colours" and body["status"] == "succeeded"
    assert body["modelPerformance"]["accuracyTop1"] == 1.0
    assert set(body["modelPerformance"]["tagPerformance"]) == {"red", "blue"}
    assert loaded == [], f"the CLI imported {loaded}"
    code, out, errors, loaded = _base_cli(tmp_path, "models", "custom", "list")
    assert code == 0 and "colours" in out and "top1 1.000" in out, errors
    assert loaded == []
