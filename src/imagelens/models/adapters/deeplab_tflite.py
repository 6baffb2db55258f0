"""DeepLab v3 (MobileNet V2, PASCAL VOC, Apache-2.0, Coral's TFLite build) as a :class:`Matting` model.

In: uint8 RGB, the long side scaled to the input size and the rest padded with zeros (bottom/right), as Coral's
examples do. Out: the per-pixel class index. The matte is the set of ``foreground`` classes (default: every class
but background), so it cuts out people, animals, vehicles and furniture of the 20 VOC classes; edges are hard, so
use it with a refinement (:mod:`imagelens.segment.refine`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import cv2
import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.selfie_seg import check_rgb
from imagelens.models.adapters.tflite_runtime import TFLiteRunner, model_file
from imagelens.models.spec import ModelSpec

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


class DeepLabForegroundAdapter:
    """Role.MATTING from a semantic segmenter. Options: ``file``, ``threads``, ``foreground`` (class names)."""

    spec: ModelSpec
    runner: TFLiteRunner

    def __init__(self, spec: ModelSpec, runner: TFLiteRunner) -> None:
        self.spec = spec
        self.runner = runner
        self.input_hw = runner.rgb_input_size(spec.id)
        names = spec.options.get("foreground") or VOC_CLASSES[1:]
        unknown = [n for n in names if n not in VOC_CLASSES]
        if unknown:
            raise InvalidArgumentError(
                f"{spec.id}: unknown classes {unknown}; known: {', '.join(VOC_CLASSES)}"
            )
        self._lut = np.zeros(256, dtype=np.float32)
        for name in names:
            self._lut[VOC_CLASSES.index(name)] = 1.0

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        return cls(spec, TFLiteRunner(model_file(path, spec), spec.id, spec.options.get("threads")))

    def class_map(self, rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.int64], tuple[int, int]]:
        """The class index map at the input size and the valid (unpadded) ``(h, w)`` in it."""
        check_rgb(rgb)
        in_h, in_w = self.input_hw
        scale = min(in_h / rgb.shape[0], in_w / rgb.shape[1])
        h = max(1, min(in_h, round(rgb.shape[0] * scale)))
        w = max(1, min(in_w, round(rgb.shape[1] * scale)))
        canvas = np.zeros((in_h, in_w, 3), dtype=np.uint8)
        canvas[:h, :w] = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        out = self.runner.run(canvas[None])
        return out.reshape(in_h, in_w).astype(np.int64), (h, w)

    def matte(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        classes, (h, w) = self.class_map(rgb)
        mask = self._lut[np.clip(classes[:h, :w], 0, 255)]
        full = cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(full, 0.0, 1.0).astype(np.float32, copy=False)

    def close(self) -> None:
        self.runner.close()
