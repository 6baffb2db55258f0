"""``imagelens eval adult`` and ``imagelens eval imageType``: precision/recall at the configured thresholds, a sweep
(AP and the threshold reaching ``--target-precision``) and a PR curve PNG, on a labelled folder or CSV.

- ``adult``: ``adult/``, ``racy/``, ``gore/``, ``neutral/`` sub-folders or a CSV ``path,adult,racy,gore``; the
  image-text model from the catalog (``IMAGELENS_MODEL_DIR``), the thresholds from the settings
  (``IMAGELENS_MODERATION__ADULT_THRESHOLD`` ...).
- ``imageType``: ``photo/``, ``clip_art/``, ``line_drawing/`` sub-folders or a CSV ``path,clip_art,line_drawing``;
  ``--method statistics`` (no model) or ``zero_shot``. ``benchmarks/image_type.py`` makes such a set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import cli_errors
from imagelens.cli.eval_features import CurveOption, JsonOption, TargetOption, _emit

LabelledData = Annotated[
    Path, typer.Option("--data", "-d", help="a folder with one sub-folder per label, or a labelled CSV")
]


def adult_command(
    data: LabelledData,
    as_json: JsonOption = False,
    target_precision: TargetOption = 0.9,
    pr_curve: CurveOption = None,
) -> None:
    """Adult, racy and gory precision/recall at the configured thresholds, AP, and the threshold for the target."""
    with cli_errors():
        from imagelens.analyzer import Analyzer
        from imagelens.evaluation.moderation import evaluate_moderation, load_labelled
        from imagelens.evaluation.run import load_rgb
        from imagelens.models.spec import Role
        from imagelens.types import Moderation

        analyzer = Analyzer()
        try:
            config = analyzer.settings.moderation
            thresholds = {
                "adult": config.adult_threshold,
                "racy": config.racy_threshold,
                "gore": config.gore_threshold,
            }

            def moderate(rgb: Any) -> Moderation:
                result = analyzer.analyze(rgb, ["adult"]).adult
                assert result is not None
                return result

            report, curves = evaluate_moderation(
                moderate, load_labelled(data), load_rgb,
                model_id=analyzer.hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING), data=str(data),
                thresholds=thresholds, target_precision=target_precision,
            )  # fmt: skip
        finally:
            analyzer.close()
        _emit(report, curves, pr_curve, as_json)


def image_type_command(
    data: LabelledData,
    method: Annotated[
        str, typer.Option("--method", help="statistics (no model) or zero_shot")
    ] = "statistics",
    as_json: JsonOption = False,
    target_precision: TargetOption = 0.9,
    pr_curve: CurveOption = None,
) -> None:
    """Clip-art (type >= 2) and line-drawing precision/recall, AP, and (text output) the clip-art types per label."""
    with cli_errors():
        from imagelens.analyzer import Analyzer
        from imagelens.evaluation.image_type import evaluate_image_type, load_labelled
        from imagelens.evaluation.run import load_rgb
        from imagelens.features.image_type import scores_of

        analyzer = Analyzer()
        try:
            report, curves = evaluate_image_type(
                lambda rgb: scores_of(analyzer.load(rgb), analyzer.hub, method), load_labelled(data), load_rgb,
                method=method, data=str(data), target_precision=target_precision,
            )  # fmt: skip
        finally:
            analyzer.close()
        _emit(report, curves, pr_curve, as_json)
        if not as_json:
            for label, counts in report.details["clip_art_type_histogram"].items():
                typer.echo(f"  {label}: clipArtType 0/1/2/3 = {'/'.join(map(str, counts))}")


def register(app: typer.Typer) -> None:
    from imagelens.cli.evaluate import eval_app

    eval_app.command("adult")(adult_command)
    eval_app.command("imageType")(image_type_command)
