"""Few-shot custom classification measured end to end: a classification CSV (train/test split column), the real
training recipe (:func:`imagelens.customize.train_classifier.train_classifier`) on embeddings from an image
embedder of the catalog, then accuracy on the test split through the trained head."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from imagelens.customize.dataset import load_classification_csv
from imagelens.customize.metrics import evaluate_classification
from imagelens.customize.train_classifier import ClassifierConfig, train_classifier
from imagelens.evaluation.report import EvalReport
from imagelens.evaluation.run import load_rgb
from imagelens.evaluation.thresholds import pr_curve, threshold_for_precision
from imagelens.models.hub import ModelHub


def evaluate_fewshot(
    hub: ModelHub,
    labels_csv: Path,
    *,
    model_id: str | None = None,
    shots: int | None = None,
    target_precision: float = 0.9,
    config: ClassifierConfig | None = None,
) -> EvalReport:
    """Train on ``split == train`` (the first ``shots`` per class when given), score ``split == test``."""
    train = load_classification_csv(labels_csv, split="train")
    test = load_classification_csv(labels_csv, split="test")
    if shots is not None:
        labels = train.image_labels()
        seen: dict[int, int] = {}
        keep = []
        for im in train.images:
            c = labels[im.id]
            if seen.get(c, 0) < shots:
                seen[c] = seen.get(c, 0) + 1
                keep.append(im.id)
        train = train.subset(keep)
    embedder = hub.image_embedder(model_id)

    def load(im: Any) -> Any:
        return load_rgb(str(im.path))

    t0 = time.perf_counter()
    result = train_classifier(
        train, embedder, load, backbone=embedder.spec.id, backbone_fingerprint=embedder.fingerprint,
        config=config or ClassifierConfig(),
    )  # fmt: skip
    train_s = time.perf_counter() - t0
    head = result.head
    index = {cid: i for i, cid in enumerate(head.category_ids)}
    test_labels = test.image_labels()
    images = [im for im in test.images if im.id in test_labels]
    t1 = time.perf_counter()
    probs = head.probabilities(embedder.embed_images([load(im) for im in images]))
    ms = 1000.0 * (time.perf_counter() - t1) / max(1, len(images))
    y = np.asarray([index[test_labels[im.id]] for im in images])
    m = evaluate_classification(
        y, probs, class_names=list(head.class_names), category_ids=list(head.category_ids)
    )
    top = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    curve = pr_curve(conf, top == y, len(y))
    choice = threshold_for_precision(curve, target_precision)
    per_class = train.image_labels()
    return EvalReport(
        feature="custom-classifier",
        model=embedder.spec.id,
        data=str(labels_csv.parent),
        n=len(images),
        metrics={
            "accuracy": float(np.mean(top == y)),
            "ways": len(head.class_names),
            "shots": int(max(np.bincount(list(per_class.values())))) if per_class else 0,
            "train_s": train_s,
            "ms_per_image": ms,
        },
        threshold=choice.to_dict(),
        details={"classification": m.to_dict(), "num_train": result.num_train},
    )
