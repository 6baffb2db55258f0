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
    import numpy as np

    from imagelens.analyzer import Analyzer
    from imagelens.customize.active import rank_for_labeling
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
        rows: list[dict[str, float]] = []
        box_scores: list[float] = []
        names: set[str] = set()
        for path in paths:
            result = analyzer.analyze(path, model_name=model_name).custom_model
            assert result is not None
            rows.append({t.name: t.confidence for t in result.tags})
            names.update(rows[-1])
            # detector: the most ambiguous box (score nearest 0.5), as 1 - |2p - 1|; no box: sure of "nothing"
            box_scores.append(
                max((1 - abs(2 * t.confidence - 1) for o in result.objects for t in o.tags), default=0.0)
            )
        ids = [str(p.relative_to(folder)) for p in paths]
        if names:  # a classifier: the probability matrix over its classes
            classes = sorted(names)
            probs = np.asarray([[row.get(c, 0.0) for c in classes] for row in rows])
            probs[probs.sum(axis=1) == 0] = 1.0 / len(classes)
            chosen = rank_for_labeling(probs, method=method, image_ids=ids, top=top)  # type: ignore[arg-type]
            ranked = [(str(c.image_id), c.uncertainty) for c in chosen]
        else:
            order = np.argsort(-np.asarray(box_scores), kind="stable")[:top]
            ranked = [(ids[i], float(box_scores[i])) for i in order]
    for image_id, score in ranked:
        if as_json:
            print_json({"image": image_id, "uncertainty": round(float(score), 4)})
        else:
            typer.echo(f"{float(score):.3f}  {image_id}")


def register(app: typer.Typer) -> None:
    app.command("suggest-labels")(suggest_command)
