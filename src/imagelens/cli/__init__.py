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
        "retrieval",
    ):
        try:
            mod = importlib.import_module(f"imagelens.cli.{module}")
        except ModuleNotFoundError as exc:  # an area not built yet
            if exc.name != f"imagelens.cli.{module}":
                raise
            continue
        mod.register(app)


_register()


def main() -> None:
    app()
