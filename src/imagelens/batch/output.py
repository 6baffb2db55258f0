"""Batch outputs that survive a crash at any point and let a rerun resume.

One row per source: ``{"source", "status": "ok"|"error", "sha256", "result", "error"}`` (``result``: the Azure JSON
of an ``ok`` row, ``error``: Azure's error object of an ``error`` row, the other ``null``).

- **JSONL** (``*.jsonl``): rows are appended, flushed and fsynced per chunk. A torn last line (a crash in the middle
  of a write) is cut off when the file is opened again.
- **Parquet** (``*.parquet``): each chunk is a part file ``OUT.parquet.parts/part-NNNNNN.parquet`` written under a
  temporary name, fsynced and renamed; :meth:`finish` merges the parts (and the previous ``OUT.parquet``) into a new
  ``OUT.parquet`` (temporary name, fsync, rename) and removes them. ``result`` and ``error`` are JSON text columns.

A rerun that processes a source again (its content changed, or it failed before) appends a newer row; the last row
of a source wins, and :meth:`finish` rewrites the output with one row per source when there are duplicates.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from imagelens.errors import ConflictError, InvalidArgumentError

Record = dict[str, Any]
COLUMNS = ("source", "status", "sha256", "result", "error")


class BatchOutput(Protocol):
    path: Path

    def existing(self) -> dict[str, Record]:
        """The last row of each source already in the output (for resuming)."""
        ...

    def write(self, records: list[Record]) -> None:
        """Append rows durably (on disk when this returns)."""
        ...

    def finish(self) -> None:
        """Leave one clean file with one row per source."""
        ...


def open_output(path: Path) -> BatchOutput:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return JsonlOutput(path)
    if suffix == ".parquet":
        return ParquetOutput(path)
    raise InvalidArgumentError(f"The output must end in .jsonl or .parquet, got {path.name!r}.")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_per_source(records: Iterable[Record]) -> tuple[dict[str, Record], int]:
    last: dict[str, Record] = {}
    n = 0
    for record in records:
        n += 1
        last.pop(record["source"], None)  # keep the order of the last write
        last[record["source"]] = record
    return last, n


class JsonlOutput:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._duplicates = False

    def _read(self) -> list[Record]:
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        good = raw.rfind(b"\n") + 1  # everything after the last newline is a torn write
        records: list[Record] = []
        for line in raw[:good].splitlines():
            if line.strip():
                records.append(json.loads(line))
        if good != len(raw):
            with self.path.open("r+b") as f:
                f.truncate(good)
                f.flush()
                os.fsync(f.fileno())
        return records

    def existing(self) -> dict[str, Record]:
        last, n = _last_per_source(self._read())
        self._duplicates = n != len(last)
        return last

    def write(self, records: list[Record]) -> None:
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def finish(self) -> None:
        last, n = _last_per_source(self._read())
        if n == len(last):
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for record in last.values():
                f.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)


class ParquetOutput:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.parts = path.with_name(path.name + ".parts")
        self._next = 0

    @staticmethod
    def _schema() -> Any:
        import pyarrow as pa

        return pa.schema([(name, pa.string()) for name in COLUMNS])

    def _table(self, records: list[Record]) -> Any:
        import pyarrow as pa

        columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
        for r in records:
            for name in COLUMNS:
                value = r.get(name)
                if name in ("result", "error") and value is not None:
                    value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                columns[name].append(value)
        return pa.table(columns, schema=self._schema())

    def _files(self) -> list[Path]:
        files = [self.path] if self.path.exists() else []
        if self.parts.is_dir():
            files += sorted(p for p in self.parts.glob("part-*.parquet"))
        return files

    def _read(self) -> list[Record]:
        import pyarrow.parquet as pq

        out: list[Record] = []
        for file in self._files():
            for r in pq.read_table(file, schema=self._schema()).to_pylist():
                for name in ("result", "error"):
                    if r[name] is not None:
                        r[name] = json.loads(r[name])
                out.append(r)
        return out

    def existing(self) -> dict[str, Record]:
        last, _ = _last_per_source(self._read())
        if self.parts.is_dir():
            numbers = [int(p.stem.split("-")[1]) for p in self.parts.glob("part-*.parquet")]
            self._next = max(numbers, default=-1) + 1
        return last

    def _write_atomic(self, table: Any, target: Path) -> None:
        import pyarrow.parquet as pq

        tmp = target.with_name(target.name + ".tmp")
        pq.write_table(table, tmp)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)

    def write(self, records: list[Record]) -> None:
        if not records:
            return
        self.parts.mkdir(parents=True, exist_ok=True)
        while (target := self.parts / f"part-{self._next:06d}.parquet").exists():
            self._next += 1
        self._next += 1
        self._write_atomic(self._table(records), target)

    def finish(self) -> None:
        if not self.parts.is_dir():
            return
        last, _ = _last_per_source(self._read())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_atomic(self._table(list(last.values())), self.path)
        for part in self.parts.iterdir():
            part.unlink()
        self.parts.rmdir()


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``OUT.lock`` for the run: a second batch writing the same output fails at once (ConflictError)."""
    import fcntl

    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError(
                f"Another batch is writing {path}; wait for it or choose another output."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_rows(path: Path) -> list[Record]:
    """The rows of a batch output (the last row of each source), in the order they were written."""
    out = open_output(path)
    return list(out.existing().values())
