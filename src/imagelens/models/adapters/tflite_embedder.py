"""An image-only embedding extractor in TFLite (e.g. Coral's MobileNet V1 embedding extractor, Apache-2.0) as an
:class:`~imagelens.models.roles.ImageEmbedder`: the small, real backbone of few-shot custom classifiers.

The network: RGB NHWC at its input size (224x224), the whole frame stretched; a ``uint8`` input takes the plain
0-255 pixels (the model's own quantisation maps them to [-1, 1]), a float input takes ``pixel / 127.5 - 1``. Out:
the pooled features (``[1, 1, 1, D]``), de-quantised with the output's own scale and zero point, then
L2-normalised. Runs in the PyPI wheel ``ai-edge-litert`` (the loader is :mod:`.tflite_runtime`, shared with the
segmenters). No text tower: it serves no tags and no text search.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

import cv2
import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError
from imagelens.models.adapters.selfie_seg import check_rgb
from imagelens.models.adapters.tflite_runtime import TFLiteRunner, model_file
from imagelens.models.spec import ModelSpec
from imagelens.numeric import l2_normalise

RGBImage = npt.NDArray[np.uint8]


class TFLiteImageEmbedder:
    """Role.IMAGE_EMBEDDING. Options: ``file``, ``threads`` (None: the runtime's default)."""

    spec: ModelSpec
    runner: TFLiteRunner
    fingerprint: str

    def __init__(self, spec: ModelSpec, runner: TFLiteRunner, fingerprint: str = "") -> None:
        self.spec = spec
        self.runner = runner
        self.fingerprint = fingerprint
        shape = runner.input_shape
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
            raise InvalidArgumentError(f"{spec.id}: expected a [1, H, W, 3] RGB input, got shape {shape}")
        self.input_hw = (shape[1], shape[2])
        self._dim: int | None = None

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        file = model_file(path, spec)
        fingerprint = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
        return cls(spec, TFLiteRunner(file, spec.id, spec.options.get("threads")), fingerprint)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed_images([np.zeros((8, 8, 3), np.uint8)]).shape[1])
        return self._dim

    def preprocess(self, rgb: RGBImage) -> npt.NDArray[np.generic]:
        check_rgb(rgb)
        h, w = self.input_hw
        small = cv2.resize(
            rgb, (w, h), interpolation=cv2.INTER_AREA if rgb.shape[0] > h else cv2.INTER_LINEAR
        )
        if np.dtype(self.runner.input_dtype) == np.uint8:
            return np.ascontiguousarray(small[None])
        return (small.astype(np.float32)[None] / np.float32(127.5)) - np.float32(1.0)

    def forward(self, tensor: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
        raw = self.runner.run(tensor).reshape(-1)
        scale, zero = self.runner.output_quantization
        if scale:
            return ((raw.astype(np.float32) - np.float32(zero)) * np.float32(scale)).astype(np.float32)
        return raw.astype(np.float32)

    def embed_images(self, images: Sequence[RGBImage]) -> npt.NDArray[np.float32]:
        rows = [self.forward(self.preprocess(np.asarray(im))) for im in images]
        if not rows:
            return np.zeros((0, self._dim or 0), np.float32)
        return l2_normalise(np.stack(rows)).astype(np.float32, copy=False)

    def close(self) -> None:
        self.runner.close()


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import ImageEmbedder

    _conforms: type[ImageEmbedder] = TFLiteImageEmbedder
