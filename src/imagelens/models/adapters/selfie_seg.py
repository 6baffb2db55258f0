"""MediaPipe Selfie Segmentation (Apache-2.0) as a :class:`~imagelens.models.roles.Matting` model.

The network: float32 RGB/255, NHWC, the whole frame stretched to the input size (256x256 for the general model),
out a ``[1, H, W, 1]`` person probability (sigmoid applied). ``matte`` resizes it back to the image bilinearly: a
coarse matte at full size; :mod:`imagelens.segment.refine` sharpens its edges against the image.
The input size is read from the model, so any model of the same family (e.g. the 144x256 landscape one) works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import cv2
import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.tflite_runtime import TFLiteRunner, model_file
from imagelens.models.spec import ModelSpec

RGBImage = npt.NDArray[np.uint8]


def check_rgb(rgb: npt.NDArray[np.uint8]) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise InvalidArgumentError(
            f"expected an RGB uint8 (H, W, 3) array, got {rgb.dtype} {tuple(rgb.shape)}"
        )


class SelfieSegmentationAdapter:
    """Role.MATTING: person probability as alpha. Options: ``file``, ``threads`` (None: the runtime's default),
    ``input_range`` (``"0,1"`` measured best; ``"-1,1"`` for models trained so)."""

    spec: ModelSpec
    runner: TFLiteRunner

    def __init__(self, spec: ModelSpec, runner: TFLiteRunner) -> None:
        self.spec = spec
        self.runner = runner
        self.input_hw = runner.rgb_input_size(spec.id)
        low, high = (float(v) for v in str(spec.options.get("input_range", "0,1")).split(","))
        self._scale = (high - low) / 255.0
        self._offset = low

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        threads = spec.options.get("threads")
        return cls(spec, TFLiteRunner(model_file(path, spec), spec.id, threads))

    def probability(self, rgb: RGBImage) -> npt.NDArray[np.float32]:
        """The network's own output, ``(h, w)`` at its input size, in [0, 1]."""
        check_rgb(rgb)
        h, w = self.input_hw
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        tensor = small.astype(np.float32)[None] * np.float32(self._scale) + np.float32(self._offset)
        out = self.runner.run(tensor)
        prob = out.reshape(out.shape[1], out.shape[2]).astype(np.float32)
        return np.clip(prob, 0.0, 1.0)

    def matte(self, rgb: RGBImage) -> npt.NDArray[np.float32]:
        prob = self.probability(rgb)
        full = cv2.resize(prob, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(full, 0.0, 1.0).astype(np.float32, copy=False)

    def close(self) -> None:
        self.runner.close()
