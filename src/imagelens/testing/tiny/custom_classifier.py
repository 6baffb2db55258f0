"""A tiny random classifier head in the layout
:class:`~imagelens.models.adapters.custom_classifier.CustomClassifierAdapter` loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.custom_classifier import DEFAULT_BACKBONE, ClassifierHead
from imagelens.models.spec import ModelSpec


def write(path: Path, spec: ModelSpec, seed: int = 0) -> None:
    """A random head: ``spec.options`` ``classes`` (default three), ``dim`` (32, the tiny SigLIP's) and
    ``backbone``."""
    rng = np.random.default_rng(seed)
    names = tuple(spec.options.get("classes", ("alpha", "beta", "gamma")))
    dim = int(spec.options.get("dim", 32))
    head = ClassifierHead(
        class_names=names,
        category_ids=tuple(range(1, len(names) + 1)),
        weights=rng.normal(0.0, 3.0, (len(names), dim)).astype(np.float32),
        bias=np.zeros(len(names), np.float32),
        temperature=1.0,
        backbone=str(spec.options.get("backbone", DEFAULT_BACKBONE)),
    )
    head.save(Path(path))
    mark_tiny(Path(path), spec, seed)
