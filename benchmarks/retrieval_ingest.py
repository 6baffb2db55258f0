"""Image-search ingestion throughput (images/s) with the full-size image tower, and how it scales with batch size.

The embedder is the FULL-SIZE SigLIP 2 base/16-224 (12 layers x 768, as google/siglip2-base-patch16-224) with seeded
random weights, written by ``imagelens.testing.full_size_models.write_siglip``: random weights cost exactly what
real ones do, so the speed is real; nothing here measures retrieval quality. Images: the first ``--images`` JPEGs of
``../shared/data/coco_val2017_first128`` (real photos, ~640x480), or seeded synthetic PNGs when that folder is absent.

Each run ingests every image into a fresh embedded index through the library path users call
(:func:`imagelens.retrieval.ingest.ingest`: read, hash, decode, embed, upsert, commit per batch), pinned to
``--cores`` cores, for each batch size. Reported: wall images/s, CPU images/s (images per CPU-second of the process,
less sensitive to a shared machine), and the ratio to batch size 1.

    python benchmarks/retrieval_ingest.py --images 64 --batch-sizes 1,4,16,32
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
SIGLIP_ID = "siglip2-base-patch16-224"
COCO = REPO.parent / "shared" / "data" / "coco_val2017_first128"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def images(count: int, folder: Path) -> tuple[list[Path], str]:
    found = sorted((COCO / "images").glob("*.jpg"))[:count] if COCO.is_dir() else []
    if len(found) == count:
        return found, f"{COCO.name} (first {count} images)"
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        path = folder / f"synthetic_{i:04d}.png"
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(path)
        out.append(path)
    return out, f"{count} seeded synthetic 640x480 PNGs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,4,16,32")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = parser.parse_args()
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    import torch

    torch.set_num_threads(args.cores)
    from imagelens.analyzer import Analyzer
    from imagelens.config import HubSettings, Settings
    from imagelens.retrieval.ingest import ingest
    from imagelens.retrieval.search import create_index
    from imagelens.retrieval.vectorize import model_of
    from imagelens.testing.full_size_models import write_siglip

    tmp = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    write_siglip(tmp / "models" / SIGLIP_ID, seed=1, vocab_size=1024)
    settings = Settings(model_dir=tmp / "models", hub=HubSettings(offline=True), store_dir=tmp / "store")
    analyzer = Analyzer(settings)
    paths, source = images(args.images, tmp)
    model = model_of(analyzer.hub.embedder())
    analyzer.vectorize_image(str(paths[0]))  # load the model before timing
    rows = []
    for run, size in enumerate(int(b) for b in args.batch_sizes.split(",")):
        index = create_index(settings, f"bench{run}", model)
        c0, t0 = cpu_seconds(), time.perf_counter()
        report = ingest(analyzer, index, [str(p) for p in paths], batch_size=size)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        assert report.added == len(paths), report.as_dict()
        rows.append(
            {
                "batch_size": size,
                "images": len(paths),
                "wall_s": round(wall, 2),
                "images_per_s": round(len(paths) / wall, 2),
                "images_per_cpu_s": round(len(paths) / cpu, 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["images_per_cpu_s"]
    for row in rows:
        row["cpu_ratio_vs_first"] = round(row["images_per_cpu_s"] / base, 2)
    load = os.getloadavg()
    result = {"source": source, "cores": args.cores, "loadavg": [round(x, 1) for x in load], "rows": rows}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
