"""What every CLI command shares: error -> exit code mapping, JSON printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from imagelens.errors import ImageLensError

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_MODEL_UNAVAILABLE = 3
EXIT_MISSING_EXTRA = 4


def fail(error: ImageLensError) -> typer.Exit:
    """Print Azure's error code and message on stderr; return the Exit to raise."""
    typer.echo(f"error: {error.inner_code}: {error.message}", err=True)
    return typer.Exit(error.exit_code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn ImageLensError into the documented exit code (0 ok, 2 bad input, 3 model unavailable)."""
    try:
        yield
    except ImageLensError as error:
        raise fail(error) from None


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or half-removed module
        return False


def require_extra(extra: str, *modules: str) -> None:
    """Exit with one line naming the extra to install when an optional dependency is missing (never a traceback).

    ``require_extra("server", "fastapi", "uvicorn", "python_multipart|multipart")``: each module is looked up without
    importing it; ``a|b`` accepts either name (a package that renamed its module).
    """
    missing = [m.split("|")[0] for m in modules if not any(_installed(alt) for alt in m.split("|"))]
    if missing:
        typer.echo(
            f"error: this command needs the '{extra}' extra ({', '.join(missing)} not installed): "
            f'pip install "imagelens[{extra}]"',
            err=True,
        )
        raise typer.Exit(EXIT_MISSING_EXTRA)


def print_json(obj: Any) -> None:
    """One JSON object on one line of stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()
