"""``imagelens eval categories|landmarks``: precision/recall at the configured threshold, a sweep and a PR curve
PNG on a labelled set (a ``labels.csv`` or a COCO folder, :mod:`imagelens.evaluation.categories`), with the
image-text model the catalog resolves (``IMAGELENS_MODEL_DIR`` first; ``--model`` picks another one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import cli_errors, print_json, require_extra

DataOption = Annotated[
    Path,
    typer.Option(
        "--data", "-d", help="a labels.csv, or a COCO folder (images/ + annotations/instances*.json)"
    ),
]
ModelOption = Annotated[str | None, typer.Option("--model", help="a catalog image-text model id")]
ThresholdOption = Annotated[
    float | None, typer.Option("--threshold", help="the operating threshold (default: the setting)")
]
LimitOption = Annotated[int | None, typer.Option("--max-images", help="only the first N images")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object (with the sweep)")]
TargetOption = Annotated[
    float, typer.Option("--target-precision", help="recommend the threshold reaching this precision")
]
CurveOption = Annotated[
    Path | None,
    typer.Option("--pr-curve", help="PR curve PNG (default: eval-<feature>-pr.png; '-' for none)"),
]
WriteOption = Annotated[
    Path | None, typer.Option("--write-labels", help="also write the labels derived from a COCO folder here")
]


def _threshold(value: float | None, default: float) -> float:
    from imagelens.features.categories import check_threshold

    return check_threshold(default if value is None else value, "threshold")


def _embedder(model: str | None) -> tuple[Any, Any, Any]:
    from imagelens.config import Settings
    from imagelens.models.hub import ModelHub

    settings = Settings()
    hub = ModelHub(settings)
    return settings, hub, hub.embedder(model)


def _embed(hub: Any, embedder: Any, path: Path) -> Any:
    from imagelens.io import load_image

    return embedder.embed_images([load_image(path, hub.settings.limits).array()])[0]


def _emit(report: Any, curves: dict[str, Any], pr_curve: Path | None, as_json: bool) -> None:
    from imagelens.evaluation.categories import sweep_table
    from imagelens.evaluation.run import write_pr_png

    target = pr_curve if pr_curve is not None else Path(f"eval-{report.feature}-pr.png")
    written = None
    if curves and str(target) != "-":
        require_extra("eval", "matplotlib")
        written = write_pr_png(report, curves, target)
    if as_json:
        print_json(report.to_dict(details=True))
        return
    typer.echo(report.table())
    typer.echo(f"  operating threshold {report.details['threshold']}")
    typer.echo(sweep_table(report))
    if written is not None:
        typer.echo(f"PR curve: {written}")
    elif not curves:
        typer.echo("no PR curve: the set has no positive image (only false positives can be counted)")


def categories_command(
    data: DataOption,
    model: ModelOption = None,
    threshold: ThresholdOption = None,
    max_images: LimitOption = None,
    write_labels: WriteOption = None,
    as_json: JsonOption = False,
    target_precision: TargetOption = 0.9,
    pr_curve: CurveOption = None,
) -> None:
    """Azure 3.2 categories: micro precision/recall at the threshold (parents and children), sweep, PR curve."""
    with cli_errors():
        from imagelens.evaluation import categories as ev
        from imagelens.features.categories import category_probabilities, category_scores

        examples = ev.read_category_labels(data) if data.suffix == ".csv" else ev.coco_category_labels(data)
        if write_labels is not None:
            ev.write_category_labels(examples, write_labels)
        examples = examples[:max_images] if max_images else examples
        settings, hub, embedder = _embedder(model)
        try:

            def scorer(path: Path) -> Any:
                return category_scores(category_probabilities(embedder, _embed(hub, embedder, path))).score

            report, curves = ev.evaluate_categories(
                examples, scorer, model_id=embedder.spec.id, data=str(data),
                threshold=_threshold(threshold, settings.categories.threshold), target_precision=target_precision,
            )  # fmt: skip
        finally:
            hub.close()
    _emit(report, curves, pr_curve, as_json)


def landmarks_command(
    data: DataOption,
    model: ModelOption = None,
    threshold: ThresholdOption = None,
    max_images: LimitOption = None,
    as_json: JsonOption = False,
    target_precision: TargetOption = 0.9,
    pr_curve: CurveOption = None,
) -> None:
    """Landmarks (the configured list): precision/recall at the threshold, false-positive rate on images without a
    landmark, sweep, PR curve (when the set has landmark images)."""
    with cli_errors():
        from imagelens.evaluation import categories as ev
        from imagelens.features.landmarks import landmark_index

        examples = ev.read_landmark_labels(data) if data.suffix == ".csv" else ev.coco_landmark_labels(data)
        examples = examples[:max_images] if max_images else examples
        settings, hub, embedder = _embedder(model)
        try:
            index = landmark_index(embedder, settings)
            names = index.landmarks.names

            def scorer(path: Path) -> list[tuple[str, float]]:
                probs = index.probabilities(embedder, _embed(hub, embedder, path))
                best = int(probs.argmax())
                return [(names[best], float(probs[best]))]

            report, curves = ev.evaluate_landmarks(
                examples, scorer, model_id=embedder.spec.id, data=str(data),
                threshold=_threshold(threshold, settings.landmarks.threshold), target_precision=target_precision,
            )  # fmt: skip
        finally:
            hub.close()
    _emit(report, curves, pr_curve, as_json)


def register(app: typer.Typer) -> None:
    from imagelens.cli.evaluate import eval_app

    eval_app.command("categories")(categories_command)
    eval_app.command("landmarks")(landmarks_command)
