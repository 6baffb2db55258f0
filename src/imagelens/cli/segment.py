"""``imagelens remove-bg IMAGE... [-o OUT]`` (``imagelens eval segment``: :mod:`imagelens.cli.eval_features`).

One ``OUT/<stem>.png`` per input: the RGBA cut-out, the greyscale matte (``--matte``) or a 0/255 mask (``--mask``).
Inputs are processed one after the other with a progress bar; a bad input is reported and skipped, and the exit
code is 2 when any input failed (3 when the model is missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imagelens.cli._common import EXIT_BAD_INPUT, cli_errors, print_json, require_extra

DEFAULT_OUT = Path("removed-bg")


def _out_path(out: Path, image: Path, used: set[Path]) -> Path:
    target = out / f"{image.stem}.png"
    n = 2
    while target in used or target.resolve() == image.resolve():
        target = out / f"{image.stem}-{n}.png"
        n += 1
    used.add(target)
    return target


def remove_bg_command(
    images: Annotated[
        list[Path], typer.Argument(help="image files (JPEG, PNG, GIF: first frame, WEBP, ...)")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = DEFAULT_OUT,
    matte: Annotated[bool, typer.Option("--matte", help="write the greyscale alpha matte")] = False,
    mask: Annotated[
        bool, typer.Option("--mask", help="write a 0/255 mask (at --threshold, default 0.5)")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="a catalog model with the matting role")
    ] = None,
    refine: Annotated[str, typer.Option(help="edge refinement: guided, pymatting or none")] = "guided",
    threshold: Annotated[float | None, typer.Option(help="alpha below this becomes 0")] = None,
    feather: Annotated[float, typer.Option(help="soften the alpha edge by this many pixels")] = 0.0,
    keep_largest: Annotated[
        bool, typer.Option("--keep-largest", help="keep only the largest subject")
    ] = False,
    width: Annotated[
        int | None, typer.Option(help="output width (with --height unset: keep the aspect)")
    ] = None,
    height: Annotated[int | None, typer.Option(help="output height")] = None,
    background: Annotated[
        str | None, typer.Option(help="fill the background: '#RRGGBB', 'r,g,b', white, black")
    ] = None,
    background_image: Annotated[
        Path | None, typer.Option(help="put the subject on this image (resized to fit)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per input")] = False,
) -> None:
    """Remove the background of each image (Azure's imageanalysis:segment, offline)."""
    require_extra("segment", "ai_edge_litert")
    from rich.progress import Progress

    from imagelens.analyzer import Analyzer
    from imagelens.errors import ImageLensError, InvalidArgumentError
    from imagelens.segment import SegmentOptions, parse_color

    with cli_errors():
        if matte and mask:
            raise InvalidArgumentError("--matte and --mask exclude each other")
        analyzer = Analyzer()
        back_img = analyzer.load(background_image).array() if background_image is not None else None
        options = SegmentOptions(
            output="matte" if matte else "mask" if mask else "cutout",
            refine=refine,  # type: ignore[arg-type]  # checked by SegmentOptions
            threshold=threshold,
            feather=feather,
            keep_largest=keep_largest,
            width=width,
            height=height,
            background=parse_color(background),
            background_image=back_img,
            model_id=model,
        )
        analyzer.hub.matting(model)  # a missing model fails once, before the loop
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    used: set[Path] = set()
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task("removing backgrounds", total=len(images))
        for image in images:
            target = _out_path(out, image, used)
            try:
                _, result = analyzer.remove_background(image, options)
                target.write_bytes(result.png())
                row = {
                    "input": str(image),
                    "output": str(target),
                    "mode": result.mode,
                    "width": result.width,
                    "height": result.height,
                    "ms": round(result.timings_ms.get("total", 0.0), 1),
                }
            except ImageLensError as error:
                failed += 1
                row = {"input": str(image), "error": error.inner_code, "message": error.message}
                if not as_json:
                    progress.console.print(f"[red]{image}: {error.inner_code}: {error.message}[/red]")
            if as_json:
                print_json(row)
            elif "output" in row:
                progress.console.print(f"{image} -> {target}")
            progress.advance(task)
    analyzer.close()
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def register(app: typer.Typer) -> None:
    app.command("remove-bg")(remove_bg_command)
    # `imagelens eval segment` is in cli/eval_features.py, with the other features' evaluations
