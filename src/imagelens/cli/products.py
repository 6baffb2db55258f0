"""``imagelens products``: products and gaps on a shelf image, through the same Analyzer call the HTTP run uses.

``--json`` prints Azure's product recognition result; ``imagelens planogram --detections`` reads it as it is, and
products named with ``--prompt LABEL=PROMPT`` (a planogram's product ids) then match their planogram positions.
"""

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
            "--prompt",
            help="a text query, 'a bottle' or 'label=prompt' (the label names the product, e.g. a planogram "
            "product id); repeat it; default: the model's",
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
        from imagelens.analyzer import Analyzer
        from imagelens.azure.shelf import product_recognition_json
        from imagelens.cli.shelf import _write_image

        analyzer = Analyzer()
        try:
            loaded = analyzer.load(image)
            result = analyzer.recognize_products(
                loaded, prompts=prompts or None, threshold=threshold, min_gap_fraction=min_gap_fraction
            ).recognition
        finally:
            analyzer.close()
        if annotate_out is not None:
            from imagelens.annotate import annotate_products

            _write_image(annotate_out, annotate_products(loaded.array(), result))
        if as_json:
            print_json(product_recognition_json(result))
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
