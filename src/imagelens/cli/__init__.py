"""The ``imagelens`` command line. Each area registers its commands; heavy imports stay inside the commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="imagelens",
    help="Self-hosted image analysis, wire-compatible with Azure AI Vision.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    import importlib

    for module in (
        "analyze",
        "models",
        "serve",
        "evaluate",
        "dataset",
        "shelf",
        "products",
        "train",
        "suggest",
        "segment",
        "retrieval",
        "video",
        "eval_features",
        "batch",
        "landmarks",
        "eval_categories",
        "eval_moderation",
        "brands",
        "feedback",
    ):
        try:
            mod = importlib.import_module(f"imagelens.cli.{module}")
        except ModuleNotFoundError as exc:  # an area not built yet
            if exc.name != f"imagelens.cli.{module}":
                raise
            continue
        mod.register(app)


def _print_version(value: bool) -> None:
    if value:
        from imagelens import __version__

        typer.echo(f"imagelens {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="print the version and exit", callback=_print_version, is_eager=True
    ),
) -> None:
    """Self-hosted image analysis, wire-compatible with Azure AI Vision."""


def version_command() -> None:
    """Print the version (as --version does)."""
    _print_version(True)


_register()
app.command("version")(version_command)


def main() -> None:
    app()
