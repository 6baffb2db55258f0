"""Retrieval quality harness: text->image recall@k with COCO captions (``imagelens eval retrieval``).

Every caption is a query; its image is the one right answer among all images of the set. Exact search (all
images fit in memory). Meaningful only with real weights for both towers; with random weights the figures are
chance level (about k / number of images)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagelens.errors import InvalidArgumentError
from imagelens.numeric import l2_normalise
from imagelens.retrieval.vectorize import embed_images, model_of

if TYPE_CHECKING:
    from imagelens.analyzer import Analyzer

KS = (1, 5, 10)


def _captions_file(data: Path, captions: Path | None) -> Path:
    if captions is not None:
        return captions
    found = sorted((data / "annotations").glob("captions*.json"))
    if not found:
        raise InvalidArgumentError(f"no annotations/captions*.json under {data}")
    return found[0]


def recall_at_k(sims: np.ndarray, truth: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """``sims``: (queries, images); ``truth``: the right image's column per query."""
    right = sims[np.arange(len(truth)), truth][:, None]
    rank = (sims > right).sum(axis=1)  # 0 = first
    return {f"recall@{k}": round(float((rank < k).mean()), 4) for k in ks}


def evaluate_text_to_image(
    analyzer: Analyzer, data: Path, captions: Path | None = None, batch_size: int = 16
) -> dict[str, Any]:
    started = time.perf_counter()
    doc = json.loads(_captions_file(data, captions).read_text(encoding="utf-8"))
    images = {im["id"]: im["file_name"] for im in doc["images"]}
    ids = sorted(i for i in images if (data / "images" / images[i]).exists())
    if not ids:
        raise InvalidArgumentError(f"none of the captioned images are under {data / 'images'}")
    column = {image_id: n for n, image_id in enumerate(ids)}
    anns = [a for a in doc["annotations"] if a["image_id"] in column]
    embedder = analyzer.hub.embedder()
    vecs = []
    for start in range(0, len(ids), batch_size):
        pixels = [analyzer.load(data / "images" / images[i]).array() for i in ids[start : start + batch_size]]
        with analyzer.hub.using():
            vecs.append(embed_images(embedder, pixels))
    image_vecs = np.concatenate(vecs)
    with analyzer.hub.using():
        text_vecs = np.asarray(embedder.embed_texts([a["caption"].strip() for a in anns]), dtype=np.float32)
    text_vecs = l2_normalise(text_vecs)
    truth = np.array([column[a["image_id"]] for a in anns])
    model = model_of(embedder)
    return {
        "task": "text->image",
        "model": model.model_id,
        "weights": model.fingerprint[:12],
        "images": len(ids),
        "queries": len(anns),
        **recall_at_k(text_vecs @ image_vecs.T, truth),
        "chance@1": round(1 / len(ids), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
