"""``imagelens models list|pull``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from imagelens.cli._common import EXIT_OK, cli_errors, print_json

if TYPE_CHECKING:
    from imagelens.errors import ImageLensError
    from imagelens.models.hub import ModelHub

models_app = typer.Typer(help="List and fetch models.", no_args_is_help=True)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return "?"


@models_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per model")] = False,
) -> None:
    """Every catalog model: present or not, size, licence, where it lives, roles, default for, tiny or real.

    Never touches the network."""
    from dataclasses import asdict

    from rich.console import Console
    from rich.table import Table

    from imagelens.models.hub import ModelHub

    with cli_errors():
        hub = ModelHub()
        rows = hub.describe()
    if as_json:
        for row in rows:
            print_json(asdict(row))
        return
    table = Table(title="imagelens models", show_lines=False)
    table.add_column("id", no_wrap=True)
    table.add_column("present")
    table.add_column("size", justify="right")
    table.add_column("licence")
    table.add_column("roles")
    table.add_column("default for")
    table.add_column("where", overflow="fold")
    for r in rows:
        present = ("yes (TINY RANDOM)" if r.tiny else "yes") if r.present else "no"
        kind = (
            r.location.partition(":")[0] if r.location.startswith(("model-dir:", "hf-cache:")) else r.location
        )
        where = f"{kind}: {r.path}" if r.path else kind
        if not r.present and r.path:
            where = f"missing (would be {r.path})"
        table.add_row(
            r.id, present, _size(r.size_bytes), r.license, ",".join(r.roles), ",".join(r.default_for), where
        )
    console = Console()
    console.print(table)
    model_dir = hub.settings.model_dir
    console.print(
        f"Hugging Face cache: {hub.cache_root}\nIMAGELENS_MODEL_DIR: {model_dir or '(not set)'}\n"
        f"Hub endpoint: {hub.endpoint}",
        highlight=False,
        soft_wrap=True,
    )


def _reason(error: ImageLensError) -> str:
    """Why a pull failed, without the "fetch it with imagelens models pull" advice meant for other commands."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    return error.message.split(". Fetch it with: imagelens models pull")[0]


def _pull_one(hub: ModelHub, model_id: str, force: bool, prefix: str) -> str:
    """Fetch one model; the line that says what happened. Raises ImageLensError on failure."""
    from imagelens.errors import ModelUnavailableError
    from imagelens.models.adapters.base import is_tiny
    from imagelens.models.spec import HubSource, PackageSource

    spec = hub.spec(model_id)
    if isinstance(spec.source, PackageSource):
        path, where = hub.locate(model_id)
        shown = f" ({path})" if path is not None else ""
        return f"ships inside the '{spec.source.package}' package{shown}; nothing to download"
    if not force:
        try:
            path, where = hub.locate(model_id)
        except ModelUnavailableError:
            path, where = None, "missing"
        if where == "hf-cache" and path is not None:
            return f"already in the Hugging Face cache: {path}"
        if where == "model-dir" and path is not None and not is_tiny(path):
            return f"already in IMAGELENS_MODEL_DIR: {path}"
        if where == "model-dir" and path is not None:
            typer.echo(
                f"{prefix}: note: {path} holds a tiny RANDOM stand-in and is used before the cache; "
                "remove it (or unset IMAGELENS_MODEL_DIR) to use the real weights fetched now",
                err=True,
            )
    source = spec.source
    if isinstance(source, HubSource):
        origin = f"{source.repo_id}@{source.revision[:12]} from {hub.endpoint} into {hub.cache_root}"
    else:
        from imagelens.models.file_sources import describe

        origin = describe(source)
    typer.echo(f"{prefix}: downloading {origin} (about {_size(source.size_bytes)}) ...", err=True)
    downloaded = hub.download(model_id, force=force)
    return f"downloaded to {downloaded}"


def _advice(hub: ModelHub, failed: list[str]) -> list[str]:
    """What to check and the manual route: never "run imagelens models pull" again."""
    import shutil

    from imagelens.errors import ImageLensError
    from imagelens.models.availability import manual_route
    from imagelens.models.spec import HubSource

    lines = ["what to check:"]
    if hub.offline:
        lines.append(
            "  - offline mode is on (HF_HUB_OFFLINE or IMAGELENS_HUB__OFFLINE): unset it to download"
        )
    endpoint_var = os.environ.get("HF_ENDPOINT")
    which = f"HF_ENDPOINT={endpoint_var}" if endpoint_var else "HF_ENDPOINT is not set"
    lines.append(f"  - network access to the Hugging Face Hub at {hub.endpoint} ({which})")
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    lines.append(
        f"  - the proxy: HTTPS_PROXY={proxy}"
        if proxy
        else "  - a proxy, if this network needs one: HTTPS_PROXY"
    )
    root = hub.cache_root
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = f"{_size(shutil.disk_usage(probe).free)} free"
    except OSError:
        free = "free space unknown"
    lines.append(f"  - disk space and write access at {root} ({free})")
    lines.append("  - for a gated or private repository, or a rate limit: HF_TOKEN")
    manual = []
    for model_id in failed:
        try:
            spec = hub.spec(model_id)
        except ImageLensError:
            continue
        if isinstance(spec.source, HubSource):
            manual.append(f"  - {model_id}: {manual_route(spec, root, hub.settings.model_dir)}")
    if manual:
        lines.append("without network access on this machine, for each model:")
        lines.extend(manual)
    return lines


@models_app.command("pull")
def pull_command(
    ids: Annotated[
        list[str] | None, typer.Argument(help="model ids (default: the default model of every role)")
    ] = None,
    all_models: Annotated[bool, typer.Option("--all", help="every model in the catalog")] = False,
    force: Annotated[bool, typer.Option(help="download again even if present")] = False,
    warm_vocab: Annotated[
        bool,
        typer.Option(
            "--warm/--no-warm",
            help="then prepare the pulled models (OpenVINO exports) and embed the pulled image-text models' vocabularies",
        ),
    ] = True,
) -> None:
    """Download models' pinned revisions into the Hugging Face cache: every one it can, reporting each; then do
    their one-time load work (OpenVINO exports) and embed the vocabularies (tags ...) of the image-text models
    pulled, so no request ever does.

    Exits non-zero when any failed, with what to check and how to fetch them by hand."""
    from imagelens.errors import ImageLensError
    from imagelens.models.hub import ModelHub
    from imagelens.models.preparation import role_defaults

    with cli_errors():
        hub = ModelHub()
        if ids:
            targets = list(dict.fromkeys(ids))
        elif all_models:
            targets = [spec.id for spec in hub.specs()]
        else:
            targets = role_defaults(hub)
    exit_code = EXIT_OK
    failed: list[str] = []
    total = len(targets)
    for index, model_id in enumerate(targets, 1):
        prefix = f"[{index}/{total}] {model_id}"
        try:
            outcome = _pull_one(hub, model_id, force, prefix)
        except ImageLensError as error:
            typer.echo(f"{prefix}: FAILED: {_reason(error)}")
            failed.append(model_id)
            # the gravest wins: 2 unknown id, 3 not fetched, 4 missing extra
            exit_code = max(exit_code, error.exit_code)
            continue
        typer.echo(f"{prefix}: ok, {outcome}")
    if failed:
        typer.echo(f"pulled {total - len(failed)} of {total}; failed: {', '.join(failed)}")
        for line in _advice(hub, failed):
            typer.echo(line, err=True)
    else:
        typer.echo(f"pulled {total} of {total}")
    pulled = [m for m in targets if m not in failed]
    if warm_vocab:
        exit_code = max(exit_code, _warm(hub, (), pulled, prepare=pulled))
    raise typer.Exit(exit_code)


def _warm(
    hub: ModelHub,
    models: Sequence[str],
    embedders: Sequence[str] | None,
    vocabularies: Sequence[str] | None = None,
    prepare: Sequence[str] = (),
) -> int:
    """Run the warm-up: prepare ``prepare`` (OpenVINO exports), load ``models``, embed the vocabularies (those of
    ``embedders`` only, when given); print each step; the exit code."""
    from imagelens.errors import ImageLensError
    from imagelens.features.warmup import Step, Warmup, prompt_sets
    from imagelens.models.spec import Role

    if embedders is not None:
        embedders = [m for m in embedders if Role.IMAGE_TEXT_EMBEDDING in hub.spec(m).roles]
        vocabularies = []
        try:
            default = hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING) if embedders else None
        except ImageLensError:
            default = None
        if default is not None:  # nothing to embed with: import and read no vocabulary
            sets = prompt_sets(hub)
            vocabularies = list(dict.fromkeys(p.name for p in sets if (p.model_id or default) in embedders))
        if not vocabularies and not prepare and not models:
            return EXIT_OK

    def show(step: Step) -> None:
        seconds = f" in {step.seconds:.1f} s" if step.seconds is not None else ""
        detail = f" ({step.detail})" if step.detail else ""
        typer.echo(f"warm {step.kind} {step.name} [{step.model_id}]: {step.state}{seconds}{detail}")

    warmup = Warmup(hub, models, vocabularies, prepare=prepare).run(show)
    return EXIT_OK if warmup.state == "ready" else 3


@models_app.command("warm")
def warm_command(
    ids: Annotated[list[str] | None, typer.Argument(help="model ids to load too (default: none)")] = None,
    vocabulary: Annotated[
        list[str] | None, typer.Option("--vocabulary", "-v", help="only these vocabularies (default: all)")
    ] = None,
) -> None:
    """Prepare the configured models (OpenVINO exports) and embed every vocabulary of the warm-up list (tags ...)
    into the on-disk caches, loading models as needed.

    What `imagelens serve` would otherwise do at start; what is already cached is read back in milliseconds."""
    from imagelens.models.hub import ModelHub
    from imagelens.models.preparation import role_defaults

    with cli_errors():
        hub = ModelHub()
        prepare = list(dict.fromkeys([*role_defaults(hub), *(ids or ())]))
        code = _warm(hub, ids or (), None, vocabulary or None, prepare=prepare)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
