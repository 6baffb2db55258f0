"""``imagelens analyze``: the same Analyzer the library and the server use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from imagelens.cli._common import EXIT_OK, fail, print_json


def _parse_ratios(text: str | None) -> tuple[float, ...] | None:
    from imagelens.errors import InvalidArgumentError

    if not text:
        return None
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InvalidArgumentError(f"--aspect-ratios must be comma-separated numbers, got {text!r}") from None


def _annotate_path(target: Path, source: str, index: int, many: bool) -> Path:
    if not many:
        return target
    target.mkdir(parents=True, exist_ok=True)
    stem = Path(source.split("?")[0].rstrip("/")).stem or "image"
    return target / f"{index:04d}-{stem}.png"


FEATURES_OPTION_HELP = "comma-separated features (listed above) (default: read,smartCrops)"


def _registry_help() -> tuple[str, str]:
    """The command's help and the --features option's help, from the feature registry."""
    from imagelens.features.registry import FEATURE_LIST

    width = max(len(f.name) for f in FEATURE_LIST)
    listing = "\n".join(f"  {f.name.ljust(width)}  {f.summary}" for f in FEATURE_LIST)
    command = (
        "Analyze images offline, with the same Analyzer the library and the server use.\n\n"
        f"Features (--features):\n\n{listing}\n\n"
        "Text output prints a small table per feature (names, scores, boxes as x y w h in pixels); "
        "--json prints Azure's 4.0 JSON."
    )
    names = ", ".join(f.name for f in FEATURE_LIST)
    return command, f"comma-separated features: {names} (default: read,smartCrops)"


class _AnalyzeCommand(TyperCommand):
    """Reads the feature registry only when help is shown, so other commands start without importing it."""

    def format_help(self, ctx: Any, formatter: Any) -> None:  # click's types (typer may vendor click)
        self.help, option_help = _registry_help()
        for param in self.params:
            if "--features" in getattr(param, "opts", ()):
                param.help = option_help  # type: ignore[attr-defined]
        super().format_help(ctx, formatter)


def analyze_command(
    images: Annotated[list[str], typer.Argument(help="image files or http(s) URLs")],
    features: Annotated[
        str | None,
        typer.Option("--features", "-f", help=FEATURES_OPTION_HELP),
    ] = None,
    model_name: Annotated[
        str | None, typer.Option("--model-name", help="run this trained custom model instead of --features")
    ] = None,
    aspect_ratios: Annotated[
        str | None,
        typer.Option("--aspect-ratios", help="smart-crop aspect ratios, e.g. 0.9,1.33 (each 0.75..1.8)"),
    ] = None,
    language: Annotated[str, typer.Option(help="language code")] = "en",
    detector: Annotated[
        str | None, typer.Option("--detector", help="objects/people detector for this run, e.g. yolox-nano")
    ] = None,
    gender_neutral_caption: Annotated[bool, typer.Option("--gender-neutral-caption")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print Azure's 4.0 JSON, one object per line per image")
    ] = False,
    annotate_out: Annotated[
        Path | None,
        typer.Option("--annotate", help="write a picture with the results drawn (a folder for many images)"),
    ] = None,
) -> None:
    """Analyze images: OCR (read), smart crops, captions, tags, objects, people, faces, colour, offline."""
    from imagelens.analyzer import Analyzer, check_model_name, parse_features
    from imagelens.annotate import annotate
    from imagelens.azure.analysis import analysis_result_json
    from imagelens.cli._render import render_text
    from imagelens.errors import ImageLensError
    from imagelens.features.base import AnalysisOptions

    try:
        if model_name is not None:
            check_model_name(features, model_name)
        names = () if model_name else parse_features(features or "read,smartCrops")
        options = AnalysisOptions(
            language=language,
            gender_neutral_caption=gender_neutral_caption,
            smartcrops_aspect_ratios=_parse_ratios(aspect_ratios),
            extra={"detector": detector} if detector else {},
        )
    except ImageLensError as error:
        raise fail(error) from None

    analyzer = Analyzer()
    exit_code = EXIT_OK
    many = len(images) > 1
    progress = None
    if many:
        from rich.progress import Progress

        progress = Progress(transient=True)
        progress.start()
        task = progress.add_task("analyzing", total=len(images))
    try:
        for index, source in enumerate(images):
            try:
                loaded = analyzer.load(source)
                result = (
                    analyzer.analyze(loaded, model_name=model_name)
                    if model_name
                    else analyzer.analyze(loaded, names, options)
                )
                if as_json:
                    print_json(analysis_result_json(result))
                else:
                    typer.echo(render_text(source, result))
                if annotate_out is not None:
                    target = _annotate_path(annotate_out, source, index, many)
                    annotate(loaded.image, result).save(target)
                    typer.echo(f"annotated picture: {target}", err=True)
            except ImageLensError as error:
                typer.echo(f"error: {source}: {error.inner_code}: {error.message}", err=True)
                exit_code = exit_code or error.exit_code
            if progress is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
        analyzer.close()
    raise typer.Exit(exit_code)


def register(app: typer.Typer) -> None:
    app.command("analyze", cls=_AnalyzeCommand)(analyze_command)
