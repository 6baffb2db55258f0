"""``imagelens brands add|list|remove`` (the user's brand additions, under the store dir) and ``imagelens eval
brands`` (precision/recall of the ``brands`` feature on a labelled folder). See docs/brands.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import cli_errors, print_json, require_extra

brands_app = typer.Typer(
    help="The brand list of the 'brands' feature: add names or example crops, list, remove.",
    no_args_is_help=True,
)


def _settings() -> Any:
    from imagelens.config import Settings

    return Settings()


def add_command(
    names: Annotated[list[str], typer.Argument(help="brand names to add")],
    example: Annotated[
        list[Path] | None,
        typer.Option("--example", "-e", help="an example crop of the logo (repeatable; one NAME only)"),
    ] = None,
) -> None:
    """Add brands by name, or one brand with example crops of its logo (each crop becomes an image prototype)."""
    with cli_errors():
        from imagelens.errors import InvalidArgumentError
        from imagelens.features.brand_list import BrandUserStore, load_brand_list, read_brand_file

        settings = _settings()
        store = BrandUserStore.for_settings(settings)
        if example and len(names) != 1:
            raise InvalidArgumentError("--example needs exactly one brand NAME")
        file = settings.brands.file
        current = len(read_brand_file(file)) if file is not None else 0
        new = store.add(names, current=current)  # the additions are counted inside the change
        for crop in example or ():
            typer.echo(f"example {crop} -> {store.add_example(names[0], crop)}")
        total = len(load_brand_list(settings))
        typer.echo(f"added {len(new)} brand(s); the list has {total:,} ({store.where})")


def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    added_only: Annotated[bool, typer.Option("--added", help="only the user's additions")] = False,
) -> None:
    """The brand list in use: the configured file's names and the user's additions, minus removals."""
    with cli_errors():
        from imagelens.features.brand_list import BrandUserStore, brand_key, load_brand_list

        settings = _settings()
        store = BrandUserStore.for_settings(settings)
        state = store.state()
        examples = store.examples()
        if added_only:
            names = state["added"]
            source = store.where
        else:
            brands = load_brand_list(settings)
            names, source = list(brands.names), brands.source
        if as_json:
            print_json({
                "source": source, "count": len(names), "added": state["added"], "removed": state["removed"],
                "names": names, "examples": {k: [str(p) for p in v] for k, v in examples.items()},
            })  # fmt: skip
            return
        typer.echo(
            f"{len(names):,} brands ({source}; {len(state['added'])} added, {len(state['removed'])} removed)"
        )
        for name in names:
            crops = len(examples.get(brand_key(name), ()))
            typer.echo(f"  {name}" + (f"  ({crops} example crop{'s' * (crops != 1)})" if crops else ""))


def remove_command(name: Annotated[str, typer.Argument(help="the brand to remove")]) -> None:
    """Remove an added brand (and its example crops); a name of the configured file is hidden from the list."""
    with cli_errors():
        from imagelens.features.brand_list import BrandUserStore, brand_key, read_brand_file

        settings = _settings()
        file = settings.brands.file
        in_file = file is not None and brand_key(name) in {brand_key(n) for n in read_brand_file(file)}
        BrandUserStore.for_settings(settings).remove(name, in_file=in_file)
        typer.echo(f"removed {name}")


def eval_command(
    data: Annotated[Path, typer.Option("--data", "-d", help="the folder the labelled image paths are under")],
    labels: Annotated[
        Path | None, typer.Option("--labels", help="brands.json / brands.csv (default: in --data)")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="operating threshold (default: the configured one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of a table")] = False,
    target_precision: Annotated[float, typer.Option("--target-precision")] = 0.9,
    pr_curve: Annotated[
        Path | None,
        typer.Option("--pr-curve", help="PR curve PNG (default: eval-brands-pr.png; '-' for none)"),
    ] = None,
    details: Annotated[bool, typer.Option("--details", help="with --json: per-image predictions")] = False,
) -> None:
    """Precision/recall of 'brands' at the threshold, a sweep and a PR curve, on a labelled folder."""
    with cli_errors():
        from imagelens.analyzer import Analyzer
        from imagelens.evaluation.brands import Prediction, evaluate_brands, load_labels, sweep_table
        from imagelens.evaluation.run import write_pr_png
        from imagelens.features.base import AnalysisOptions
        from imagelens.features.brand_visual import visual_models_present
        from imagelens.features.brands import THRESHOLD_OPTION, check_threshold
        from imagelens.models.spec import Role

        label_file = labels or next(
            (data / n for n in ("brands.json", "brands.csv") if (data / n).is_file()), data / "brands.json"
        )
        truth = load_labels(label_file)
        analyzer = Analyzer()
        try:
            hub = analyzer.hub
            operating = check_threshold(hub.settings.brands.threshold if threshold is None else threshold)
            model = f"text: {hub.model_for_role(Role.OCR)}"
            if visual_models_present(hub):
                model += (
                    f"; logos: {hub.model_for_role(Role.OPEN_VOCAB_DETECTOR)}"
                    f" + {hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING)}"
                )
            else:
                model += "; logos: not present (text only)"
            options = AnalysisOptions(extra={THRESHOLD_OPTION: 0.0})

            def predict(path: Path) -> list[Prediction]:
                result = analyzer.analyze(path, ["brands"], options)
                return [Prediction(b.name, b.confidence, b.box) for b in result.brands or ()]

            report, curves = evaluate_brands(
                predict, truth, data, model=model, threshold=operating, target_precision=target_precision
            )
        finally:
            analyzer.close()
        target = pr_curve if pr_curve is not None else Path("eval-brands-pr.png")
        written = None
        if str(target) != "-":
            require_extra("eval", "matplotlib")
            written = write_pr_png(report, curves, target)
        if as_json:
            print_json(report.to_dict(details=details))
            return
        typer.echo(report.table())
        typer.echo(sweep_table(report))
        if written is not None:
            typer.echo(f"PR curve: {written}")


def register(app: typer.Typer) -> None:
    from imagelens.cli.evaluate import eval_app

    brands_app.command("add")(add_command)
    brands_app.command("list")(list_command)
    brands_app.command("remove")(remove_command)
    app.add_typer(brands_app, name="brands")
    eval_app.command("brands")(eval_command)
