"""The adapter contract and the marker of tiny random-weight test models.

Every adapter is a :class:`~imagelens.models.roles.Model` (``load(path, spec)``, ``close()``, a ``spec``) and
implements the Protocol of each role its catalog entry declares (:mod:`imagelens.models.roles`). Writing tiny
random-weight models for tests is not the adapters' business: :mod:`imagelens.testing.tiny` does it, in exactly the
layout each adapter's ``load`` reads, and leaves :data:`TINY_MARKER` in the folder so people and the hub can tell.
"""

from __future__ import annotations

from pathlib import Path

from imagelens.errors import ModelUnavailableError
from imagelens.models.roles import Model
from imagelens.models.spec import ModelSpec

#: What the hub loads: any role's adapter (the role Protocols refine it).
Adapter = Model

TINY_MARKER = "IMAGELENS_TINY_RANDOM_MODEL.txt"


def checkpoint_folder(path: Path | None, spec: ModelSpec, kind: str, required: str) -> Path:
    """``path`` as the folder of a checkpoint that must hold ``required`` (a file name); a clear error when no folder
    was given (``kind`` weights never ship in a package) or the file is missing."""
    if path is None:
        raise ModelUnavailableError(
            spec.id, f"{kind} weights are not shipped in a package; no folder was given"
        )
    root = Path(path)
    if not (root / required).is_file():
        raise ModelUnavailableError(spec.id, f"{required} is missing from {root}")
    return root


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
