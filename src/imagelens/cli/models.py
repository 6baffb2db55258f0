"""``imagelens models list|pull``."""

from __future__ import annotations

from typing import Annotated

import typer

from imagelens.cli._common import cli_errors, print_json

models_app = typer.Typer(help="List and fetch models.", no_args_is_help=True)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1000  # type: ignore[assignment]
    return "?"


@models_app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every catalog model: id, roles, licence, size, and whether it is on this machine."""
    from dataclasses import asdict

    from rich.console import Console
    from rich.table import Table

    from imagelens.models.hub import ModelHub

    with cli_errors():
        rows = ModelHub().describe()
    if as_json:
        for row in rows:
            print_json(asdict(row))
        return
    table = Table(title="imagelens models")
    for col in ("id", "roles", "licence", "size", "present", "default for", "where"):
        table.add_column(col)
    for r in rows:
        present = ("yes (TINY RANDOM)" if r.tiny else "yes") if r.present else "no"
        table.add_row(
            r.id,
            ",".join(r.roles),
            r.license,
            _size(r.size_bytes),
            present,
            ",".join(r.default_for),
            r.location,
        )
    Console().print(table)


@models_app.command("pull")
def pull_command(
    ids: Annotated[
        list[str] | None, typer.Argument(help="model ids (default: the default model of every role)")
    ] = None,
    force: Annotated[bool, typer.Option(help="download again even if cached")] = False,
) -> None:
    """Download models' pinned revisions into the Hugging Face cache (progress bars from huggingface_hub)."""
    from imagelens.models.hub import ModelHub
    from imagelens.models.spec import PackageSource

    hub = ModelHub()
    with cli_errors():
        targets = list(ids) if ids else sorted({r for r in (_default_ids(hub))})
        for model_id in targets:
            spec = hub.spec(model_id)
            if isinstance(spec.source, PackageSource):
                hub.locate(model_id)
                typer.echo(
                    f"{model_id}: ships inside the '{spec.source.package}' package; nothing to download"
                )
                continue
            path = hub.download(model_id, force=force)
            typer.echo(f"{model_id}: {path}")


def _default_ids(hub: object) -> list[str]:
    from imagelens.errors import ModelUnavailableError
    from imagelens.models.hub import ModelHub
    from imagelens.models.spec import Role

    assert isinstance(hub, ModelHub)
    out = []
    for role in Role:
        try:
            out.append(hub.model_for_role(role))
        except ModelUnavailableError:
            continue
    return out


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
