"""Put a folder (files, folders, globs, http(s) URLs) into an index: hash, skip unchanged, decode, embed in
batches, commit per batch (resumable: a re-run skips what committed), skip and count what is not an image."""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagelens.errors import ImageLensError, InvalidArgumentError
from imagelens.retrieval.base import Document
from imagelens.retrieval.embedded import EmbeddedIndex
from imagelens.retrieval.pgvector import AnyIndex, PgVectorIndex
from imagelens.retrieval.vectorize import embed_images, model_of

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer

log = logging.getLogger("imagelens.retrieval")
Progress = Callable[[int, int], None]


@dataclass(slots=True)
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def indexed(self) -> int:
        return self.added + self.updated

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            "skippedFiles": [{"path": p, "reason": r} for p, r in self.skipped],
            "seconds": round(self.seconds, 3),
        }


def expand(inputs: Iterable[str], recursive: bool = True) -> list[str]:
    """Files named, files under folders (recursive, hidden files left out), glob matches, and http(s) URLs,
    de-duplicated, sorted per input. Every file is kept whatever its suffix: ingestion decodes it, and skips and
    counts what is not an image."""
    out: list[str] = []
    for item in inputs:
        if item.startswith(("http://", "https://")):
            out.append(item)
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            walk = path.rglob("*") if recursive else path.glob("*")
            out.extend(str(p.resolve()) for p in sorted(walk) if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            out.append(str(path.resolve()))
        else:
            matches = sorted(glob.glob(str(path), recursive=True))
            if not matches:
                raise InvalidArgumentError(f"Nothing matches {item!r}.")
            out.extend(str(Path(m).resolve()) for m in matches if Path(m).is_file())
    return list(dict.fromkeys(out))


def exif_taken(data: bytes) -> str | None:
    """EXIF DateTimeOriginal (else DateTime) as ISO 8601 ``YYYY-MM-DDTHH:MM:SS``, or ``None``."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            raw = exif.get_ifd(0x8769).get(36867) or exif.get(306)
    except Exception:
        return None
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S").strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
    except ValueError:
        return None


def _read(item: str, analyzer: Analyzer) -> bytes:
    if item.startswith(("http://", "https://")):
        from imagelens.io.url import fetch_url

        return fetch_url(item, analyzer.settings.url_settings(), analyzer.settings.limits.max_bytes)
    size = os.path.getsize(item)
    if size > analyzer.settings.limits.max_bytes:
        from imagelens.errors import InvalidImageSizeError

        raise InvalidImageSizeError(f"{size} bytes; the maximum is {analyzer.settings.limits.max_bytes}")
    return Path(item).read_bytes()


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ingest(
    analyzer: Analyzer,
    index: AnyIndex,
    items: Iterable[str],
    *,
    batch_size: int = 16,
    fields: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    flush_every: int = 64,
    fields_by_item: Mapping[str, Mapping[str, Any]] | None = None,
    ids_by_item: Mapping[str, str] | None = None,
) -> IngestReport:
    """Index ``items`` (paths or URLs, see :func:`expand`) with the analyzer's embedding model (it must be the
    index's). Unchanged files (same SHA-256) are skipped; each batch commits on its own."""
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
    started = time.perf_counter()
    embedder = analyzer.hub.embedder(index.model.model_id)
    model = model_of(embedder)
    index.check_model(model)
    items = list(items)
    report = IngestReport()
    done = 0
    for n_batch, batch in enumerate(_batches(items, batch_size), start=1):
        doc_ids = {item: (ids_by_item or {}).get(item, item) for item in batch}
        known = index.sha256_of(list(doc_ids.values()))
        pixels: list[Any] = []
        docs: list[dict[str, Any]] = []
        for item in batch:
            try:
                data = _read(item, analyzer)
                digest = hashlib.sha256(data).hexdigest()
                if known.get(doc_ids[item]) == digest:
                    report.unchanged += 1
                    continue
                image = analyzer.load(data)
                pixels.append(image.array())
                mtime = None if item.startswith(("http://", "https://")) else os.path.getmtime(item)
                docs.append(
                    dict(
                        document_id=doc_ids[item],
                        uri=item,
                        sha256=digest,
                        size=len(data),
                        width=image.width,
                        height=image.height,
                        mtime=mtime,
                        taken=exif_taken(data),
                        fields=dict((fields_by_item or {}).get(item, fields or {})),
                    )
                )
            except (ImageLensError, OSError) as exc:
                reason = exc.message if isinstance(exc, ImageLensError) else f"{type(exc).__name__}: {exc}"
                log.warning("skipped %s: %s", item, reason)
                report.skipped.append((item, reason))
        if pixels:
            with analyzer.hub.using():
                vectors = embed_images(embedder, pixels)
            documents = [Document(vector=v, **d) for v, d in zip(vectors, docs, strict=True)]
            for d in documents:
                if d.document_id in known:
                    report.updated += 1
                else:
                    report.added += 1
            index.upsert(documents, model)
        done += len(batch)
        if progress is not None:
            progress(done, len(items))
        if n_batch % flush_every == 0:
            index.flush()
    index.flush()
    report.seconds = time.perf_counter() - started
    return report


def rebuild(
    analyzer: Analyzer,
    index: AnyIndex,
    *,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> tuple[AnyIndex, IngestReport]:
    """Re-embed every document of ``index`` from its URI with the analyzer's current embedding model into a fresh
    index, then swap it in place of the old one (document ids and user fields are kept). Documents whose source is
    gone are reported as skipped and dropped. Until the swap the old index answers searches; a rebuild that fails
    leaves it as it was (pgvector: a fresh table swapped in one transaction, see
    :meth:`~imagelens.retrieval.pgvector.PgVectorIndex.finish_rebuild`)."""
    import shutil

    embedder = analyzer.hub.embedder()
    model = model_of(embedder)
    started = time.perf_counter()
    if isinstance(index, PgVectorIndex):
        sources = index.sources()
        fresh_pg = index.start_rebuild(model)
        try:
            with fresh_pg.bulk_load():  # rows first, then one HNSW build
                report = ingest(
                    analyzer,
                    fresh_pg,
                    [uri or doc_id for doc_id, uri, _ in sources],
                    batch_size=batch_size,
                    progress=progress,
                    fields_by_item={uri or doc_id: fields for doc_id, uri, fields in sources},
                    ids_by_item={uri or doc_id: doc_id for doc_id, uri, _ in sources},
                )
        except BaseException:
            index.abort_rebuild(fresh_pg)
            raise
        swapped = index.finish_rebuild(fresh_pg)
        report.seconds = time.perf_counter() - started
        return swapped, report
    settings_root = index.root
    fresh_root = settings_root.with_name(settings_root.name + ".rebuild")
    if fresh_root.exists():
        shutil.rmtree(fresh_root)
    fresh = EmbeddedIndex.create(fresh_root, index.name, model)
    by_item = {doc.uri or doc.document_id: doc.fields for doc in index.documents()}
    report = ingest(
        analyzer, fresh, list(by_item), batch_size=batch_size, progress=progress, fields_by_item=by_item
    )
    old_root = settings_root.with_name(settings_root.name + ".old")
    if old_root.exists():
        shutil.rmtree(old_root)
    settings_root.rename(old_root)
    fresh_root.rename(settings_root)
    shutil.rmtree(old_root)
    report.seconds = time.perf_counter() - started
    return EmbeddedIndex.open(settings_root, index.name), report
