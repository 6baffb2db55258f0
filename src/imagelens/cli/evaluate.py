"""``imagelens eval detection|classification``: score predictions against ground truth.

Inputs (JSON files):

* detection ground truth: COCO (``images``, ``annotations`` with ``bbox``, ``categories``); predictions: COCO
  results ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]`` in the same units as the ground truth;
* classification ground truth: COCO with one annotation per image, or just ``{"images": [...], "annotations":
  [{"image_id", "category_id"}]}``; predictions: ``[{"image_id", "scores": {"<category id or name>": p}}]`` or
  ``[{"image_id", "category_id", "score"}]`` (several rows per image give several classes' scores).

``--json`` prints one object (``map30``, ``map50``, ``map75``, ``map50_95``, ``per_class`` for detection;
``accuracy_top1``, ``accuracy_top5``, ``per_class``, ``calibration_ece`` for classification).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import cli_errors, print_json, require_extra
from imagelens.errors import InvalidArgumentError

eval_app = typer.Typer(
    help="Evaluate predictions against ground truth (COCO mAP, accuracy, calibration).", no_args_is_help=True
)

GroundTruthOption = Annotated[Path, typer.Option("--ground-truth", "-g", help="ground-truth JSON (COCO)")]
PredictionsOption = Annotated[Path, typer.Option("--predictions", "-p", help="predictions JSON (a list)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")]
PlotsOption = Annotated[Path | None, typer.Option("--plots", help="write PNG plots into this folder")]


def read_json(path: Path, what: str) -> Any:
    """A JSON file's content, or InvalidArgumentError naming the file and what is wrong."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidArgumentError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise InvalidArgumentError(f"{what} must be a JSON file, got the folder {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"{what} file {path} is not valid JSON: {exc}") from None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@eval_app.command("detection")
def detection_command(
    ground_truth: GroundTruthOption,
    predictions: PredictionsOption,
    as_json: JsonOption = False,
    plots: PlotsOption = None,
    max_detections: Annotated[int, typer.Option(help="boxes per image and class kept, best first")] = 100,
) -> None:
    """COCO mAP@[.50:.95], mAP@.30/.50/.75 and AP per class (same numbers as pycocotools' COCOeval)."""
    if plots is not None:
        require_extra("eval", "matplotlib")
    from imagelens.customize.metrics import evaluate_coco_detection

    with cli_errors():
        gt = read_json(ground_truth, "ground truth")
        preds = read_json(predictions, "predictions")
        metrics = evaluate_coco_detection(gt, preds, max_detections=max_detections)
        written: list[Path] = []
        if plots is not None:
            from imagelens.customize.plots import write_detection_plots

            written = write_detection_plots(metrics, plots)
    if as_json:
        out = metrics.to_dict()
        out["plots"] = [str(p) for p in written]
        print_json(out)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"detection: {metrics.num_images} images, {metrics.num_predictions} predictions")
    for col in ("class", "id", "GT", "pred", "AP50:95", "AP30", "AP50", "AP75", "recall50"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c in metrics.per_class:
        table.add_row(
            c.name, str(c.category_id), str(c.num_ground_truth), str(c.num_predictions),
            _fmt(c.ap50_95), _fmt(c.ap30), _fmt(c.ap50), _fmt(c.ap75), _fmt(c.recall50),
        )  # fmt: skip
    table.add_section()
    table.add_row(
        "mean",
        "",
        "",
        "",
        _fmt(metrics.map50_95),
        _fmt(metrics.map30),
        _fmt(metrics.map50),
        _fmt(metrics.map75),
        "",
    )
    console = Console()
    console.print(table)
    if metrics.ignored_predictions:
        console.print(
            f"{metrics.ignored_predictions} prediction(s) of categories not in the ground truth were ignored"
        )
    for path in written:
        console.print(f"wrote {path}")


@eval_app.command("classification")
def classification_command(
    ground_truth: GroundTruthOption,
    predictions: PredictionsOption,
    as_json: JsonOption = False,
    plots: PlotsOption = None,
    top_k: Annotated[int, typer.Option(help="k of the top-k accuracy reported as accuracy_top5")] = 5,
) -> None:
    """Top-1/top-5 accuracy, per-class precision/recall/F1/AP, confusion matrix, calibration (ECE, 15 bins)."""
    if plots is not None:
        require_extra("eval", "matplotlib")
    from imagelens.customize.metrics import evaluate_coco_classification

    with cli_errors():
        gt = read_json(ground_truth, "ground truth")
        preds = read_json(predictions, "predictions")
        metrics = evaluate_coco_classification(gt, preds, top_k=top_k)
        written: list[Path] = []
        if plots is not None:
            from imagelens.customize.plots import write_classification_plots

            written = write_classification_plots(metrics, plots)
    if as_json:
        out = metrics.to_dict()
        out["plots"] = [str(p) for p in written]
        print_json(out)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"classification: {metrics.num_images} images")
    for col in ("class", "id", "support", "predicted", "precision", "recall", "F1", "AP"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c in metrics.per_class:
        table.add_row(
            c.name, str(c.category_id), str(c.support), str(c.predicted),
            _fmt(c.precision), _fmt(c.recall), _fmt(c.f1), _fmt(c.average_precision),
        )  # fmt: skip
    table.add_section()
    table.add_row(
        "macro",
        "",
        "",
        "",
        _fmt(metrics.macro_precision),
        _fmt(metrics.macro_recall),
        _fmt(metrics.macro_f1),
        _fmt(metrics.mean_average_precision),
    )
    console = Console()
    console.print(table)
    console.print(
        f"accuracy top-1 {metrics.accuracy_top1:.4f}   top-{metrics.top_k} {metrics.accuracy_top5:.4f}   "
        f"ECE {_fmt(metrics.calibration_ece)}"
    )
    if metrics.num_missing_predictions:
        console.print(f"{metrics.num_missing_predictions} image(s) had no prediction and count as wrong")
    for path in written:
        console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
