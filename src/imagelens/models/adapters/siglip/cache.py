"""What identifies an embedding model's weights, and the on-disk cache of prompt embeddings (``.npy`` files)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from imagelens.models.caches import user_cache_dir
from imagelens.models.spec import ModelSpec

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
WEIGHT_SUFFIXES = (".safetensors", ".bin")
TEXT_CACHE_FOLDER = "text_embeddings"


def weights_fingerprint(path: Path) -> str:
    """Identifies the weights without reading a 1.5 GB file: config, and each weight file's size, head and tail."""
    h = hashlib.sha256()
    config = path / "config.json"
    if config.is_file():
        h.update(config.read_bytes())
    for file in sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES):
        size = file.stat().st_size
        h.update(f"{file.name}:{size}".encode())
        with file.open("rb") as fh:
            h.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read(1 << 20))
    return h.hexdigest()


def default_cache_dir(path: Path, spec: ModelSpec) -> Path:
    """``<model folder>/text_embeddings`` for a folder we own; the user cache for a Hugging Face cache snapshot
    (whose folders belong to huggingface_hub) or a read-only folder."""
    if path.parent.name != "snapshots" and os.access(path, os.W_OK):
        return path / TEXT_CACHE_FOLDER
    return user_cache_dir(TEXT_CACHE_FOLDER) / spec.id


def read_npy(file: Path, shape: tuple[int, int]) -> FloatArray | None:
    if not file.is_file():
        return None
    try:
        array = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable text-embedding cache %s: %s", file, exc)
        return None
    if array.shape != shape or array.dtype != np.float32 or not np.all(np.isfinite(array)):
        log.warning(
            "ignoring text-embedding cache %s: shape %s dtype %s, expected %s",
            file,
            array.shape,
            array.dtype,
            shape,
        )
        return None
    return np.asarray(array)


def write_npy(file: Path, array: FloatArray) -> None:
    """Write atomically (temp file + rename), so a crash or a concurrent reader never sees half a file.
    A cache that cannot be written is a slower restart, not an error."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=file.stem, suffix=".tmp", dir=file.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, array, allow_pickle=False)
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("could not write the text-embedding cache %s: %s", file, exc)
