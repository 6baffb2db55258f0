"""BiRefNet (Zheng et al., "Bilateral Reference for High-Resolution Dichotomous Image Segmentation", MIT) in its ONNX
export, run by onnxruntime, as a :class:`~imagelens.models.roles.Matting` model for ANY subject (salient object),
not only people.

The network (onnx-community's export, as transformers.js runs it): input ``input_image`` float32 ``(1, 3, S, S)``,
RGB resized to ``S x S`` (1024 for BiRefNet_lite), scaled to [0, 1] and normalised with ImageNet's mean and std;
output ``output_image`` ``(1, 1, S, S)`` logits. ``matte`` applies the sigmoid and resizes the map back to the image
bilinearly; :mod:`imagelens.segment.refine` then sharpens its edges against the image.

The input size is read from the model when its dimensions are fixed, else ``options["input_size"]``. One run is a
single onnxruntime call that cannot check the request's deadline itself: it runs under
:func:`imagelens.deadline.watchdog`, which sets onnxruntime's ``RunOptions.terminate`` when the deadline passes or
the client goes (Azure's Timeout error then, not a 5xx).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import cv2
import numpy as np
import numpy.typing as npt

from imagelens import deadline as deadlines
from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.spec import ModelSpec
from imagelens.numeric import sigmoid

RGBImage = npt.NDArray[np.uint8]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def onnx_file(path: Path | None, spec: ModelSpec) -> Path:
    """The ``.onnx`` file in the folder the hub resolved: ``options["file"]`` in it or in its ``onnx/`` (the Hub
    repository's layout, e.g. after ``hf download --local-dir``), else the only ``.onnx`` file there."""
    if path is None:
        raise ModelUnavailableError(spec.id, "the hub resolved no folder for this single-file model")
    name = str(spec.options.get("file") or "")
    for candidate in (path / name, path / "onnx" / name) if name else ():
        if candidate.is_file():
            return candidate
    found = sorted(path.rglob("*.onnx"))
    if len(found) != 1:
        raise ModelUnavailableError(
            spec.id, f"expected {name or 'one .onnx file'} in {path}, found {len(found)} .onnx files"
        )
    return found[0]


class BiRefNetAdapter:
    """Role.MATTING: the salient-object probability as alpha. Options: ``file``, ``input_size`` (when the model's is
    dynamic), ``output`` (the output's name; default the last output), ``threads`` (None: onnxruntime's default)."""

    spec: ModelSpec

    def __init__(self, spec: ModelSpec, session: Any) -> None:
        self.spec = spec
        self._session = session
        inp = session.get_inputs()[0]
        self._input_name: str = inp.name
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise ModelUnavailableError(spec.id, f"expected an input (1, 3, H, W), got {shape}")
        default = int(spec.options.get("input_size", 1024))
        self.input_hw = tuple(d if isinstance(d, int) and d > 0 else default for d in shape[2:4])
        names = [o.name for o in session.get_outputs()]
        wanted = spec.options.get("output")
        self._output_name: str = str(wanted) if wanted in names else names[-1]
        self._mean = np.asarray(IMAGENET_MEAN, np.float32)
        self._inv_std = 1.0 / np.asarray(IMAGENET_STD, np.float32)

    @classmethod
    def load(cls, path: Path | None, spec: ModelSpec) -> Self:
        import onnxruntime as ort

        options = ort.SessionOptions()
        threads = spec.options.get("threads")
        if threads:
            options.intra_op_num_threads = int(threads)
        session = ort.InferenceSession(
            str(onnx_file(path, spec)), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return cls(spec, session)

    def preprocess(self, rgb: RGBImage) -> npt.NDArray[np.float32]:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape[:2]:
            raise InvalidArgumentError(
                f"expected an RGB uint8 (H, W, 3) array, got {rgb.dtype} {tuple(rgb.shape)}"
            )
        h, w = self.input_hw
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        small *= np.float32(1.0 / 255.0)
        small -= self._mean
        small *= self._inv_std
        return np.ascontiguousarray(small.transpose(2, 0, 1)[None])

    def logits(self, rgb: RGBImage) -> npt.NDArray[np.float32]:
        """The network's own output ``(h, w)`` at its input size (logits), stopped at the request's deadline."""
        import onnxruntime as ort

        tensor = self.preprocess(rgb)
        run_options = ort.RunOptions()

        def stop() -> None:
            run_options.terminate = True

        with deadlines.watchdog(stop):
            (out,) = self._session.run([self._output_name], {self._input_name: tensor}, run_options)
        arr = np.asarray(out, dtype=np.float32)
        return arr.reshape(arr.shape[-2], arr.shape[-1])

    def matte(self, rgb: RGBImage) -> npt.NDArray[np.float32]:
        prob = sigmoid(self.logits(rgb)).astype(np.float32)
        full = cv2.resize(prob, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(full, 0.0, 1.0).astype(np.float32, copy=False)

    def close(self) -> None:
        self._session = None


if TYPE_CHECKING:  # mypy checks the adapter against its role's Protocol
    from imagelens.models.roles import Matting

    _conforms: type[Matting] = BiRefNetAdapter
