"""ANN library choice for the embedded index: usearch vs faiss-cpu vs hnswlib vs exact numpy, on the same data.

Data: ``n`` synthetic but clustered unit vectors of SigLIP 2 base's dimension (768): 2,000 cluster centres on the
sphere, each point a centre plus Gaussian noise (a per-cluster spread), L2-normalised; queries are fresh draws
from the same mixture (not in the base set). Ground truth: exact inner-product top-10 (numpy, float32).

Each library runs in its own subprocess (so peak RSS is its own), builds with every core, then answers the
queries ONE AT A TIME on one thread (latency as a single search request sees it). Memory = peak RSS of the worker
minus its RSS after loading the data (i.e. the index on top of the raw float32 matrix it was given).

    python benchmarks/retrieval_ann.py --n 100000 --out benchmarks/retrieval_ann_100k.json
    python benchmarks/retrieval_ann.py --n 1000000 --libs usearch,faiss,hnswlib,exact --out ...

Writes JSON rows; ``--markdown`` prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 768
K = 10
EFS = (32, 64, 128, 256)
N_QUERIES = 1000
CACHE = Path(os.environ.get("ANN_BENCH_CACHE", "/tmp/imagelens_ann_bench"))


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Cluster centre + structured variation in a shared 48-d subspace (per-cluster spread) + small isotropic
    noise, L2-normalised. ``ANN_BENCH_DATA=iso`` gives the harder isotropic-noise variant (no low-rank part)."""
    rng = np.random.default_rng(seed)
    centres = _centres(dim)
    n_c = len(centres)
    labels = rng.integers(0, n_c, size=n)
    iso = os.environ.get("ANN_BENCH_DATA") == "iso"
    rank = 48
    basis = np.linalg.qr(np.random.default_rng(99).standard_normal((dim, rank)))[0].astype(np.float32)
    spread = np.random.default_rng(7).uniform(0.05, 0.12, size=n_c).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for s in range(0, n, step):
        lab = labels[s : s + step]
        if iso:
            block = centres[lab] + rng.standard_normal((len(lab), dim), dtype=np.float32) * (
                spread[lab, None] / 2
            )
        else:
            z = rng.standard_normal((len(lab), rank), dtype=np.float32) * spread[lab, None]
            block = centres[lab] + z @ basis.T + rng.standard_normal((len(lab), dim), dtype=np.float32) * 0.01
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[s : s + step] = block
    return out


def _centres(dim: int, n_c: int = 2000) -> np.ndarray:
    c = np.random.default_rng(1234).standard_normal((n_c, dim), dtype=np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), 100):
        sims = queries[s : s + 100] @ base.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.take_along_axis(sims, part, 1).argsort(axis=1)[:, ::-1]
        out[s : s + 100] = np.take_along_axis(part, order, 1)
    return out


def prepare(n: int) -> tuple[Path, Path, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    tag = os.environ.get("ANN_BENCH_DATA", "lowrank")
    base_p, q_p, gt_p = (CACHE / f"{name}_{tag}_{n}.npy" for name in ("base", "queries", "gt"))
    if not gt_p.exists():
        t0 = time.perf_counter()
        base = clustered(n, DIM, seed=1)
        queries = clustered(N_QUERIES, DIM, seed=2)
        np.save(base_p, base)
        np.save(q_p, queries)
        np.save(gt_p, exact_topk(base, queries, K))
        print(f"data n={n}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return base_p, q_p, gt_p


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def worker(lib: str, n: int, threads: int) -> list[dict[str, object]]:
    base_p, q_p, gt_p = prepare(n)
    base = np.load(base_p)
    queries = np.load(q_p)
    gt = np.load(gt_p)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    params = ""
    if lib == "exact":

        def search(q: np.ndarray) -> np.ndarray:
            sims = base @ q
            part = np.argpartition(-sims, K)[:K]
            return part[np.argsort(-sims[part])]

        params = "float32 matrix @ query, argpartition"

        def set_ef(ef: int) -> None:
            pass
    elif lib.startswith("usearch"):
        from usearch.index import Index

        dtype = {"usearch": "f32", "usearch-f16": "f16", "usearch-i8": "i8"}[lib]
        index = Index(ndim=DIM, metric="ip", dtype=dtype, connectivity=16, expansion_add=128)
        index.add(np.arange(n, dtype=np.uint64), base, threads=threads)
        params = f"HNSW M=16 efC=128 {dtype}"

        def set_ef(ef: int) -> None:
            index.expansion_search = ef

        def search(q: np.ndarray) -> np.ndarray:
            return np.asarray(index.search(q, K, threads=1).keys)
    elif lib == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 128
        index.add(base)
        faiss.omp_set_num_threads(1)
        params = "IndexHNSWFlat M=16 efC=128 f32"

        def set_ef(ef: int) -> None:
            index.hnsw.efSearch = ef

        def search(q: np.ndarray) -> np.ndarray:
            return index.search(q[None, :], K)[1][0]
    elif lib == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=DIM)
        index.init_index(max_elements=n, ef_construction=128, M=16)
        index.set_num_threads(threads)
        index.add_items(base, np.arange(n))
        index.set_num_threads(1)
        params = "HNSW M=16 efC=128 f32"

        def set_ef(ef: int) -> None:
            index.set_ef(ef)

        def search(q: np.ndarray) -> np.ndarray:
            return index.knn_query(q, k=K)[0][0]
    else:
        raise SystemExit(f"unknown lib {lib}")
    build_s = time.perf_counter() - t0
    mem = rss_mb() - rss0
    rows = []
    for ef in [None] if lib == "exact" else EFS:
        if ef is not None:
            set_ef(ef)
        for q in queries[:20]:  # warm-up
            search(q)
        lat = []
        hits = 0
        for i, q in enumerate(queries):
            t = time.perf_counter()
            got = search(q)
            lat.append((time.perf_counter() - t) * 1000.0)
            hits += len(set(np.asarray(got).tolist()) & set(gt[i].tolist()))
        rows.append(
            {
                "lib": lib,
                "n": n,
                "dim": DIM,
                "params": params if ef is None else f"{params} efSearch={ef}",
                "build_s": round(build_s, 1),
                "index_mem_mb": round(mem, 0),
                "p50_ms": round(float(np.percentile(lat, 50)), 3),
                "p99_ms": round(float(np.percentile(lat, 99)), 3),
                "recall_at_10": round(hits / (K * len(queries)), 4),
                "build_threads": threads,
                "query_threads": 1,
            }
        )
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    head = "| n | library | params | build s | index MB | p50 ms | p99 ms | recall@10 |\n|---|---|---|---|---|---|---|---|"
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['n']:,} | {r['lib']} | {r['error']} | | | | | |")
            continue
        lines.append(
            f"| {r['n']:,} | {r['lib']} | {r['params']} | {r['build_s']} | {r['index_mem_mb']} | {r['p50_ms']} "
            f"| {r['p99_ms']} | {r['recall_at_10']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--libs", default="exact,usearch,usearch-i8,faiss,hnswlib")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--worker")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per library, seconds")
    ap.add_argument("--markdown", type=Path, help="print the table of a JSON result file")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.threads)))
        return
    prepare(args.n)
    rows: list[dict[str, object]] = []
    for lib in args.libs.split(","):
        cmd = [sys.executable, __file__, "--worker", lib, "--n", str(args.n), "--threads", str(args.threads)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=True)
            got = json.loads(done.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            got = [{"lib": lib, "n": args.n, "error": f"did not finish in {args.timeout:.0f} s"}]
        except subprocess.CalledProcessError as exc:
            got = [{"lib": lib, "n": args.n, "error": exc.stderr[-500:]}]
        for row in got:
            print(json.dumps(row), flush=True)
        rows.extend(got)
        if args.out:
            args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
