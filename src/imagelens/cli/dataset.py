"""``imagelens dataset import|validate|split|export``: custom-model datasets (COCO JSON or a labels CSV).

Every command loads the source the same way (``--image-root``, ``--kind``, ``--bbox-format``, ``--split`` for
CSV rows), validates it, and prints one row per problem. A dataset with errors exits with code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from imagelens.cli._common import cli_errors, print_json

if TYPE_CHECKING:
    from imagelens.customize.records import Dataset
    from imagelens.customize.validation import ValidationReport

dataset_app = typer.Typer(
    help="Import, validate, split and export datasets for custom models.", no_args_is_help=True
)

SourceArg = Annotated[Path, typer.Argument(help="COCO .json, labels .csv, or a folder holding one")]
ImageRootOption = Annotated[
    Path | None,
    typer.Option("--image-root", help="folder image paths are relative to (default: found next to the file)"),
]
KindOption = Annotated[str, typer.Option("--kind", help="auto | classification | detection")]
BoxOption = Annotated[str, typer.Option("--bbox-format", help="auto | pixels | normalized (Azure)")]
SplitOption = Annotated[
    str | None, typer.Option("--split", help="CSV only: keep rows whose 'split' column equals this")
]
MinImagesOption = Annotated[
    int, typer.Option("--min-images-per-class", help="fewer images in a class is an error")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    from imagelens.errors import InvalidArgumentError

    if value not in allowed:
        raise InvalidArgumentError(f"{option} must be one of {list(allowed)}, got {value!r}")
    return value


def _load(
    source: Path, image_root: Path | None, kind: str, bbox_format: str, split: str | None, min_images: int
) -> tuple[Dataset, ValidationReport]:
    from imagelens.customize.dataset import import_dataset

    return import_dataset(
        source,
        image_root=image_root,
        kind=_choice(kind, ("auto", "classification", "detection"), "--kind"),  # type: ignore[arg-type]
        bbox_format=_choice(bbox_format, ("auto", "pixels", "normalized"), "--bbox-format"),  # type: ignore[arg-type]
        split=split,
        min_images_per_class=min_images,
        strict=False,
    )


def _print_report(dataset: Dataset, report: ValidationReport, as_json: bool) -> None:
    if as_json:
        print_json({"dataset": dataset.summary(), "report": report.to_dict()})
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    info = dataset.summary()
    classes = Table(
        title=f"{info['kind']} dataset: {info['images']} images, {info['annotations']} annotations"
    )
    for col in ("id", "class", "images", "annotations"):
        classes.add_column(col, justify="left" if col == "class" else "right")
    for c in info["categories"]:
        classes.add_row(str(c["id"]), c["name"], str(c["images"]), str(c["annotations"]))
    console.print(classes)
    console.print(
        f"images under {info['root']}"
        + (f"; boxes written as {info['bbox_format']}" if info["bbox_format"] else "")
    )
    if report.issues:
        table = Table(title=f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
        for col in ("severity", "kind", "image", "annotation", "category", "field", "message"):
            table.add_column(col)
        for i in report.issues:
            table.add_row(
                i.severity, str(i.kind), _cell(i.image_id), _cell(i.annotation_id), _cell(i.category_id),
                i.field or "", i.message,
            )  # fmt: skip
        console.print(table)
    else:
        console.print("no problems found")


def _cell(value: object) -> str:
    return "" if value is None else str(value)


@dataset_app.command("validate")
def validate_command(
    source: SourceArg,
    image_root: ImageRootOption = None,
    kind: KindOption = "auto",
    bbox_format: BoxOption = "auto",
    split: SplitOption = None,
    min_images_per_class: MinImagesOption = 2,
    as_json: JsonOption = False,
) -> None:
    """Report every problem (missing images, boxes out of bounds, unknown categories, duplicate ids ...)."""
    with cli_errors():
        dataset, report = _load(source, image_root, kind, bbox_format, split, min_images_per_class)
        _print_report(dataset, report, as_json)
        report.raise_for_errors()


@dataset_app.command("import")
def import_command(
    source: SourceArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="write a self-contained copy: annotations.json + images/"),
    ] = None,
    image_root: ImageRootOption = None,
    kind: KindOption = "auto",
    bbox_format: BoxOption = "auto",
    split: SplitOption = None,
    min_images_per_class: MinImagesOption = 2,
    overwrite: Annotated[bool, typer.Option(help="replace an existing annotations.json in --output")] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate, then (with --output) copy the images and write COCO with boxes in pixels."""
    from imagelens.customize.coco import write_dataset
    from imagelens.customize.validation import with_image_sizes

    with cli_errors():
        dataset, report = _load(source, image_root, kind, bbox_format, split, min_images_per_class)
        if output is None or not report.ok:
            _print_report(dataset, report, as_json)
            report.raise_for_errors()
            return
        target = write_dataset(with_image_sizes(dataset), output, overwrite=overwrite)
    if as_json:
        print_json({"dataset": dataset.summary(), "report": report.to_dict(), "written": str(target)})
    else:
        _print_report(dataset, report, as_json=False)
        typer.echo(
            f"wrote {target} and {len([i for i in dataset.images if i.path])} image(s) under {target.parent / 'images'}"
        )


@dataset_app.command("split")
def split_command(
    source: SourceArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for train.json and val.json")],
    validation_fraction: Annotated[float, typer.Option(help="share of each class held out")] = 0.2,
    seed: Annotated[int, typer.Option(help="same seed, same split")] = 0,
    image_root: ImageRootOption = None,
    kind: KindOption = "auto",
    bbox_format: BoxOption = "auto",
    split: SplitOption = None,
    min_images_per_class: MinImagesOption = 2,
    as_json: JsonOption = False,
) -> None:
    """Stratified, deterministic train/validation split, written as two COCO files (boxes in pixels)."""
    from imagelens.customize.coco import write_coco
    from imagelens.customize.splitting import split_dataset
    from imagelens.customize.validation import with_image_sizes

    with cli_errors():
        dataset, report = _load(source, image_root, kind, bbox_format, split, min_images_per_class)
        if not report.ok:
            _print_report(dataset, report, as_json)
            report.raise_for_errors()
        train, val = split_dataset(
            with_image_sizes(dataset), validation_fraction=validation_fraction, seed=seed
        )
        paths = {
            "train": write_coco(train, output / "train.json"),
            "val": write_coco(val, output / "val.json"),
        }
    result = {
        name: {
            "path": str(path),
            **{k: v for k, v in part.summary().items() if k in ("images", "annotations", "categories")},
        }
        for (name, path), part in zip(paths.items(), (train, val), strict=True)
    }
    result["image_root"] = str(dataset.root)  # type: ignore[assignment]
    if as_json:
        print_json(result)
        return
    for name, part in (("train", train), ("val", val)):
        per_class = ", ".join(f"{c['name']}={c['images']}" for c in part.summary()["categories"])
        typer.echo(f"{name}: {paths[name]}  {len(part.images)} images ({per_class})")
    typer.echo(f"file names are relative to {dataset.root}: load them with --image-root {dataset.root}")


@dataset_app.command("export")
def export_command(
    source: SourceArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="COCO JSON file to write")],
    out_format: Annotated[
        str, typer.Option("--to", help="pixels (COCO) | normalized (Azure COCO)")
    ] = "pixels",
    image_root: ImageRootOption = None,
    kind: KindOption = "auto",
    bbox_format: BoxOption = "auto",
    split: SplitOption = None,
    min_images_per_class: MinImagesOption = 2,
) -> None:
    """Write the dataset back as COCO (e.g. a labels CSV as COCO, or pixel boxes as Azure's normalized ones)."""
    from imagelens.customize.coco import write_coco
    from imagelens.customize.validation import with_image_sizes

    with cli_errors():
        fmt = _choice(out_format, ("pixels", "normalized"), "--to")
        dataset, report = _load(source, image_root, kind, bbox_format, split, min_images_per_class)
        if not report.ok:
            _print_report(dataset, report, as_json=False)
            report.raise_for_errors()
        path = write_coco(with_image_sizes(dataset), output, bbox_format=fmt)  # type: ignore[arg-type]
    typer.echo(f"wrote {path} ({len(dataset.images)} images); file names are relative to {dataset.root}")


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app, name="dataset")
