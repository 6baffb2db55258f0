"""One batch run, whatever the engine: read what the output already holds, send the rest in chunks to the engine
(:class:`~imagelens.batch.local.LocalEngine` or :class:`~imagelens.batch.ray_engine.RayEngine`), and for each
chunk that comes back: store its side outputs (the PNGs of ``remove-bg``, the vectors of ``index-add`` in the
retrieval index), then append its rows to the output, durably. A crash leaves a valid output; a rerun skips each
source whose content hash equals the one already written (errors whose source could not be read are retried,
``retry_errors`` retries every error).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from imagelens.batch.output import BatchOutput, Record, exclusive, open_output
from imagelens.batch.tasks import BatchTask, Row
from imagelens.errors import InvalidArgumentError

Chunk = list[tuple[str, str | None]]
Progress = Callable[[int, int], None]


class Engine(Protocol):
    name: str
    workers: int

    def run(self, task: BatchTask, chunks: list[Chunk]) -> Iterator[list[Row]]: ...


@dataclass(slots=True)
class BatchReport:
    total: int = 0
    ok: int = 0
    errors: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    engine: str = ""
    workers: int = 0
    output: str = ""
    indexed: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        return self.ok + self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "ok": self.ok,
            "errors": self.errors,
            "unchanged": self.unchanged,
            "indexed": self.indexed,
            "errorCodes": dict(self.error_codes),
            "seconds": round(self.seconds, 3),
            "itemsPerSecond": round(self.processed / self.seconds, 3) if self.seconds > 0 else None,
            "engine": self.engine,
            "workers": self.workers,
            "output": self.output,
        }


def _plan(items: list[str], existing: dict[str, Record], retry_errors: bool) -> Chunk:
    """(source, known sha256) for each item: a worker skips the item when its content hash is the known one."""
    todo: list[tuple[str, str | None]] = []
    for source in items:
        row = existing.get(source)
        known = None if row is None else row.get("sha256")
        if row is not None and row.get("status") == "error" and retry_errors:
            known = None
        todo.append((source, known))
    return todo


def _png_name(source: str, sha256: str) -> str:
    stem = Path(source.split("?")[0].rstrip("/")).stem or "image"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80]
    return f"{safe}-{sha256[:12]}.png"


class _IndexSink:
    """``index-add``: upsert each chunk's vectors into the named retrieval index (created on first use with the
    model the workers report) and flush, before the chunk's rows are written."""

    def __init__(self, task: BatchTask, index_name: str, fields: dict[str, Any]) -> None:
        self.task, self.name, self.fields = task, index_name, fields
        self.index: Any = None

    def put(self, rows: list[Row]) -> int:
        from imagelens.retrieval import search as rs
        from imagelens.retrieval.base import Document, EmbeddingModel

        docs, model = [], None
        for row in rows:
            if row["status"] != "ok" or not row.get("doc"):
                continue
            doc = json.loads(row["doc"])
            model_id, fingerprint, dim = doc.pop("model")
            model = EmbeddingModel(model_id, fingerprint, int(dim))
            vector = json.loads(row["result"])["vector"]
            docs.append(
                Document(
                    row["source"],
                    _f32(vector),
                    uri=row["source"],
                    sha256=row["sha256"],
                    fields=self.fields,
                    **doc,
                )
            )
        if not docs or model is None:
            return 0
        if self.index is None:
            self.index = rs.create_index(self.task.settings, self.name, model, exist_ok=True)
        self.index.upsert(docs, model)
        self.index.flush()
        return len(docs)

    def close(self) -> None:
        if self.index is not None:
            self.index.close()


def _f32(values: list[float]) -> Any:
    import numpy as np

    return np.asarray(values, dtype=np.float32)


def _record(row: Row, images_dir: Path | None) -> Record:
    result = json.loads(row["result"]) if row.get("result") else None
    if row.get("blob") is not None and images_dir is not None and result is not None:
        target = images_dir / _png_name(row["source"], row["sha256"])
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(row["blob"])
        tmp.replace(target)
        result = {"output": str(target), **result}
    error = json.loads(row["error"]) if row.get("error") else None
    return {
        "source": row["source"],
        "status": row["status"],
        "sha256": row["sha256"],
        "result": result,
        "error": error,
    }


def run_batch(
    task: BatchTask,
    items: list[str],
    output: Path | BatchOutput,
    engine: Engine,
    *,
    chunk_size: int = 8,
    retry_errors: bool = False,
    index_name: str = "default",
    fields: dict[str, Any] | None = None,
    images_dir: Path | None = None,
    progress: Progress | None = None,
) -> BatchReport:
    """Run ``task`` over ``items`` on ``engine`` into ``output`` (``.jsonl`` or ``.parquet``); see the module doc."""
    if chunk_size < 1:
        raise InvalidArgumentError(f"chunk_size must be >= 1, got {chunk_size}")
    out = open_output(output) if isinstance(output, Path) else output
    with exclusive(out.path):
        return _run(
            task, items, out, engine, chunk_size, retry_errors, index_name, fields, images_dir, progress
        )


def _run(
    task: BatchTask,
    items: list[str],
    out: BatchOutput,
    engine: Engine,
    chunk_size: int,
    retry_errors: bool,
    index_name: str,
    fields: dict[str, Any] | None,
    images_dir: Path | None,
    progress: Progress | None,
) -> BatchReport:
    started = time.perf_counter()
    report = BatchReport(total=len(items), engine=engine.name, workers=engine.workers, output=str(out.path))
    todo = _plan(list(dict.fromkeys(items)), out.existing(), retry_errors)
    if task.kind == "remove-bg":
        images_dir = images_dir or out.path.with_name(out.path.stem + "-images")
        images_dir.mkdir(parents=True, exist_ok=True)
    sink = _IndexSink(task, index_name, dict(fields or {})) if task.kind == "index-add" else None
    chunks = [todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size)]
    written: set[str] = set()
    done = 0
    try:
        for rows in engine.run(task, chunks):
            rows = [r for r in rows if r["source"] not in written]  # a retried chunk is written once
            done += len(rows)
            fresh = [r for r in rows if r["status"] != "unchanged"]
            report.unchanged += len(rows) - len(fresh)
            if sink is not None:
                report.indexed += sink.put(fresh)
            records = [_record(r, images_dir) for r in fresh]
            out.write(records)
            for r in records:
                if r["status"] == "ok":
                    report.ok += 1
                else:
                    report.errors += 1
                    code = (r["error"] or {}).get("innererror", {}).get("code", "Unknown")
                    report.error_codes[code] = report.error_codes.get(code, 0) + 1
            written.update(r["source"] for r in rows)
            if progress is not None:
                progress(done, len(todo))
    finally:
        if sink is not None:
            sink.close()
    out.finish()
    report.seconds = time.perf_counter() - started
    return report
