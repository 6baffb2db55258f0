"""``imagelens landmarks add NAME... | list | remove NAME...``: the user's landmark additions (kept in the store
folder, ``IMAGELENS_STORE_DIR``), on top of the configured list (``IMAGELENS_LANDMARKS__FILE``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from imagelens.cli._common import cli_errors, print_json

if TYPE_CHECKING:
    from imagelens.config import Settings

landmarks_app = typer.Typer(
    help="Landmark names recognised on top of the configured list (IMAGELENS_LANDMARKS__FILE).",
    no_args_is_help=True,
)
Names = Annotated[list[str], typer.Argument(help="landmark names (quote names with spaces)")]


def _settings() -> Settings:
    from imagelens.config import Settings

    return Settings()


@landmarks_app.command("add")
def add_command(names: Names) -> None:
    """Add landmark names (kept once, case-insensitively); the server picks them up without a restart."""
    with cli_errors():
        from imagelens.features.landmark_list import add_landmarks, additions_where

        settings = _settings()
        new = add_landmarks(settings, names)
    typer.echo(f"added {len(new)} ({len(names) - len(new)} already there) to {additions_where(settings)}")


@landmarks_app.command("remove")
def remove_command(names: Names) -> None:
    """Remove added names (names of the configured file stay: edit the file)."""
    with cli_errors():
        from imagelens.features.landmark_list import remove_landmarks

        removed = remove_landmarks(_settings(), names)
    typer.echo(f"removed {len(removed)}")


@landmarks_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    added_only: Annotated[bool, typer.Option("--added", help="only the names added here")] = False,
) -> None:
    """The landmark names in use: the configured file's, then the additions."""
    with cli_errors():
        from imagelens.features.landmark_list import list_additions, load_landmark_list

        settings = _settings()
        added = list_additions(settings)
        names = list(added) if added_only else list(load_landmark_list(settings).names)
        source = settings.landmarks.file
    if as_json:
        print_json({"file": str(source) if source else None, "added": added, "names": names})
        return
    for name in names:
        typer.echo(name)
    typer.echo(f"{len(names)} landmarks ({len(added)} added)", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(landmarks_app, name="landmarks")
