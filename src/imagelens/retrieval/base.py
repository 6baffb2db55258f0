"""What a retrieval index is, whatever stores it: documents (an image's vector plus metadata) and the operations
on them. :class:`RetrievalIndex` is the seam: the embedded SQLite + HNSW index implements it today, a PostgreSQL /
pgvector one can implement it later without touching search, ingestion, the CLI or the routes.

Standard library and numpy only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from imagelens.errors import ConflictError, InvalidArgumentError, InvalidRequestError

Vector = npt.NDArray[np.float32]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
BUILTIN_FIELDS = ("uri", "sha256", "size", "width", "height", "mtime", "taken")


class MixedVectorsError(ConflictError):
    """A vector from another model (id or weights) than the index's: they cannot be compared."""

    inner_code = "ModelMismatch"


class VectorDimensionError(InvalidArgumentError):
    """A vector whose length is not the index's dimension."""


def check_index_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"Invalid index name {name!r}: 1-64 characters, letters, digits, '_', '-' or '.', starting with a "
            "letter or digit."
        )
    return name


def check_vector(vector: Any, dim: int, what: str = "vector") -> Vector:
    """A 1-d finite vector of length ``dim``, L2-normalised (a zero vector is refused)."""
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"The {what} must be a list of numbers.") from None
    if arr.ndim != 1:
        raise VectorDimensionError(f"The {what} must be a flat list of numbers, got shape {list(arr.shape)}.")
    if arr.shape[0] != dim:
        raise VectorDimensionError(
            f"The {what} has {arr.shape[0]} dimensions; this index holds {dim}-dimensional vectors."
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"The {what} holds NaN or infinite values.")
    norm = float(np.linalg.norm(arr))
    if norm == 0.0:
        raise InvalidArgumentError(f"The {what} is all zeros.")
    out: Vector = (arr / norm).astype(np.float32)
    return out


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    """The model an index's vectors come from: its catalog id, its weights' fingerprint and its dimension."""

    model_id: str
    fingerprint: str
    dim: int

    def check_same(self, model: EmbeddingModel, index_name: str) -> None:
        """MixedVectorsError unless ``model`` (where new vectors come from) is this index's model."""
        if model.model_id != self.model_id or model.fingerprint != self.fingerprint:
            raise MixedVectorsError(
                f"The index '{index_name}' holds vectors of model '{self.model_id}' "
                f"(fingerprint {self.fingerprint[:12]}); these come from '{model.model_id}' "
                f"(fingerprint {model.fingerprint[:12]}). Vectors of different models cannot be mixed: re-index "
                f"with 'imagelens index rebuild --index {index_name} --model {model.model_id}'."
            )
        if model.dim != self.dim:
            raise MixedVectorsError(f"The index holds {self.dim}-d vectors, the model makes {model.dim}-d.")


@dataclass(frozen=True, slots=True)
class Document:
    """One indexed image. ``document_id`` is the caller's key (a path, a URL, any string); ``fields`` are user
    metadata (JSON scalars). ``taken`` is the EXIF capture time (ISO 8601) when the image has one; ``mtime`` the
    file's modification time (seconds since the epoch)."""

    document_id: str
    vector: Vector
    uri: str | None = None
    sha256: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    mtime: float | None = None
    taken: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "sha256": self.sha256,
            "size": self.size,
            "width": self.width,
            "height": self.height,
            "mtime": self.mtime,
            "taken": self.taken,
            "fields": dict(self.fields),
        }


@dataclass(frozen=True, slots=True)
class Filters:
    """Metadata filters, ANDed. ``equals``: built-in or user field -> one value or a list of accepted values;
    ``taken_from``/``taken_to``: ISO dates (inclusive) on the EXIF date; ``prefix``: document ids or URIs starting
    with it."""

    equals: Mapping[str, Any] = field(default_factory=dict)
    taken_from: str | None = None
    taken_to: str | None = None
    prefix: str | None = None

    def __bool__(self) -> bool:
        return bool(self.equals or self.taken_from or self.taken_to or self.prefix)


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result: the document, its cosine to the query and the relevance in [0, 1] (see
    :func:`imagelens.retrieval.search.relevance`)."""

    document_id: str
    cosine: float
    relevance: float
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class IndexStats:
    name: str
    model: EmbeddingModel
    documents: int
    ann: str
    path: str | None
    bytes_on_disk: int
    created: str
    updated: str


class RetrievalIndex(Protocol):
    """An index of image vectors with metadata. Implementations refuse vectors of another model or dimension."""

    name: str
    model: EmbeddingModel

    def upsert(self, documents: Sequence[Document]) -> int: ...

    def delete(self, document_ids: Iterable[str]) -> int: ...

    def get(self, document_id: str) -> Document | None: ...

    def sha256_of(self, document_ids: Sequence[str]) -> dict[str, str | None]: ...

    def search(
        self, vector: Vector, top: int = 10, skip: int = 0, filters: Filters | None = None
    ) -> list[tuple[str, float, dict[str, Any]]]: ...

    def document_ids(self) -> list[str]: ...

    def stats(self) -> IndexStats: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def check_top_skip(top: int, skip: int, max_top: int = 1000) -> None:
    if not 1 <= top <= max_top:
        raise InvalidArgumentError(f"top must be between 1 and {max_top}, got {top}.")
    if not 0 <= skip <= 100_000:
        raise InvalidArgumentError(f"skip must be between 0 and 100000, got {skip}.")


def check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not _NAME.match(key) or key in BUILTIN_FIELDS:
            raise InvalidRequestError(
                f"Invalid metadata field name {key!r} (letters, digits, '_', '-', '.'; not one of "
                f"{', '.join(BUILTIN_FIELDS)})."
            )
        if not (value is None or isinstance(value, str | int | float | bool)):
            raise InvalidRequestError(f"Metadata field {key!r} must be a string, number, boolean or null.")
        out[key] = value
    return out
