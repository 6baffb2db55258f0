"""Search an index by text, by image, by a region of an image or by a raw vector; near-duplicate groups; where
named indexes live (``<store_dir>/retrieval/<name>/``, next to the SQLite customization store).

One path for every surface: the CLI and the HTTP routes call :class:`Retriever`, which calls the
:class:`~imagelens.analyzer.Analyzer`'s ``vectorize_*`` for the query and the index for the neighbours.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagelens.config import Settings
from imagelens.errors import InvalidArgumentError, NotFoundError
from imagelens.retrieval import pgvector
from imagelens.retrieval.base import (
    EmbeddingModel,
    Filters,
    Hit,
    check_index_name,
    check_top_skip,
    check_vector,
)
from imagelens.retrieval.embedded import DB_FILE, EmbeddedIndex
from imagelens.retrieval.pgvector import AnyIndex, PgVectorIndex
from imagelens.retrieval.vectorize import BlockList, check_text, image_relevance, text_relevance
from imagelens.types import BoundingBox

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer
    from imagelens.io import ImageSource, LoadedImage

DEFAULT_INDEX = "default"


# --- where indexes live ------------------------------------------------------------------------------------------


def indexes_root(settings: Settings) -> Path:
    from imagelens.store import default_store_dir

    base = settings.store_dir if settings.store_dir is not None else default_store_dir()
    return Path(base) / "retrieval"


def index_path(settings: Settings, name: str) -> Path:
    return indexes_root(settings) / check_index_name(name)


def _database(settings: Settings) -> pgvector.Database | None:
    """The PostgreSQL database when ``IMAGELENS_DATABASE_URL`` is set: indexes then live there (pgvector)."""
    if not settings.database_url:
        return None
    from imagelens.store.pgdb import shared_database

    return shared_database(settings.database_url)


def list_indexes(settings: Settings) -> list[str]:
    if (db := _database(settings)) is not None:
        return pgvector.list_indexes(db)
    root = indexes_root(settings)
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / DB_FILE).exists())


def open_index(settings: Settings, name: str = DEFAULT_INDEX) -> AnyIndex:
    if (db := _database(settings)) is not None:
        return PgVectorIndex.open(db, check_index_name(name))
    return EmbeddedIndex.open(index_path(settings, name), name)


def create_index(settings: Settings, name: str, model: EmbeddingModel, *, exist_ok: bool = False) -> AnyIndex:
    if (db := _database(settings)) is not None:
        return PgVectorIndex.create(db, name, model, exist_ok=exist_ok)
    return EmbeddedIndex.create(index_path(settings, name), name, model, exist_ok=exist_ok)


def drop_index(settings: Settings, name: str) -> None:
    if (db := _database(settings)) is not None:
        pgvector.drop_index(db, check_index_name(name))
        return
    path = index_path(settings, name)
    if not (path / DB_FILE).exists():
        raise NotFoundError(f"The index '{name}' does not exist.")
    shutil.rmtree(path)


# --- search ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The hits (best first) of one query; ``kind`` is ``text``, ``image``, ``region`` or ``vector``."""

    kind: str
    model_version: str
    hits: tuple[Hit, ...]
    top: int
    skip: int


class Retriever:
    """Queries one index with the analyzer's embedding model. Text queries go through the block list."""

    def __init__(self, analyzer: Analyzer, index: AnyIndex, blocklist: BlockList | None = None) -> None:
        self.analyzer = analyzer
        self.index = index
        self.blocklist = blocklist if blocklist is not None else BlockList.from_env()

    def _hits(self, vector: Any, top: int, skip: int, filters: Filters | None, text: bool) -> tuple[Hit, ...]:
        rows = self.index.search(vector, top=top, skip=skip, filters=filters)
        if text:
            embedder = self.analyzer.hub.embedder(self.index.model.model_id)
            return tuple(Hit(d, c, text_relevance(embedder, c), m) for d, c, m in rows)
        return tuple(Hit(d, c, image_relevance(c), m) for d, c, m in rows)

    def by_text(
        self, text: str, top: int = 10, skip: int = 0, filters: Filters | None = None
    ) -> SearchResult:
        check_top_skip(top, skip)
        query = check_text(text, "query text")
        self.blocklist.check(query)
        result = self.analyzer.vectorize_text(query, model_version=self.index.model.model_id)
        self._check_same_model(result.model_version, result.fingerprint)
        hits = self._hits(result.vector, top, skip, filters, text=True)
        return SearchResult("text", result.model_version, hits, top, skip)

    def by_image(
        self,
        source: ImageSource | LoadedImage,
        top: int = 10,
        skip: int = 0,
        filters: Filters | None = None,
        region: BoundingBox | None = None,
    ) -> SearchResult:
        check_top_skip(top, skip)
        result = self.analyzer.vectorize_image(source, region=region, model_version=self.index.model.model_id)
        self._check_same_model(result.model_version, result.fingerprint)
        hits = self._hits(result.vector, top, skip, filters, text=False)
        return SearchResult("region" if region else "image", result.model_version, hits, top, skip)

    def by_vector(
        self, vector: Sequence[float], top: int = 10, skip: int = 0, filters: Filters | None = None
    ) -> SearchResult:
        check_top_skip(top, skip)
        query = check_vector(vector, self.index.model.dim, "query vector")
        hits = self._hits(query, top, skip, filters, text=False)
        return SearchResult("vector", self.index.model.model_id, hits, top, skip)

    def _check_same_model(self, model_id: str, fingerprint: str) -> None:
        self.index.check_model(EmbeddingModel(model_id, fingerprint, self.index.model.dim))


# --- near-duplicates ---------------------------------------------------------------------------------------------


def near_duplicates(index: AnyIndex, threshold: float = 0.95, neighbours: int = 10) -> list[list[str]]:
    """Groups (size >= 2) of documents whose vectors have cosine >= ``threshold`` to another member (single
    linkage over each document's ``neighbours`` nearest), largest group first."""
    if not 0.0 < threshold <= 1.0:
        raise InvalidArgumentError(f"threshold must be in (0, 1], got {threshold!r}")
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for doc in index.documents():
        for other, cosine, _ in index.search(doc.vector, top=neighbours + 1):
            if other != doc.document_id and cosine >= threshold:
                a, b = find(doc.document_id), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for doc_id in parent:
        groups.setdefault(find(doc_id), []).append(doc_id)
    found = [sorted(g) for g in groups.values() if len(g) > 1]
    return sorted(found, key=lambda g: (-len(g), g[0]))
