"""What the customization store keeps, and the contract every implementation meets.

Three kinds of record, named as Azure's model-customization API names them: datasets (COCO annotation files
registered under a name), models (a training job and, once it succeeded, a trained model), and evaluations (a model
scored on a dataset). Records are frozen dataclasses; a store hands out copies and changes rows atomically, so the
HTTP server, the job threads and a CLI in another process can share one store.

A model's files (the trained head or detector, checkpoints while training) live in folders the store owns:
:meth:`CustomizationStore.model_dir` and :meth:`CustomizationStore.work_dir`; :meth:`CustomizationStore.model_files`
is the folder to load a trained model from (the PostgreSQL store fetches it from the database on a host that lacks
it).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from imagelens.errors import InvalidArgumentError

AnnotationKind = Literal["imageClassification", "imageObjectDetection"]
ModelKind = Literal["Generic-Classifier", "Generic-Detector", "Product-Recognizer"]
ModelStatus = Literal["notStarted", "training", "succeeded", "failed", "cancelling", "cancelled"]
EvaluationStatus = Literal["notStarted", "running", "succeeded", "failed"]

ANNOTATION_KINDS: tuple[AnnotationKind, ...] = ("imageClassification", "imageObjectDetection")
MODEL_KINDS: tuple[ModelKind, ...] = ("Generic-Classifier", "Generic-Detector", "Product-Recognizer")
#: The dataset annotation kind each model kind trains on.
KIND_NEEDS: dict[ModelKind, AnnotationKind] = {
    "Generic-Classifier": "imageClassification",
    "Generic-Detector": "imageObjectDetection",
    "Product-Recognizer": "imageObjectDetection",  # a detector trained on product boxes (trains as Generic-Detector)
}
ACTIVE_STATUSES: frozenset[str] = frozenset({"notStarted", "training", "cancelling"})
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
#: A model in one of these states may be created again under its name: the new job replaces it.
RETRAINABLE_STATUSES: frozenset[str] = frozenset({"failed", "cancelled"})

MAX_NAME_LENGTH = 64
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_name(name: str, what: str = "name") -> str:
    """Names travel in URL paths and become folder names: 1..64 letters, digits, '.', '_' or '-', starting with a
    letter or digit (so never '..', a slash or a hidden file)."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH or not _NAME.match(name):
        raise InvalidArgumentError(
            f"The {what} must be 1 to {MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit; got {name!r}."
        )
    return name


class ModelFiles:
    """Where every store keeps a model's files (``root/models/<name>``) and its training work (``root/jobs/<name>``):
    the metadata lives in the database (SQLite or PostgreSQL), the files beside it."""

    root: Path

    def model_dir(self, name: str) -> Path:
        return self.root / "models" / check_name(name, "model name")

    def work_dir(self, name: str) -> Path:
        return self.root / "jobs" / check_name(name, "model name")

    def _move_aside(self, name: str) -> list[Path]:
        """Rename a model's folders and log into ``root/trash/`` (same file system: atomic) to delete them later."""
        trash = self.root / "trash"
        moved: list[Path] = []
        for path in (self.model_dir(name), self.work_dir(name), self.root / "logs" / f"{name}.log"):
            if path.exists():
                trash.mkdir(parents=True, exist_ok=True)
                target = trash / f"{path.parent.name}-{path.name}-{uuid.uuid4().hex[:8]}"
                os.replace(path, target)
                moved.append(target)
        return moved

    def remove_model_files(self, name: str) -> None:
        shutil.rmtree(self.root / "models" / name, ignore_errors=True)
        shutil.rmtree(self.root / "jobs" / name, ignore_errors=True)

    def model_files(self, record: ModelRecord) -> Path:
        """The folder holding ``record``'s files on this host (here: :meth:`model_dir`; the PostgreSQL store fetches
        them from the database first when this host lacks them)."""
        return self.model_dir(record.name)

    def clear_stale_model_dir(self, record: ModelRecord) -> None:
        """Before training ``record``: remove a folder left under its name by another version of the model (a copy
        fetched from the database before the model was deleted and trained again elsewhere)."""
        from imagelens.store.pg_blobs import host_lock, read_marker

        folder = self.model_dir(record.name)
        marker = read_marker(folder)
        if marker is None or marker.get("created") == record.created:
            return
        with host_lock(self.root, record.name):
            if folder.exists():
                aside = folder.parent / f".old-{folder.name}-{uuid.uuid4().hex[:8]}"
                os.replace(folder, aside)
                shutil.rmtree(aside, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    name: str
    annotation_kind: AnnotationKind
    annotation_file_uris: tuple[str, ...]
    created: str  # ISO 8601 UTC, e.g. "2026-11-03T10:00:00Z"
    updated: str
    custom_properties: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.annotation_kind not in ANNOTATION_KINDS:
            raise ValueError(
                f"annotation_kind must be one of {ANNOTATION_KINDS}, got {self.annotation_kind!r}"
            )
        if not self.annotation_file_uris:
            raise ValueError(f"dataset {self.name!r} needs at least one annotation file URI")


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A training job and its outcome.

    ``owner`` names the process running the job (``host:pid:token``) and ``heartbeat`` when it last reported (Unix
    time); both are ``None`` when no process runs it. ``training_seconds`` adds up the time spent training over every
    attempt (Azure's ``trainingCostInMinutes``). ``progress`` is free-form (stage, epoch ...), for people.
    """

    name: str
    kind: ModelKind
    dataset_name: str
    time_budget_hours: float
    created: str
    updated: str
    status: ModelStatus = "notStarted"
    test_dataset_name: str | None = None
    performance: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    owner: str | None = None
    heartbeat: float | None = None
    attempts: int = 0
    cancel_requested: bool = False
    training_seconds: float = 0.0
    progress: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # what the trainer wrote: backbone, classes, files

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if self.time_budget_hours <= 0:
            raise ValueError(f"time_budget_hours must be > 0, got {self.time_budget_hours!r}")

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    model_name: str
    name: str
    test_dataset_name: str
    created: str
    updated: str
    status: EvaluationStatus = "notStarted"
    performance: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


@runtime_checkable
class CustomizationStore(Protocol):
    """Datasets, models and evaluations, with atomic updates. Missing names raise ``NotFoundError`` and duplicates
    ``ConflictError`` (both from :mod:`imagelens.errors`)."""

    root: Path

    # --- datasets ---
    def create_dataset(self, record: DatasetRecord) -> DatasetRecord: ...
    def get_dataset(self, name: str) -> DatasetRecord: ...
    def list_datasets(self) -> list[DatasetRecord]: ...
    def update_dataset(self, name: str, **changes: Any) -> DatasetRecord: ...
    def delete_dataset(self, name: str) -> None: ...

    # --- models ---
    def create_model(self, record: ModelRecord) -> ModelRecord:
        """Add a model. One that exists under the name is replaced when it failed or was cancelled (its record, its
        evaluations and its files, atomically: a reader sees the old record or the new one, never a mix); any other
        existing model (succeeded, or still training) raises ``ConflictError``."""
        ...

    def get_model(self, name: str) -> ModelRecord: ...
    def list_models(self) -> list[ModelRecord]: ...
    def update_model(
        self, name: str, *, expect: Mapping[str, Any] | None = None, **changes: Any
    ) -> ModelRecord | None:
        """Change fields atomically; with ``expect`` only if those fields still have those values (compare and set:
        ``None`` is returned when they do not)."""
        ...

    def claim_model(self, name: str, owner: str, statuses: frozenset[str]) -> ModelRecord | None:
        """Make ``owner`` the job's owner if nobody owns it and its status is one of ``statuses`` (atomically);
        ``None`` when another process got there first."""
        ...

    def delete_model(self, name: str) -> None: ...
    def model_dir(self, name: str) -> Path: ...
    def model_files(self, record: ModelRecord) -> Path:
        """The folder holding a model's files on this host, fetched from the database first where the store keeps
        them there (PostgreSQL) and this host lacks them or holds another version."""
        ...

    def clear_stale_model_dir(self, record: ModelRecord) -> None: ...
    def work_dir(self, name: str) -> Path: ...

    # --- evaluations ---
    def create_evaluation(self, record: EvaluationRecord) -> EvaluationRecord: ...
    def get_evaluation(self, model_name: str, name: str) -> EvaluationRecord: ...
    def list_evaluations(self, model_name: str | None = None) -> list[EvaluationRecord]: ...
    def update_evaluation(self, model_name: str, name: str, **changes: Any) -> EvaluationRecord: ...
    def delete_evaluation(self, model_name: str, name: str) -> None: ...

    def close(self) -> None: ...
