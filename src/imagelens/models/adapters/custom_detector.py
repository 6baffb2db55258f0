"""A trained custom detector: a fine-tuned RT-DETRv2 / D-FINE checkpoint in the store, served by the same adapter
as the COCO detector (:class:`~imagelens.models.adapters.rtdetr.RTDetrAdapter`).

The only difference is where the files are: a custom model's spec carries its folder in ``options["dir"]`` (the
hub passes no path for it), and its class names come from the checkpoint's ``id2label``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from imagelens.errors import ModelUnavailableError
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
