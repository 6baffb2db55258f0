"""``imagelens eval faces|objects|people|tags|caption|segment|read``: accuracy of the prebuilt features.

Each command prints a table (``--json``: one object ``{"feature", "model", "data", "n", "metrics", "threshold"}``),
writes a precision-recall curve PNG (``--pr-curve``; not for ``segment``, whose masks have no score) and
recommends the lowest confidence threshold that reaches ``--target-precision`` (0.9), with the recall there.
Data: a COCO folder (``images/`` + ``annotations/instances*.json``; ``faces`` reads
``annotations/person_keypoints*.json``), or for ``read`` a SROIE-style folder (``img/*.jpg`` + ``box/*.csv``).
Models come from the catalog as everywhere (``IMAGELENS_MODEL_DIR`` first); ``--model`` picks another one of the
feature's role, e.g. ``--model yolox-nano``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import cli_errors, print_json, require_extra

DataOption = Annotated[
    Path, typer.Option("--data", "-d", help="a COCO folder (images/ + annotations/*.json), or SROIE for read")
]
ModelOption = Annotated[str | None, typer.Option("--model", help="a catalog model id of the feature's role")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")]
TargetOption = Annotated[
    float, typer.Option("--target-precision", help="recommend the threshold reaching this precision")
]
CurveOption = Annotated[
    Path | None,
    typer.Option("--pr-curve", help="PR curve PNG (default: eval-<feature>-pr.png; '-' for none)"),
]


def _emit(report: Any, curves: dict[str, Any], pr_curve: Path | None, as_json: bool) -> None:
    from imagelens.evaluation.run import write_pr_png

    target = pr_curve if pr_curve is not None else Path(f"eval-{report.feature}-pr.png")
    written = None
    if curves and str(target) != "-":
        require_extra("eval", "matplotlib")
        written = write_pr_png(report, curves, target)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(report.table())
    if written is not None:
        typer.echo(f"PR curve: {written}")


def _hub_feature(
    feature: str,
    data: Path,
    model: str | None,
    as_json: bool,
    target: float,
    pr_curve: Path | None,
    **kwargs: Any,
) -> None:
    with cli_errors():
        from imagelens.config import Settings
        from imagelens.evaluation.run import evaluate_with_hub
        from imagelens.models.hub import ModelHub

        hub = ModelHub(Settings())
        try:
            report, curves = evaluate_with_hub(
                hub, feature, data, model_id=model, target_precision=target, **kwargs
            )
        finally:
            hub.close()
        _emit(report, curves, pr_curve, as_json)


def faces_command(
    data: DataOption,
    model: ModelOption = None,
    visible_only: Annotated[
        bool, typer.Option("--visible-only", help="only faces whose nose and eyes are marked visible (v=2)")
    ] = False,
    as_json: JsonOption = False,
    target_precision: TargetOption = 0.9,
    pr_curve: CurveOption = None,
) -> None:
    """Face recall and AP against faces derived from COCO person keypoints (nose and both eyes labelled)."""
    _hub_feature("faces", data, model, as_json, target_precision, pr_curve, visible_only=visible_only)


def _detection(feature: str) -> Any:
    def command(
        data: DataOption,
        model: ModelOption = None,
        check_pycocotools: Annotated[
            bool, typer.Option("--check-pycocotools", help="also run pycocotools and report the difference")
        ] = False,
        as_json: JsonOption = False,
        target_precision: TargetOption = 0.9,
        pr_curve: CurveOption = None,
    ) -> None:
        if check_pycocotools:
            require_extra("eval", "pycocotools")
        _hub_feature(
            feature, data, model, as_json, target_precision, pr_curve, check_pycocotools=check_pycocotools
        )

    command.__doc__ = (
        "COCO box mAP@[.5:.95], AP50, AP75 (pycocotools' conventions) and precision/recall at the operating "
        + ("threshold, every COCO category." if feature == "objects" else "threshold, the person class only.")
    )
    return command


def read_command(
    data: DataOption,
    model: ModelOption = None,
    as_json: JsonOption = False,
    target_precision: TargetOption = 0.9,
    pr_curve: CurveOption = None,
) -> None:
    """Word precision, recall and F1 on receipts (SROIE layout: img/*.jpg, box/*.csv)."""
    _hub_feature("read", data, model, as_json, target_precision, pr_curve)


def tags_command(
    data: DataOption,
    as_json: JsonOption = False,
    target_precision: TargetOption = 0.9,
    pr_curve: CurveOption = None,
) -> None:
    """Tag precision, recall, F1 and AP against the COCO categories present in each image."""
    with cli_errors():
        from imagelens.analyzer import Analyzer
        from imagelens.evaluation.coco import load_coco
        from imagelens.evaluation.features import evaluate_tags
        from imagelens.evaluation.run import load_rgb
        from imagelens.models.spec import Role

        analyzer = Analyzer()
        try:
            model_id = analyzer.hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING)
            spec = analyzer.hub.spec(model_id)
            operating = float(spec.options.get("threshold", 0.5))

            def tag(rgb: Any) -> list[tuple[str, float]]:
                result = analyzer.analyze(rgb, ["tags"])
                return [(t.name, t.confidence) for t in result.tags or ()]

            report, curves = evaluate_tags(
                tag, load_coco(data), load_rgb, model_id=model_id, operating_threshold=operating,
                target_precision=target_precision,
            )  # fmt: skip
        finally:
            analyzer.close()
        _emit(report, curves, pr_curve, as_json)


def _not_supported(feature: str) -> Any:
    def command(data: DataOption, model: ModelOption = None, as_json: JsonOption = False) -> None:
        with cli_errors():
            from imagelens.errors import InvalidArgumentError
            from imagelens.evaluation.run import NOT_SUPPORTED

            raise InvalidArgumentError(f"'eval {feature}' is not supported: {NOT_SUPPORTED[feature]}.")

    command.__doc__ = f"Not supported yet: evaluating '{feature}' (the command says why)."
    return command


def segment_command(
    data: DataOption,
    model: Annotated[
        str | None, typer.Option("--model", help="a catalog model with the matting role")
    ] = None,
    refine: Annotated[str, typer.Option(help="guided, pymatting or none")] = "guided",
    grid: Annotated[
        Path | None, typer.Option("--grid", help="write an input / mask / cut-out grid PNG here")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Person mIoU (persons >= 5 % of the frame) and salient-object mIoU (largest instance >= 20 %) vs COCO masks."""
    require_extra("segment", "ai_edge_litert")
    require_extra("eval", "pycocotools")
    with cli_errors():
        from imagelens.analyzer import Analyzer
        from imagelens.evaluation.features import segment_report
        from imagelens.segment.evaluate import evaluate_coco

        analyzer = Analyzer()
        try:
            report = segment_report(evaluate_coco(analyzer, data, model_id=model, refine=refine, grid=grid))
        finally:
            analyzer.close()
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(report.table() + f"\n  refine {refine}")
    if grid is not None:
        typer.echo(f"grid: {grid}")


def register(app: typer.Typer) -> None:
    from imagelens.cli.evaluate import eval_app

    eval_app.command("faces")(faces_command)
    eval_app.command("objects")(_detection("objects"))
    eval_app.command("people")(_detection("people"))
    eval_app.command("tags")(tags_command)
    eval_app.command("caption")(_not_supported("caption"))
    eval_app.command("segment")(segment_command)
    eval_app.command("read")(read_command)
