"""What one batch item becomes: a :class:`BatchTask` (the kind of work and its options, picklable so a process or a
Ray actor can rebuild it) and a :class:`Worker` that holds one :class:`~imagelens.analyzer.Analyzer` (models loaded
once, in its constructor) and turns a source into a wire row.

A wire row is a flat dict of strings/bytes/None (the same on the local pool and on Ray, where it travels as Arrow):

- ``source``: the path or URL; ``status``: ``ok``, ``error`` or ``unchanged`` (its content hash equals the one the
  output already holds: nothing is written);
- ``sha256``: of the bytes read (``None`` when they could not be read);
- ``result``: the Azure JSON as text (``ok``), ``error``: Azure's error object as text (``error``);
- ``blob``: bytes the driver stores beside the output (the PNG of ``remove-bg``); ``doc``: JSON text the driver
  needs to index the item (``index-add``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from imagelens.config import Settings
from imagelens.errors import ImageLensError, InvalidArgumentError, InvalidImageSizeError

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer
    from imagelens.segment import SegmentOptions

Kind = Literal["analyze", "index-add", "remove-bg"]
KINDS: tuple[Kind, ...] = ("analyze", "index-add", "remove-bg")
WIRE_FIELDS = ("source", "status", "sha256", "result", "error", "blob", "doc")
Row = dict[str, Any]


@dataclass(frozen=True)
class BatchTask:
    """``features`` and the analysis options for ``analyze``; ``segment`` (an ``imagelens.segment.SegmentOptions``)
    for ``remove-bg``; ``model_version`` (the embedding model) for ``index-add``. ``settings`` travel with the task,
    so every worker, local or on a Ray node, reads the same limits, model folder and URL policy."""

    kind: Kind
    settings: Settings = field(default_factory=Settings)
    features: tuple[str, ...] = ()
    language: str = "en"
    gender_neutral_caption: bool = False
    smartcrops_aspect_ratios: tuple[float, ...] | None = None
    model_name: str | None = None
    segment: SegmentOptions | None = None
    model_version: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidArgumentError(
                f"Unknown batch kind {self.kind!r}; expected one of {', '.join(KINDS)}."
            )
        if self.kind == "analyze" and not self.features and not self.model_name:
            raise InvalidArgumentError("batch analyze needs features (or a custom model name).")


def error_object(exc: BaseException) -> dict[str, Any]:
    """Azure's error object (``{"code", "message", "innererror"}``) for any exception of one item."""
    if isinstance(exc, ImageLensError):
        body: dict[str, Any] = exc.to_azure()["error"]
        return body
    message = f"{type(exc).__name__}: {exc}"
    return {
        "code": "InternalServerError",
        "message": message,
        "innererror": {"code": "InternalServerError", "message": message},
    }


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def read_source(source: str, settings: Settings) -> bytes:
    """The bytes of a file or of an http(s) URL (through the SSRF-guarded fetcher), at most the size limit."""
    max_bytes = settings.limits.max_bytes
    if is_url(source):
        from imagelens.io.url import fetch_url

        return fetch_url(source, settings.url_settings(), max_bytes)
    size = os.path.getsize(source)
    if size > max_bytes:
        raise InvalidImageSizeError(f"{size} bytes; the maximum is {max_bytes}")
    return Path(source).read_bytes()


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class WorkerStartError(Exception):
    """A worker could not start (a missing model ...): the ImageLensError's class and message as plain args, so it
    crosses process and Ray boundaries (not every error class can be rebuilt from its args); :meth:`original`
    rebuilds it in the driver."""

    def __init__(self, module: str, name: str, message: str, detail: dict[str, Any]) -> None:
        super().__init__(module, name, message, detail)

    @classmethod
    def wrap(cls, exc: ImageLensError) -> WorkerStartError:
        return cls(type(exc).__module__, type(exc).__qualname__, exc.message, dict(exc.detail))

    def original(self) -> ImageLensError:
        import importlib

        module, name, message, detail = self.args
        kind = getattr(importlib.import_module(module), name, None)
        if not (isinstance(kind, type) and issubclass(kind, ImageLensError)):
            return ImageLensError(message, detail)
        error = kind.__new__(kind)
        Exception.__init__(error, message)
        error.message, error.detail = message, detail
        return error


def start_worker(task: BatchTask) -> Worker:
    """A :class:`Worker`, or :class:`WorkerStartError` (portable) when it cannot start."""
    try:
        return Worker(task)
    except ImageLensError as exc:
        raise WorkerStartError.wrap(exc) from None


class Worker:
    """One per process or Ray actor: builds the Analyzer and loads the task's models once (a missing model fails
    here, before any item), then answers :meth:`process` for each item."""

    def __init__(self, task: BatchTask) -> None:
        from imagelens.analyzer import Analyzer

        self.task = task
        self.analyzer: Analyzer = Analyzer(task.settings)
        self._preload()

    def _preload(self) -> None:
        hub, task = self.analyzer.hub, self.task
        if task.kind == "index-add":
            from imagelens.models.spec import Role
            from imagelens.retrieval.vectorize import check_model_version

            hub.embedder(
                check_model_version(task.model_version, hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING))
            )
        elif task.kind == "remove-bg":
            hub.matting(task.segment.model_id if task.segment is not None else None)
        elif not task.model_name:
            from imagelens.analyzer import parse_features
            from imagelens.features.registry import feature_class

            for name in parse_features(task.features):
                for role in feature_class(name).needs:
                    hub.get(role)

    def process_many(self, items: list[tuple[str, str | None]]) -> list[Row]:
        return [self.process(source, known) for source, known in items]

    def process(self, source: str, known_sha256: str | None = None) -> Row:
        """Never raises for a bad item: its row carries Azure's error object."""
        row: Row = dict.fromkeys(WIRE_FIELDS)
        row["source"] = source
        try:
            data = read_source(source, self.task.settings)
            row["sha256"] = hashlib.sha256(data).hexdigest()
            if known_sha256 is not None and known_sha256 == row["sha256"]:
                row["status"] = "unchanged"
                return row
            result, blob, doc = self._run(source, data)
        except Exception as exc:  # one bad item never stops the batch
            row["status"] = "error"
            row["error"] = _dumps(error_object(exc))
            return row
        row.update(status="ok", result=_dumps(result), blob=blob, doc=None if doc is None else _dumps(doc))
        return row

    def _run(self, source: str, data: bytes) -> tuple[Any, bytes | None, dict[str, Any] | None]:
        task, analyzer = self.task, self.analyzer
        if task.kind == "analyze":
            from imagelens.azure.analysis import analysis_result_json
            from imagelens.features.base import AnalysisOptions

            options = AnalysisOptions(
                language=task.language,
                gender_neutral_caption=task.gender_neutral_caption,
                smartcrops_aspect_ratios=task.smartcrops_aspect_ratios,
            )
            result = analyzer.analyze(data, task.features or None, options, model_name=task.model_name)
            return analysis_result_json(result), None, None
        if task.kind == "index-add":
            from imagelens.azure.retrieval import vectorize_json
            from imagelens.retrieval.ingest import exif_taken

            vec = analyzer.vectorize_image(data, model_version=task.model_version)
            doc = {
                "model": [vec.model_version, vec.fingerprint, len(vec.vector)],
                "size": len(data),
                "width": vec.width,
                "height": vec.height,
                "mtime": None if is_url(source) else os.path.getmtime(source),
                "taken": exif_taken(data),
            }
            return vectorize_json(vec), None, doc
        meta, seg = analyzer.remove_background(data, task.segment)
        body = {"modelVersion": seg.model_id, "mode": seg.mode, "width": seg.width, "height": seg.height}
        return {**body, "metadata": {"width": meta.width, "height": meta.height}}, seg.png(), None

    def close(self) -> None:
        self.analyzer.close()
