"""``imagelens suggest-labels``: which unlabelled images to label next, most uncertain first (beyond Azure).

After training and evaluating a custom model, run it over a folder of unlabelled images and rank them by how unsure
the model is: for a classifier, the margin (or entropy) of its class probabilities; for a detector, how close its
most ambiguous box is to 0.5. Labelling the most uncertain images first improves the next training round fastest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imagelens.cli._common import cli_errors, print_json, require_extra

IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".webp",
    ".gif",
    ".tif",
    ".tiff",
    ".avif",
    ".heic",
    ".heif",
}


def suggest_command(
    folder: Annotated[
        Path, typer.Argument(help="a folder of unlabelled images", exists=True, file_okay=False)
    ],
    model_name: Annotated[str, typer.Option("--model-name", help="a trained custom model")],
    top: Annotated[int, typer.Option(help="how many images to suggest", min=1)] = 20,
    method: Annotated[str, typer.Option(help="margin | entropy | least_confidence (classifiers)")] = "margin",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Rank unlabelled images by the custom model's uncertainty: label the first ones next."""
    require_extra("ml", "torch", "transformers")  # custom models run on torch
    from imagelens.analyzer import Analyzer
    from imagelens.customize.active import rank_custom_results
    from imagelens.errors import InvalidArgumentError

    with cli_errors():
        if method not in {"margin", "entropy", "least_confidence"}:
            raise InvalidArgumentError(
                f"--method must be margin, entropy or least_confidence, got {method!r}"
            )
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not paths:
            raise InvalidArgumentError(f"no images found under {folder}")
        analyzer = Analyzer()
        results = []
        for path in paths:
            result = analyzer.analyze(path, model_name=model_name).custom_model
            assert result is not None
            results.append(result)
        ids = [str(p.relative_to(folder)) for p in paths]
        ranked = rank_custom_results(results, ids, method=method, top=top)  # type: ignore[arg-type]
    for image_id, score in ranked:
        if as_json:
            print_json({"image": image_id, "uncertainty": round(float(score), 4)})
        else:
            typer.echo(f"{float(score):.3f}  {image_id}")


def register(app: typer.Typer) -> None:
    app.command("suggest-labels")(suggest_command)
