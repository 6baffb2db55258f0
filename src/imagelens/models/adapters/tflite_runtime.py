"""A TFLite model run with the PyPI wheel ``ai-edge-litert`` (no TensorFlow, no MediaPipe).

One interpreter per adapter, guarded by a lock: a TFLite interpreter is not safe to invoke from two threads at once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError
from imagelens.models.spec import ModelSpec

EXTRA_HINT = 'pip install "imagelens[segment]"'


def model_file(path: Path | None, spec: ModelSpec) -> Path:
    """The ``.tflite`` file in the folder the hub resolved (``spec.options["file"]``)."""
    if path is None:
        raise ModelUnavailableError(spec.id, "the hub resolved no folder for this single-file model")
    name = str(spec.options.get("file") or "")
    candidate = path / name if name else None
    if candidate is None or not candidate.is_file():
        found = sorted(path.glob("*.tflite"))
        if not found:
            raise ModelUnavailableError(spec.id, f"no .tflite file in {path}")
        candidate = found[0]
    return candidate


class TFLiteRunner:
    """Loads a ``.tflite`` file, exposes its single input's shape/dtype, and runs it (thread-safe)."""

    def __init__(self, file: Path, model_id: str, threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelUnavailableError(
                model_id, f"the TFLite runtime is not installed ({EXTRA_HINT})"
            ) from exc
        self._interpreter: Any = Interpreter(model_path=str(file), num_threads=threads)
        self._interpreter.allocate_tensors()
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or not outputs:
            raise ModelUnavailableError(model_id, f"{file.name} must have one input and an output")
        self._input = inputs[0]
        self._output = outputs[0]
        self._lock = threading.Lock()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self._input["shape"])

    def rgb_input_size(self, model_id: str) -> tuple[int, int]:
        """``(height, width)`` of an NHWC RGB input; a clear error for any other input."""
        shape = self.input_shape
        if len(shape) != 4 or shape[3] != 3:
            raise InvalidArgumentError(f"{model_id}: expected an NHWC RGB input, got shape {shape}")
        return shape[1], shape[2]

    @property
    def input_dtype(self) -> Any:
        return self._input["dtype"]

    @property
    def output_quantization(self) -> tuple[float, int]:
        """``(scale, zero point)`` of the output (``(0.0, 0)`` for a float output): real = scale * (q - zero)."""
        scale, zero = self._output.get("quantization", (0.0, 0))
        return float(scale), int(zero)

    def run(self, tensor: npt.NDArray[Any]) -> npt.NDArray[Any]:
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], tensor.astype(self.input_dtype, copy=False))
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._output["index"]))

    def close(self) -> None:
        self._interpreter = None
