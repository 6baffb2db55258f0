"""``imagelens products``: products and gaps on a shelf image, with the same code the HTTP run uses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imagelens.cli._common import cli_errors, print_json


def products_command(
    image: Annotated[str, typer.Argument(help="the shelf image (file or http(s) URL), ideally rectified")],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="print Azure's product recognition result (imageMetadata, products, gaps)"
        ),
    ] = False,
    annotate_out: Annotated[
        Path | None,
        typer.Option("--annotate", help="write the image with products and gaps drawn (.png, .jpg ...)"),
    ] = None,
    prompts: Annotated[
        list[str] | None,
        typer.Option(
            "--prompt", help="a text query, 'a bottle' or 'label=prompt'; repeat it; default: the model's"
        ),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="score threshold in [0, 1]; default: the model's")
    ] = None,
    min_gap_fraction: Annotated[
        float, typer.Option(help="smallest gap, as a fraction of the row's median product width")
    ] = 0.5,
) -> None:
    """Detect the products on a shelf image and the gaps between them (an open-vocabulary detector, OWLv2)."""
    with cli_errors():
        from imagelens.cli.shelf import _write_image
        from imagelens.config import Settings
        from imagelens.io import load_image
        from imagelens.models.hub import ModelHub
        from imagelens.models.spec import Role
        from imagelens.shelf.products import annotate_products, recognize_products

        settings = Settings()
        array = load_image(image, settings.limits, settings.url_settings()).array()
        hub = ModelHub(settings)
        try:
            detector = hub.get(Role.OPEN_VOCAB_DETECTOR)
            result = recognize_products(
                array,
                detector,
                prompts=prompts or None,
                threshold=threshold,
                min_gap_fraction=min_gap_fraction,
            )
        finally:
            hub.close()
        if annotate_out is not None:
            _write_image(annotate_out, annotate_products(array, result))
        if as_json:
            print_json(result.to_azure())
        else:
            typer.echo(
                f"{image}: {result.width}x{result.height}, {len(result.products)} products, {len(result.gaps)} gaps"
            )
            for det in result.products:
                b, tag = det.box, det.tags[0]
                typer.echo(
                    f"  {tag.name:<12} {tag.confidence:.2f}  x={b.x:.0f} y={b.y:.0f} w={b.w:.0f} h={b.h:.0f}"
                )
            for gap in result.gaps:
                b = gap.box
                typer.echo(
                    f"  {'gap':<12} {gap.tags[0].confidence:.2f}  x={b.x:.0f} y={b.y:.0f} w={b.w:.0f} h={b.h:.0f}"
                )
            if annotate_out is not None:
                typer.echo(f"annotated picture: {annotate_out}", err=True)


def register(app: typer.Typer) -> None:
    app.command("products")(products_command)
