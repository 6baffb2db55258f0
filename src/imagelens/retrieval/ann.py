"""Vector indexes over L2-normalised float32 rows keyed by int ids: inner product = cosine.

``HnswIndex`` (hnswlib, chosen by measurement: benchmarks/retrieval_ann.md) is the default; ``ExactIndex`` (numpy) is
the baseline and the fallback when the ``retrieval`` extra is not installed. Both are in-memory with a file form;
neither is the source of truth: the SQLite document store is (see :mod:`imagelens.retrieval.embedded`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]


class VectorIndex(Protocol):
    """An approximate (or exact) nearest-neighbour index. ``search`` returns ids and cosines, best first; ``allowed``
    restricts the candidates (metadata filters)."""

    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: Ids, vectors: Vectors) -> None: ...

    def remove(self, ids: Iterable[int]) -> None: ...

    def search(
        self, query: Vectors, k: int, allowed: Callable[[int], bool] | None = None
    ) -> tuple[Ids, Vectors]: ...

    def save(self, path: Path) -> None: ...


class ExactIndex:
    """Brute force: ``matrix @ query``. Exact; linear in the number of vectors."""

    kind = "exact"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids: Ids = np.empty(0, dtype=np.int64)
        self._vectors: Vectors = np.empty((0, dim), dtype=np.float32)
        self._pending: list[tuple[Ids, Vectors]] = []
        self._removed: set[int] = set()

    def _compact(self) -> None:
        if self._pending:
            self._ids = np.concatenate([self._ids, *(p[0] for p in self._pending)])
            self._vectors = np.concatenate([self._vectors, *(p[1] for p in self._pending)])
            self._pending = []
        if self._removed:
            keep = ~np.isin(self._ids, np.fromiter(self._removed, dtype=np.int64))
            self._ids, self._vectors = self._ids[keep], self._vectors[keep]
            self._removed = set()

    def __len__(self) -> int:
        self._compact()
        return len(self._ids)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        self._pending.append((np.asarray(ids, dtype=np.int64), np.asarray(vectors, dtype=np.float32)))

    def remove(self, ids: Iterable[int]) -> None:
        self._removed.update(int(i) for i in ids)

    def search(
        self, query: Vectors, k: int, allowed: Callable[[int], bool] | None = None
    ) -> tuple[Ids, Vectors]:
        self._compact()
        if not len(self._ids) or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        sims = self._vectors @ query.astype(np.float32)
        if allowed is not None:
            mask = np.fromiter((allowed(int(i)) for i in self._ids), dtype=bool, count=len(self._ids))
            sims = np.where(mask, sims, -np.inf)
        k = min(k, len(sims))
        part = np.argpartition(-sims, k - 1)[:k]
        order = part[np.argsort(-sims[part], kind="stable")]
        order = order[np.isfinite(sims[order])]
        return self._ids[order], sims[order].astype(np.float32)

    def save(self, path: Path) -> None:
        self._compact()
        with open(path, "wb") as fh:
            np.savez(fh, ids=self._ids, vectors=self._vectors)

    @classmethod
    def load(cls, path: Path, dim: int) -> ExactIndex:
        with np.load(path) as data:
            index = cls(dim)
            index._ids = data["ids"].astype(np.int64)
            index._vectors = data["vectors"].astype(np.float32)
        if index._vectors.shape[1:] != (dim,):
            raise ValueError(f"saved vectors have shape {index._vectors.shape}, expected (*, {dim})")
        return index


class HnswIndex:
    """HNSW graph (hnswlib, Apache-2.0): M=16, ef_construction=128, ef_search=max(128, 2k). Deletes are marks
    (the slot is reused by a later add); ``allowed`` is hnswlib's filter callback."""

    kind = "hnsw"
    M = 16
    EF_CONSTRUCTION = 128
    EF_SEARCH = 128

    def __init__(self, dim: int, capacity: int = 1024, threads: int | None = None) -> None:
        import hnswlib

        self.dim = dim
        self._threads = threads or max(1, os.cpu_count() or 1)
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(
            max_elements=max(capacity, 16),
            ef_construction=self.EF_CONSTRUCTION,
            M=self.M,
            allow_replace_deleted=True,
        )
        self._index.set_num_threads(self._threads)
        self._live: set[int] = set()

    def __len__(self) -> int:
        return len(self._live)

    def _reserve(self, extra: int) -> None:
        need = self._index.get_current_count() + extra
        cap = self._index.get_max_elements()
        if need > cap:
            self._index.resize_index(max(need, cap * 2))

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        again = [int(i) for i in ids if int(i) in self._live]
        if again:  # an id is never reused by the store; replace it cleanly anyway
            self.remove(again)
        self._reserve(len(ids))
        self._index.add_items(np.asarray(vectors, dtype=np.float32), ids, replace_deleted=True)
        self._live.update(int(i) for i in ids)

    def remove(self, ids: Iterable[int]) -> None:
        for i in ids:
            if int(i) in self._live:
                self._index.mark_deleted(int(i))
                self._live.discard(int(i))

    def search(
        self, query: Vectors, k: int, allowed: Callable[[int], bool] | None = None
    ) -> tuple[Ids, Vectors]:
        k = min(k, len(self._live))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        self._index.set_ef(max(self.EF_SEARCH, 2 * k))
        try:
            labels, dist = self._index.knn_query(
                np.asarray(query, dtype=np.float32)[None, :], k=k, num_threads=1, filter=allowed
            )
        except RuntimeError:  # fewer than k candidates pass the filter
            return self._filtered_fallback(query, k, allowed)
        return labels[0].astype(np.int64), (1.0 - dist[0]).astype(np.float32)

    def _filtered_fallback(
        self, query: Vectors, k: int, allowed: Callable[[int], bool] | None
    ) -> tuple[Ids, Vectors]:
        ids = np.fromiter((i for i in self._live if allowed is None or allowed(i)), dtype=np.int64)
        if not len(ids):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        vectors = np.asarray(self._index.get_items(ids), dtype=np.float32)
        exact = ExactIndex(self.dim)
        exact.add(ids, vectors)
        return exact.search(query, k)

    def save(self, path: Path) -> None:
        self._index.save_index(str(path))

    @classmethod
    def load(cls, path: Path, dim: int, live: Iterable[int], threads: int | None = None) -> HnswIndex:
        import hnswlib

        index = cls.__new__(cls)
        index.dim = dim
        index._threads = threads or max(1, os.cpu_count() or 1)
        index._index = hnswlib.Index(space="ip", dim=dim)
        index._index.load_index(str(path), allow_replace_deleted=True)
        index._index.set_num_threads(index._threads)
        index._live = {int(i) for i in live}
        return index


def hnsw_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("hnswlib") is not None
