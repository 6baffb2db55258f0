"""Where imagelens keeps what it derives from models on this machine (exports, quantised copies, text embeddings)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(name: str, env: str | None = None) -> Path:
    """``$env`` when that variable is set, else ``$XDG_CACHE_HOME/imagelens/<name>`` (``~/.cache`` without XDG)."""
    explicit = os.environ.get(env) if env else None
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imagelens" / name
