"""PNG plots, and that the dataset and metrics modules do not pull in heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagelens.customize.metrics import evaluate_classification, evaluate_coco_detection
from imagelens.customize.plots import plot_confusion_matrix, write_classification_plots, write_detection_plots
from imagelens.errors import InvalidArgumentError


def _check_png(path: Path, min_size: tuple[int, int] = (300, 300)) -> None:
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1]
        assert len(set(im.convert("L").getdata())) > 10  # something was drawn


def test_detection_plots(tmp_path: Path) -> None:
    gt = {
        "images": [{"id": 1}],
        "categories": [{"id": 1, "name": "RBC"}, {"id": 2, "name": "WBC"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0}],
    }
    preds = [{"image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 10], "score": 0.9}]
    paths = write_detection_plots(evaluate_coco_detection(gt, preds), tmp_path / "plots")
    assert [p.name for p in paths] == ["pr_curves_iou50.png", "pr_curves_iou75.png"]
    for path in paths:
        _check_png(path)


def test_classification_plots(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    scores = rng.dirichlet(np.ones(4), size=40)
    labels = rng.integers(0, 4, 40)
    metrics = evaluate_classification(labels, scores, class_names=["apple", "banana", "lime", "lemon"])
    paths = write_classification_plots(metrics, tmp_path)
    assert [p.name for p in paths] == ["confusion_matrix.png", "pr_curves.png", "reliability.png"]
    for path in paths:
        _check_png(path)


def test_confusion_matrix_shape_is_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="must be 3x3"):
        plot_confusion_matrix(np.zeros((2, 2)), ["a", "b", "c"], tmp_path / "x.png")


def test_customize_modules_import_light() -> None:
    code = (
        "import sys\n"
        "import imagelens.customize, imagelens.customize.dataset, imagelens.customize.coco\n"
        "import imagelens.customize.metrics, imagelens.customize.active, imagelens.customize.plots\n"
        "import imagelens.customize.records, imagelens.customize.validation, imagelens.customize.splitting\n"
        "import imagelens.customize.csv_dataset, imagelens.customize.job_state, imagelens.azure.customization\n"
        "import imagelens.cli.evaluate, imagelens.cli.dataset, imagelens.cli.train\n"
        "heavy = ('matplotlib', 'pycocotools', 'cv2', 'torch', 'onnxruntime', 'PIL.Image', 'scipy', 'rich.table')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
