"""A trained custom detector: a fine-tuned RT-DETRv2 / D-FINE checkpoint in the store, served by the same adapter
as the COCO detector (:class:`~imagelens.models.adapters.rtdetr.RTDetrAdapter`).

The only difference is where the files are: a custom model's spec carries its folder in ``options["dir"]`` (the
hub passes no path for it), and its class names come from the checkpoint's ``id2label``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

from imagelens.errors import ModelUnavailableError
from imagelens.models.adapters.base import mark_tiny
from imagelens.models.adapters.rtdetr import RTDetrAdapter
from imagelens.models.spec import ModelSpec

DETECTOR_META = "custom_detector.json"  # written by imagelens.customize.train_detector


class CustomDetectorAdapter(RTDetrAdapter):
    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        folder = Path(path) if path is not None else Path(str(spec.options.get("dir", "")))
        if not (folder / "config.json").is_file():
            raise ModelUnavailableError(spec.id, f"no trained detector in {folder}")
        return super().load(folder, spec)

    @classmethod
    def write_tiny(cls, path: Path, spec: ModelSpec, seed: int = 0) -> None:
        """A tiny random RT-DETRv2 with the class names in ``spec.options["classes"]`` (default three)."""
        import torch
        from transformers import AutoModelForObjectDetection
        from transformers.utils import logging as hf_logging

        root = Path(path)
        RTDetrAdapter.write_tiny(root, spec, seed)
        names = list(spec.options.get("classes", ("alpha", "beta", "gamma")))
        id2label = dict(enumerate(names))
        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = AutoModelForObjectDetection.from_pretrained(
                    str(root), id2label=id2label, label2id={n: i for i, n in id2label.items()},
                    ignore_mismatched_sizes=True,
                )  # fmt: skip
        finally:
            hf_logging.set_verbosity(level)
        model.eval().save_pretrained(str(root))
        meta = {"class_names": names, "category_ids": list(range(1, len(names) + 1)), "base_model": "tiny"}
        (root / DETECTOR_META).write_text(json.dumps(meta), encoding="utf-8")
        mark_tiny(root, spec, seed)
