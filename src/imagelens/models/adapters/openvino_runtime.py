"""OpenVINO on the CPU, for the adapters that use it (PP-OCR, the Florence-2 image encoder): whether it is installed,
and a compiled model called like a function from any thread.

Only the runtime is used (``Core.read_model``, ``compile_model``, ``save_model``): never ``openvino.convert_model``,
whose tooling sends usage telemetry by default. Models reach OpenVINO as ONNX files.

Precision: ``auto`` leaves the choice to OpenVINO, which computes in bf16 on CPUs that have it natively (AVX512_BF16,
AMX) and in f32 elsewhere; ``f32`` asks for f32 everywhere.

Memory: a compiled model keeps the intermediate buffers of its largest input so far (PP-OCR: ~200 MB after a few
receipts). :meth:`CompiledModel.release_idle` hands them back when no call is running; the adapters call it at the
end of each image, so a model that is not working holds only its weights. Those weights are repacked at the first
inference, after which the mapped file's pages are dropped from the resident set (:meth:`release_weight_file`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from imagelens.errors import InvalidArgumentError, ModelUnavailableError

Precision = Literal["auto", "f32"]
PRECISIONS: tuple[Precision, ...] = ("auto", "f32")
T = TypeVar("T")
log = logging.getLogger(__name__)


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def precision_from_env(env: str, default: Precision = "auto") -> Precision:
    """The precision an environment variable asks for (unset: ``default``); anything else is refused."""
    asked = os.environ.get(env, "").strip().lower() or default
    if asked not in PRECISIONS:
        raise InvalidArgumentError(f"{env} must be one of {', '.join(PRECISIONS)}, got {asked!r}")
    return "f32" if asked == "f32" else "auto"


def runtime_from_env(env: str, other: str = "torch") -> str:
    """Where an environment variable asks a model part to run: ``auto`` (unset; the adapter's rule), ``openvino``
    (required) or ``other`` (the adapter's own runtime); anything else is refused."""
    asked = os.environ.get(env, "").strip().lower() or "auto"
    if asked not in ("auto", "openvino", other):
        raise InvalidArgumentError(f"{env} must be one of auto, {other}, openvino, got {asked!r}")
    return asked


def built_or_fallback(
    model_id: str, env: str, part: str, build: Callable[[], T], fallback: str = "torch"
) -> T | None:
    """``build()`` (the OpenVINO version of a model's ``part``); when it fails, a clear error if ``env`` asked for
    OpenVINO, else a warning and ``None``: the caller keeps its ``fallback`` runtime."""
    try:
        return build()
    except Exception as exc:
        if runtime_from_env(env, fallback) == "openvino":
            raise ModelUnavailableError(model_id, f"its {part} could not run in OpenVINO: {exc}") from exc
        log.warning("%s: %s in %s, OpenVINO could not run it: %s", model_id, part, fallback, exc)
        return None


def missing(model_id: str, env: str, instead: str) -> ModelUnavailableError:
    """The error for ``env=openvino`` without the openvino package."""
    return ModelUnavailableError(
        model_id,
        f"{env}=openvino but the openvino package is not installed "
        f"(pip install openvino, or unset {env} to use {instead})",
    )


class CompiledModel:
    """``model(x)`` feeds ``x`` to the model's single input and returns a copy of its first output
    (:meth:`outputs`: all of them).

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
        return self.outputs(x)[0]

    def outputs(self, x: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], ...]:
        """Every output of the model for input ``x``, in the model's order (copies)."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        with self._lock:  # no release_idle() while a call runs
            self._running += 1
        try:
            # share_outputs=False (the default): the results are copies, safe after the next call
            out = request.infer({0: np.ascontiguousarray(x, dtype=np.float32)}, share_inputs=True)
            return tuple(np.asarray(out[port]) for port in self._compiled.outputs)
        finally:
            with self._lock:
                self._running -= 1

    def warm_up(self, shape: tuple[int, ...]) -> None:
        """Run one input of ``shape`` now: the first inference repacks the weights (a transient of up to ~0.5 GB
        for Florence-2's encoder), paid at load rather than in a request where every other model is resident; then
        hand back its buffers and the weight file's pages."""
        self(np.zeros(shape, np.float32))
        self.release_idle()
        self.release_weight_file()

    def release_weight_file(self) -> int:
        """Drop the model file's mapped pages from this process's resident set (bytes released): OpenVINO reads the
        weights from a mapping of the ``.bin`` file and, once an inference has repacked them into its own layout,
        no longer needs them resident (Florence-2's encoder: 166 MB; a later read would fault them back in)."""
        from imagelens.models.memory import release_clean_file_pages

        return release_clean_file_pages(self.path.parent)

    def release_idle(self) -> bool:
        """Free the intermediate buffers if no call is running (True when it did); the next call allocates anew."""
        with self._lock:
            if self._running:
                return False
            self._compiled.release_memory()
            return True
