"""``imagelens vectorize``, ``imagelens index add|stats|remove|rebuild|duplicates``, ``imagelens search`` and
``imagelens eval retrieval``: the same :mod:`imagelens.retrieval` calls the HTTP routes make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import cli_errors, print_json

index_app = typer.Typer(
    help="Image indexes for search: add folders, stats, remove, rebuild.", no_args_is_help=True
)
IndexOpt = Annotated[str, typer.Option("--index", "-i", help="the index name")]


def _analyzer() -> Any:
    from imagelens.analyzer import Analyzer

    return Analyzer()


def _fields(pairs: list[str] | None) -> dict[str, Any]:
    from imagelens.errors import InvalidArgumentError

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"expected key=value, got {pair!r}")
        out[key] = value
    return out


def vectorize_command(
    image: Annotated[str | None, typer.Argument(help="an image file or http(s) URL")] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="vectorize this text instead of an image")
    ] = None,
    model_version: Annotated[str | None, typer.Option(help="'latest' or the embedding model id")] = None,
) -> None:
    """Print Azure's {"modelVersion", "vector"} for an image or a text (one JSON line)."""
    with cli_errors():
        from imagelens.azure.retrieval import vectorize_json
        from imagelens.errors import InvalidRequestError

        if (image is None) == (text is None):
            raise InvalidRequestError("give either an IMAGE or --text")
        analyzer = _analyzer()
        try:
            if text is not None:
                result = analyzer.vectorize_text(text, model_version=model_version)
            else:
                assert image is not None
                result = analyzer.vectorize_image(image, model_version=model_version)
        finally:
            analyzer.close()
        print_json(vectorize_json(result))


@index_app.command("add")
def index_add(
    inputs: Annotated[list[str], typer.Argument(help="files, folders (recursive), globs or http(s) URLs")],
    index: IndexOpt = "default",
    batch_size: Annotated[int, typer.Option(help="images per embedding batch (and per commit)")] = 16,
    field: Annotated[
        list[str] | None, typer.Option("--field", help="user metadata key=value; repeat")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Index images (creates the index on first use). Unchanged files are skipped by hash; re-running resumes."""
    with cli_errors():
        from imagelens.retrieval import search as rs
        from imagelens.retrieval.ingest import expand, ingest
        from imagelens.retrieval.vectorize import model_of

        fields = _fields(field)
        items = expand(inputs)
        analyzer = _analyzer()
        try:
            model = model_of(analyzer.hub.embedder())
            idx = rs.create_index(analyzer.settings, index, model, exist_ok=True)
            with typer.progressbar(length=len(items), label="indexing", file=None) as bar:
                seen = [0]

                def progress(done: int, total: int) -> None:
                    bar.update(done - seen[0])
                    seen[0] = done

                report = ingest(analyzer, idx, items, batch_size=batch_size, fields=fields, progress=progress)
        finally:
            analyzer.close()
        for path, reason in report.skipped:
            typer.echo(f"warning: skipped {path}: {reason}", err=True)
        if as_json:
            print_json(report.as_dict())
        else:
            typer.echo(
                f"{index}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                f"{len(report.skipped)} skipped (not images or unreadable) in {report.seconds:.1f} s"
            )


@index_app.command("stats")
def index_stats(
    index: IndexOpt = "default", as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Documents, model, size on disk."""
    with cli_errors():
        from imagelens.azure.retrieval import index_json
        from imagelens.config import Settings
        from imagelens.retrieval import search as rs

        stats = rs.open_index(Settings(), index).stats()
        if as_json:
            print_json({**index_json(stats), "path": stats.path, "bytesOnDisk": stats.bytes_on_disk})
            return
        typer.echo(
            f"index {stats.name}: {stats.documents} documents, model {stats.model.model_id} "
            f"({stats.model.dim}-d, weights {stats.model.fingerprint[:12]}), {stats.ann} search, "
            f"{stats.bytes_on_disk / 1e6:.1f} MB at {stats.path}, updated {stats.updated}"
        )


@index_app.command("remove")
def index_remove(
    documents: Annotated[list[str], typer.Argument(help="document ids (the paths or URLs indexed)")],
    index: IndexOpt = "default",
) -> None:
    """Remove documents (a path is resolved to the absolute path it was indexed under)."""
    with cli_errors():
        from imagelens.config import Settings
        from imagelens.retrieval import search as rs

        idx = rs.open_index(Settings(), index)
        ids = [str(Path(d).resolve()) if Path(d).exists() else d for d in documents]
        removed = idx.delete(ids)
        idx.flush()
        typer.echo(f"{index}: {removed} removed, {len(ids) - removed} not found")


@index_app.command("rebuild")
def index_rebuild(
    index: IndexOpt = "default",
    batch_size: Annotated[int, typer.Option(help="images per embedding batch")] = 16,
) -> None:
    """Re-embed every document with the current embedding model (IMAGELENS_MODELS__image_text_embedding to pick
    another) and swap the new index in."""
    with cli_errors():
        from imagelens.retrieval import search as rs
        from imagelens.retrieval.ingest import rebuild

        analyzer = _analyzer()
        try:
            fresh, report = rebuild(analyzer, rs.open_index(analyzer.settings, index), batch_size=batch_size)
        finally:
            analyzer.close()
        for path, reason in report.skipped:
            typer.echo(f"warning: dropped {path}: {reason}", err=True)
        typer.echo(
            f"{index}: {report.added} re-embedded with {fresh.model.model_id}, {len(report.skipped)} dropped"
        )


@index_app.command("duplicates")
def index_duplicates(
    index: IndexOpt = "default",
    threshold: Annotated[
        float, typer.Option(help="cosine at or above which two images are near-duplicates")
    ] = 0.95,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Groups of near-duplicate images."""
    with cli_errors():
        from imagelens.config import Settings
        from imagelens.retrieval import search as rs

        groups = rs.near_duplicates(rs.open_index(Settings(), index), threshold)
        if as_json:
            print_json({"threshold": threshold, "value": [{"documentIds": g} for g in groups]})
            return
        for n, group in enumerate(groups, start=1):
            typer.echo(f"group {n}: " + "  ".join(group))
        typer.echo(f"{len(groups)} groups of near-duplicates (cosine >= {threshold})")


def search_command(
    text: Annotated[str | None, typer.Argument(help="what to look for, in words")] = None,
    image: Annotated[str | None, typer.Option("--image", help="search by this image instead")] = None,
    region: Annotated[
        str | None, typer.Option(help="with --image: only this region, 'x,y,w,h' in pixels")
    ] = None,
    index: IndexOpt = "default",
    top: Annotated[int, typer.Option(help="how many hits")] = 10,
    skip: Annotated[int, typer.Option(help="skip this many hits (paging)")] = 0,
    where: Annotated[list[str] | None, typer.Option(help="metadata filter key=value; repeat (AND)")] = None,
    taken_from: Annotated[str | None, typer.Option(help="EXIF date from (YYYY-MM-DD)")] = None,
    taken_to: Annotated[str | None, typer.Option(help="EXIF date to (YYYY-MM-DD)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the hits as JSON")] = False,
    sheet: Annotated[Path | None, typer.Option(help="write a contact sheet PNG of the hits")] = None,
) -> None:
    """Search an index by text, by image or by a region of an image."""
    with cli_errors():
        from imagelens.azure.retrieval import parse_region, search_json
        from imagelens.errors import InvalidRequestError
        from imagelens.retrieval import search as rs
        from imagelens.retrieval.base import Filters

        if (text is None) == (image is None):
            raise InvalidRequestError("give either a TEXT query or --image")
        if region and image is None:
            raise InvalidRequestError("--region needs --image")
        filters = Filters(_fields(where), taken_from, taken_to)
        analyzer = _analyzer()
        try:
            retriever = rs.Retriever(analyzer, rs.open_index(analyzer.settings, index))
            if text is not None:
                result = retriever.by_text(text, top, skip, filters or None)
            else:
                assert image is not None
                result = retriever.by_image(image, top, skip, filters or None, parse_region(region))
        finally:
            analyzer.close()
        if sheet is not None:
            from imagelens.retrieval.sheet import contact_sheet

            contact_sheet(result.hits, sheet, title=text or f"like {image}")
        if as_json:
            print_json(search_json(result))
            return
        typer.echo(f"{'rank':>4}  {'relevance':>9}  {'cosine':>7}  document")
        for rank, hit in enumerate(result.hits, start=skip + 1):
            typer.echo(f"{rank:>4}  {hit.relevance:>9.4f}  {hit.cosine:>7.4f}  {hit.document_id}")
        if not result.hits:
            typer.echo("no hits")
        if sheet is not None:
            typer.echo(f"contact sheet: {sheet}", err=True)


def eval_retrieval_command(
    data: Annotated[Path, typer.Option(help="a COCO folder with images/ and annotations/captions*.json")],
    captions: Annotated[
        Path | None, typer.Option(help="the captions JSON (default: the one under annotations/)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Text->image recall@1/5/10 with COCO captions (each caption's image is the one right answer)."""
    with cli_errors():
        from imagelens.retrieval.evaluate import evaluate_text_to_image

        analyzer = _analyzer()
        try:
            report = evaluate_text_to_image(analyzer, data, captions)
        finally:
            analyzer.close()
        if as_json:
            print_json(report)
        else:
            typer.echo(json.dumps(report, indent=1))


def register(app: typer.Typer) -> None:
    app.command("vectorize")(vectorize_command)
    app.command("search")(search_command)
    app.add_typer(index_app, name="index")
    for group in app.registered_groups:  # `imagelens eval retrieval` joins the eval group when it exists
        if group.name == "eval" and group.typer_instance is not None:
            group.typer_instance.command("retrieval")(eval_retrieval_command)
            break
    else:
        app.command("eval-retrieval")(eval_retrieval_command)
