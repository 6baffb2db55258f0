"""The adapter contract: how the hub loads a model and how tests write a tiny one in the same layout."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Self, runtime_checkable

from imagelens.models.spec import ModelSpec


@runtime_checkable
class Adapter(Protocol):
    """A loaded model. Stages are ``preprocess -> forward -> postprocess``; only ``forward`` touches the backend.

    ``load`` gets the folder the hub resolved (``None`` for weights shipped inside a package and not overridden by
    ``IMAGELENS_MODEL_DIR``). ``write_tiny`` writes a random-weight model in exactly the layout ``load`` reads, so
    tests exercise the real loading path.
    """

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self: ...

    @classmethod
    def write_tiny(cls, path: Path, spec: ModelSpec, seed: int = 0) -> None: ...

    def close(self) -> None: ...


TINY_MARKER = "IMAGELENS_TINY_RANDOM_MODEL.txt"


def mark_tiny(path: Path, spec: ModelSpec, seed: int) -> None:
    """Leave a file that says, to a person and to the hub, that this folder holds random weights."""
    (path / TINY_MARKER).write_text(
        f"Tiny RANDOM-weight stand-in for '{spec.id}' (seed {seed}), written for tests.\n"
        "Its outputs are random and mean nothing. Fetch the real model with: "
        f"imagelens models pull {spec.id}\n",
        encoding="utf-8",
    )


def is_tiny(path: Path | None) -> bool:
    return path is not None and (path / TINY_MARKER).is_file()
