"""A trained model's files in PostgreSQL, so that replicas on different hosts need no shared folder.

When a model is marked ``succeeded`` (:meth:`~imagelens.store.postgres.PostgresStore.update_model`), the files the
trainer wrote into its folder are stored in the table ``model_files`` (``bytea`` chunks of :data:`CHUNK_BYTES`),
in the same transaction that marks it: no replica ever sees a succeeded model whose files are not in the database.
The record's ``info["files"]`` keeps the manifest (each file's size, SHA-256 and chunk count, and one SHA-256 over
them all). Deleting the model deletes its rows (``ON DELETE CASCADE``).

A replica asked for a model whose folder it lacks, or holds in another version, materialises it
(:func:`materialise`): the chunks are written to a temporary folder beside the target, every file's size and hash
checked, a marker (:data:`MARKER`: the model's creation time and hash) written, and the folder renamed into place.
A per-name lock (a thread lock and an ``flock`` on ``root/locks/<name>.lock``) makes concurrent requests, in this
process or another one on the host, fetch it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from imagelens.errors import ImageLensError, NotFoundError

log = logging.getLogger("imagelens.store")

CHUNK_BYTES = 8 * 1024 * 1024
#: The marker a published or fetched folder carries: ``{"created": ..., "sha256": ...}`` (not part of the hash).
MARKER = ".imagelens-files.json"


class ModelFilesUnavailableError(ImageLensError):
    """A model's stored files are missing or damaged in the database: it cannot be served until it is trained again."""

    status: ClassVar[int] = 503
    code: ClassVar[str] = "ServiceUnavailable"
    inner_code: ClassVar[str] = "ModelUnavailable"
    exit_code: ClassVar[int] = 3


def _files(folder: Path) -> list[tuple[str, Path]]:
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".imagelens-") for part in rel.split("/")):
            out.append((rel, path))
    return out


def _overall(files: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f["path"]):
        h.update(f"{f['path']}\0{f['bytes']}\0{f['sha256']}\n".encode())
    return h.hexdigest()


def read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_marker(folder: Path, created: str, sha256: str) -> None:
    (folder / MARKER).write_text(json.dumps({"created": created, "sha256": sha256}))


def is_current(folder: Path, created: str, manifest: dict[str, Any]) -> bool:
    """Whether ``folder`` holds this version of the model (its marker names the same creation time and hash)."""
    marker = read_marker(folder)
    return marker is not None and marker == {"created": created, "sha256": manifest.get("sha256")}


def publish(conn: Any, name: str, folder: Path, created: str) -> dict[str, Any] | None:
    """Store the files of ``folder`` as model ``name``'s (replacing any stored before) on ``conn``, inside the
    caller's transaction; returns the manifest, or ``None`` when the folder has no files."""
    conn.execute("DELETE FROM model_files WHERE model_name = %s", (name,))
    if not folder.is_dir():
        return None
    entries: list[dict[str, Any]] = []
    for rel, path in _files(folder):
        h, size, chunk = hashlib.sha256(), 0, 0
        with path.open("rb") as src:
            while block := src.read(CHUNK_BYTES):
                conn.execute(
                    "INSERT INTO model_files (model_name, path, chunk, data) VALUES (%s, %s, %s, %s)",
                    (name, rel, chunk, block),
                )
                h.update(block)
                size += len(block)
                chunk += 1
        entries.append({"path": rel, "bytes": size, "sha256": h.hexdigest(), "chunks": chunk})
    if not entries:
        return None
    manifest = {
        "sha256": _overall(entries),
        "bytes": sum(e["bytes"] for e in entries),
        "chunk_bytes": CHUNK_BYTES,
        "files": entries,
    }
    _write_marker(folder, created, manifest["sha256"])  # this host's copy is the stored version
    return manifest


_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextlib.contextmanager
def host_lock(root: Path, name: str) -> Iterator[None]:
    """Held by one thread of one process on this host at a time, per model name."""
    key = f"{root}:{name}"
    with _thread_locks_guard:
        lock = _thread_locks.setdefault(key, threading.Lock())
    locks = root / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with lock, (locks / f"{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _target_inside(folder: Path, rel: str) -> Path:
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ModelFilesUnavailableError(f"The stored model files name an unsafe path {rel!r}.")
    return folder.joinpath(*pure.parts)


def materialise(db: Any, name: str, created: str, manifest: dict[str, Any], target: Path) -> None:
    """Write model ``name``'s stored files to ``target`` (see the module docstring); the caller holds
    :func:`host_lock`. Raises :class:`ModelFilesUnavailableError` when a chunk is missing or a file's hash differs,
    ``NotFoundError`` when the model was deleted (or trained again) meanwhile; nothing is left half-written."""
    tmp = target.parent / f".fetch-{target.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        with db.transaction() as conn:
            for entry in manifest.get("files", []):
                _fetch_file(conn, name, created, entry, _target_inside(tmp, str(entry["path"])))
        _write_marker(tmp, created, str(manifest["sha256"]))
        old = None
        if target.exists():
            old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("fetched the files of model %s (%d bytes) from the database", name, manifest.get("bytes", 0))


def _fetch_file(conn: Any, name: str, created: str, entry: dict[str, Any], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    h, size = hashlib.sha256(), 0
    with dest.open("wb") as out:
        for chunk in range(int(entry["chunks"])):
            row = conn.execute(
                "SELECT data FROM model_files WHERE model_name = %s AND path = %s AND chunk = %s",
                (name, entry["path"], chunk),
            ).fetchone()
            if row is None:
                _check_still_there(conn, name, created)
                raise ModelFilesUnavailableError(
                    f"The stored files of the custom model '{name}' are incomplete: chunk {chunk} of "
                    f"'{entry['path']}' is missing from the database; train the model again."
                )
            data = bytes(row[0])
            out.write(data)
            h.update(data)
            size += len(data)
    if size != entry["bytes"] or h.hexdigest() != entry["sha256"]:
        _check_still_there(conn, name, created)
        raise ModelFilesUnavailableError(
            f"The stored files of the custom model '{name}' are damaged: '{entry['path']}' has {size} bytes and "
            f"SHA-256 {h.hexdigest()[:12]}..., expected {entry['bytes']} bytes and {str(entry['sha256'])[:12]}...; "
            "train the model again."
        )


def _check_still_there(conn: Any, name: str, created: str) -> None:
    row = conn.execute("SELECT data->>'created' FROM models WHERE name = %s", (name,)).fetchone()
    if row is None or row[0] != created:
        raise NotFoundError(f"Resource not found: the custom model '{name}' was deleted.")
