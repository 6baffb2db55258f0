"""``imagelens batch analyze|index-add|remove-bg SOURCE -o OUT.jsonl|OUT.parquet [--ray] [--workers N]``.

SOURCE is a folder (recursive), a glob, an image file or URL, or a text file of paths/URLs (one per line). Rows
stream to OUT (one per source: ``source``, ``status`` ok/error, ``sha256``, the Azure JSON ``result`` or Azure's
``error`` object); a rerun skips what OUT already holds. Exit code 0 even when some items failed (their rows say
why), 2 on bad arguments, 3 when a model is missing, 4 when the ``batch`` extra is needed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import cli_errors, print_json, require_extra

batch_app = typer.Typer(
    help="Batch work over a folder, a glob or a list of URLs, on a local pool or on Ray (docs/batch.md).",
    no_args_is_help=True,
)

SourceArg = Annotated[
    str, typer.Argument(help="a folder, a glob, an image file or URL, or a .txt list of them")
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="the output: OUT.jsonl or OUT.parquet")]
RayOpt = Annotated[
    bool, typer.Option("--ray", help="run on Ray (a local Ray started here unless --ray-address)")
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="join this Ray cluster: auto, HOST:PORT (GCS, 6379) or ray://HOST:PORT (needs ray[client]); implies --ray",
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", help="worker processes (or Ray actors)")]
ChunkOpt = Annotated[int, typer.Option("--chunk-size", help="items per task (and per durable write)")]
RetryOpt = Annotated[bool, typer.Option("--retry-errors", help="process again the items that failed before")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the report as one JSON line")]


def _engine(ray: bool, address: str | None, workers: int) -> Any:
    if ray or address:
        require_extra("batch", "ray")
        import logging

        from imagelens.batch.ray_engine import RayEngine

        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset INFO lines between the rows

        return RayEngine(workers, address)
    from imagelens.batch.local import LocalEngine

    return LocalEngine(workers)


def _run(task: Any, source: str, out: Path, engine: Any, as_json: bool, **kwargs: Any) -> None:
    from imagelens.batch.runner import run_batch
    from imagelens.batch.sources import expand_source

    if out.suffix.lower() == ".parquet":
        require_extra("batch", "pyarrow")
    items = expand_source(source)
    with typer.progressbar(length=len(items), label=f"batch {task.kind}", file=sys.stderr) as bar:
        seen = [0]

        def progress(done: int, total: int) -> None:
            bar.update(done - seen[0])
            seen[0] = done

        report = run_batch(task, items, out, engine, progress=progress, **kwargs)
    if as_json:
        print_json(report.as_dict())
        return
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(report.error_codes.items()))
    typer.echo(
        f"{report.total} items: {report.ok} ok, {report.errors} errors{f' ({codes})' if codes else ''}, "
        f"{report.unchanged} unchanged (already in {out}) in {report.seconds:.1f} s "
        f"on {report.engine} x{report.workers}"
    )


@batch_app.command("analyze")
def batch_analyze(
    source: SourceArg,
    out: OutOpt,
    features: Annotated[
        str, typer.Option("--features", "-f", help="comma-separated features (imagelens analyze --help)")
    ] = "read,smartCrops",
    model_name: Annotated[str | None, typer.Option(help="run this trained custom model instead")] = None,
    language: Annotated[str, typer.Option(help="caption/tag language")] = "en",
    gender_neutral_caption: Annotated[bool, typer.Option("--gender-neutral-caption")] = False,
    aspect_ratios: Annotated[
        str | None, typer.Option(help="smartCrops aspect ratios, comma-separated")
    ] = None,
    ray: RayOpt = False,
    ray_address: AddressOpt = None,
    workers: WorkersOpt = 2,
    chunk_size: ChunkOpt = 8,
    retry_errors: RetryOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Analyze every image: one row per image with Azure's analysis JSON (or its error)."""
    with cli_errors():
        from imagelens.analyzer import parse_features
        from imagelens.batch.tasks import BatchTask
        from imagelens.cli.analyze import _parse_ratios

        task = BatchTask(
            "analyze",
            features=() if model_name else parse_features(features),
            model_name=model_name,
            language=language,
            gender_neutral_caption=gender_neutral_caption,
            smartcrops_aspect_ratios=_parse_ratios(aspect_ratios),
        )
        engine = _engine(ray, ray_address, workers)
        _run(task, source, out, engine, as_json, chunk_size=chunk_size, retry_errors=retry_errors)


@batch_app.command("index-add")
def batch_index_add(
    source: SourceArg,
    out: OutOpt,
    index: Annotated[
        str, typer.Option("--index", "-i", help="the index name (created on first use)")
    ] = "default",
    field: Annotated[
        list[str] | None, typer.Option("--field", help="user metadata key=value; repeat")
    ] = None,
    model_version: Annotated[str | None, typer.Option(help="'latest' or the embedding model id")] = None,
    ray: RayOpt = False,
    ray_address: AddressOpt = None,
    workers: WorkersOpt = 2,
    chunk_size: ChunkOpt = 8,
    retry_errors: RetryOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Embed every image into a retrieval index; one row per image with Azure's vectorize JSON (or its error)."""
    with cli_errors():
        from imagelens.batch.tasks import BatchTask
        from imagelens.cli.retrieval import _fields

        task = BatchTask("index-add", model_version=model_version)
        engine = _engine(ray, ray_address, workers)
        _run(
            task,
            source,
            out,
            engine,
            as_json,
            chunk_size=chunk_size,
            retry_errors=retry_errors,
            index_name=index,
            fields=_fields(field),
        )


@batch_app.command("remove-bg")
def batch_remove_bg(
    source: SourceArg,
    out: OutOpt,
    images_dir: Annotated[
        Path | None, typer.Option(help="where the PNGs go (default: OUT's name + '-images')")
    ] = None,
    matte: Annotated[bool, typer.Option("--matte", help="write the greyscale alpha matte")] = False,
    mask: Annotated[bool, typer.Option("--mask", help="write a 0/255 mask")] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="a catalog model with the matting role")
    ] = None,
    refine: Annotated[str, typer.Option(help="edge refinement: guided, pymatting or none")] = "guided",
    ray: RayOpt = False,
    ray_address: AddressOpt = None,
    workers: WorkersOpt = 2,
    chunk_size: ChunkOpt = 8,
    retry_errors: RetryOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove the background of every image: one PNG each, one row per image (its file, or its error)."""
    require_extra("segment", "ai_edge_litert")
    with cli_errors():
        from imagelens.batch.tasks import BatchTask
        from imagelens.errors import InvalidArgumentError
        from imagelens.segment import SegmentOptions

        if matte and mask:
            raise InvalidArgumentError("--matte and --mask exclude each other")
        options = SegmentOptions(
            output="matte" if matte else "mask" if mask else "cutout",
            refine=refine,  # type: ignore[arg-type]  # checked by SegmentOptions
            model_id=model,
        )
        task = BatchTask("remove-bg", segment=options)
        engine = _engine(ray, ray_address, workers)
        _run(
            task,
            source,
            out,
            engine,
            as_json,
            chunk_size=chunk_size,
            retry_errors=retry_errors,
            images_dir=images_dir,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(batch_app, name="batch")
