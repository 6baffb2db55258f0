"""The adapter contract and the marker of tiny random-weight test models.

Every adapter is a :class:`~imagelens.models.roles.Model` (``load(path, spec)``, ``close()``, a ``spec``) and
implements the Protocol of each role its catalog entry declares (:mod:`imagelens.models.roles`). Writing tiny
random-weight models for tests is not the adapters' business: :mod:`imagelens.testing.tiny` does it, in exactly the
layout each adapter's ``load`` reads, and leaves :data:`TINY_MARKER` in the folder so people and the hub can tell.
"""

from __future__ import annotations

from pathlib import Path

from imagelens.models.roles import Model
from imagelens.models.spec import ModelSpec

#: What the hub loads: any role's adapter (the role Protocols refine it).
Adapter = Model

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
