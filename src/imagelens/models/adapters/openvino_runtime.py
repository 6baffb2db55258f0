"""OpenVINO on the CPU, for the adapters that use it (PP-OCR, the Florence-2 image encoder): whether it is installed,
and a compiled model called like a function from any thread.

Only the runtime is used (``Core.read_model``, ``compile_model``, ``save_model``): never ``openvino.convert_model``,
whose tooling sends usage telemetry by default. Models reach OpenVINO as ONNX files.

Precision: ``auto`` leaves the choice to OpenVINO, which computes in bf16 on CPUs that have it natively (AVX512_BF16,
AMX) and in f32 elsewhere; ``f32`` asks for f32 everywhere.

Memory: a compiled model keeps the intermediate buffers of its largest input so far (PP-OCR: ~200 MB after a few
receipts). :meth:`CompiledModel.release_idle` hands them back when no call is running; the adapters call it at the
end of each image, so a model that is not working holds only its weights.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError

Precision = Literal["auto", "f32"]
PRECISIONS: tuple[Precision, ...] = ("auto", "f32")


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def precision_from_env(env: str) -> Precision:
    """The precision an environment variable asks for (unset: ``auto``); anything else is refused."""
    asked = os.environ.get(env, "").strip().lower() or "auto"
    if asked not in PRECISIONS:
        raise InvalidArgumentError(f"{env} must be one of {', '.join(PRECISIONS)}, got {asked!r}")
    return "f32" if asked == "f32" else "auto"


def missing(model_id: str, env: str, instead: str) -> ModelUnavailableError:
    """The error for ``env=openvino`` without the openvino package."""
    return ModelUnavailableError(
        model_id,
        f"{env}=openvino but the openvino package is not installed "
        f"(pip install openvino, or unset {env} to use {instead})",
    )


class CompiledModel:
    """``model(x)`` feeds ``x`` to the model's single input and returns a copy of its first output.

    Tuned for latency: one stream, every core on one request. Infer requests are not thread-safe, so each calling
    thread gets its own; the compiled model (weights, kernels) is shared.
    """

    def __init__(self, path: Path, precision: Precision) -> None:
        import openvino as ov

        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
        if precision == "f32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        core = ov.Core()
        self.path = Path(path)
        self._compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self._output = self._compiled.output(0)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._running = 0
        name = str(self._compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
        #: the arithmetic OpenVINO chose on this CPU: "bf16", "f16" or "f32"
        self.kind = (
            "bf16"
            if ("bf16" in name or "bfloat16" in name)
            else "f16"
            if ("f16" in name or "float16" in name)
            else "f32"
        )

    def __call__(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        with self._lock:  # no release_idle() while a call runs
            self._running += 1
        try:
            # share_outputs=False (the default): the result is a copy, safe after the next call
            out = request.infer({0: np.ascontiguousarray(x, dtype=np.float32)}, share_inputs=True)
            return np.asarray(out[self._output])
        finally:
            with self._lock:
                self._running -= 1

    def release_idle(self) -> bool:
        """Free the intermediate buffers if no call is running (True when it did); the next call allocates anew."""
        with self._lock:
            if self._running:
                return False
            self._compiled.release_memory()
            return True
