"""Image->image retrieval with REAL weights: the Coral MobileNet V1 embedding extractor (image tower only, 1024-d,
Apache-2.0, ../shared/models/coral-mobilenet-v1-embedding) through imagelens' embedded index, on the 79 COCO images
of ../shared/data/coco_val2017_mini79.

1. Near-duplicates: each image plus three edited copies (mirror, half-size, JPEG quality 30). Search by each copy:
   is its original the top hit among the 79 originals? And ``near_duplicates(threshold)``: pair precision/recall.
2. Search by image: for each original, does its nearest other original share a COCO category (vs a random pair)?

    python benchmarks/retrieval_quality_coral.py [--threshold 0.9]

Text->image quality is NOT measured here (no real text tower on this machine); see ``imagelens eval retrieval``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IMAGELENS_SHARED", "/work/shared"))
MODEL = SHARED / "models/coral-mobilenet-v1-embedding/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
DATA = SHARED / "data/coco_val2017_mini79"


def embedder() -> tuple[object, str]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(MODEL))
    interp.allocate_tensors()
    return interp, hashlib.sha256(MODEL.read_bytes()).hexdigest()


def embed(interp: object, image: Image.Image) -> np.ndarray:
    inp = interp.get_input_details()[0]  # type: ignore[attr-defined]
    out = interp.get_output_details()[0]  # type: ignore[attr-defined]
    arr = np.asarray(image.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.uint8)[None]
    interp.set_tensor(inp["index"], arr)  # type: ignore[attr-defined]
    interp.invoke()  # type: ignore[attr-defined]
    q = interp.get_tensor(out["index"]).reshape(-1).astype(np.float32)  # type: ignore[attr-defined]
    scale, zero = out["quantization"]
    v = (q - zero) * scale
    return (v / np.linalg.norm(v)).astype(np.float32)


def edits(image: Image.Image) -> dict[str, Image.Image]:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=30)
    return {
        "mirror": ImageOps.mirror(image),
        "half": image.resize((image.width // 2, image.height // 2)),
        "jpeg30": Image.open(io.BytesIO(buf.getvalue())),
    }


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from imagelens.retrieval.base import Document, EmbeddingModel
    from imagelens.retrieval.embedded import EmbeddedIndex
    from imagelens.retrieval.search import near_duplicates

    ap = argparse.ArgumentParser()
    ap.add_argument("--threshold", type=float, default=0.9)
    args = ap.parse_args()
    interp, sha = embedder()
    coco = json.loads((DATA / "annotations/instances_val2017.json").read_text())
    cats: dict[str, set[int]] = {}
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    for ann in coco["annotations"]:
        cats.setdefault(names[ann["image_id"]], set()).add(ann["category_id"])
    files = sorted(p for p in (DATA / "images").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    t0 = time.perf_counter()
    originals = {p.name: embed(interp, Image.open(p)) for p in files}
    copies = {(p.name, k): embed(interp, im) for p in files for k, im in edits(Image.open(p)).items()}
    embed_s = time.perf_counter() - t0
    model = EmbeddingModel("coral-mobilenet-v1-embedding", sha, 1024)
    with tempfile.TemporaryDirectory() as tmp:
        index = EmbeddedIndex.create(Path(tmp) / "idx", "coral", model)
        index.upsert([Document(n, v) for n, v in originals.items()], model)
        top1 = {k: 0 for k in ("mirror", "half", "jpeg30")}
        for (name, kind), v in copies.items():
            top1[kind] += index.search(v, top=1)[0][0] == name
        nn_share = 0
        for name, v in originals.items():
            other = [h for h in index.search(v, top=2) if h[0] != name][0][0]
            nn_share += bool(cats.get(name, set()) & cats.get(other, set()))
        rng = np.random.default_rng(0)
        pairs = [tuple(rng.choice(len(files), 2, replace=False)) for _ in range(2000)]
        rand_share = np.mean(
            [bool(cats.get(files[a].name, set()) & cats.get(files[b].name, set())) for a, b in pairs]
        )
        # near-duplicate groups over originals + copies
        index.upsert([Document(f"{n}#{k}", v) for (n, k), v in copies.items()], model)
        groups = near_duplicates(index, args.threshold)
        found = {frozenset((a, b)) for g in groups for a in g for b in g if a < b}
        truth = {
            frozenset((a, b))
            for g in ({p.name, *(f"{p.name}#{k}" for k in top1)} for p in files)
            for a in g
            for b in g
            if a < b
        }
        tp = len(found & truth)
    n = len(files)
    print(
        f"| images | {n} (+{len(copies)} edited copies), embedding {embed_s / (n + len(copies)) * 1000:.1f} ms/image |"
    )
    for kind, hits in top1.items():
        print(f"| copy ({kind}) finds its original at rank 1 | {hits}/{n} = {hits / n:.3f} |")
    print(
        f"| near_duplicates(threshold={args.threshold}): pair precision | {tp}/{len(found)} = {tp / max(len(found), 1):.3f} |"
    )
    print(
        f"| near_duplicates(threshold={args.threshold}): pair recall | {tp}/{len(truth)} = {tp / len(truth):.3f} |"
    )
    print(
        f"| nearest other image shares a COCO category | {nn_share}/{n} = {nn_share / n:.3f} (random pair: {rand_share:.3f}) |"
    )


if __name__ == "__main__":
    main()
