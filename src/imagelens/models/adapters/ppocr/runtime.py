"""Where a PP-OCR model runs: OpenVINO (the default when it is installed) or onnxruntime, and at what precision.

``IMAGELENS_PPOCR_RUNTIME``: ``auto`` (unset: OpenVINO if the ``openvino`` package imports, else onnxruntime),
``openvino`` or ``onnxruntime``. ``IMAGELENS_PPOCR_PRECISION`` (OpenVINO only): ``auto`` (unset: OpenVINO's own
choice, bf16 on CPUs that compute it natively, such as those with AVX512_BF16 or AMX, f32 elsewhere) or ``f32``
(the shipped fp32 arithmetic everywhere). The int8 copies (``IMAGELENS_PPOCR_INT8``) always run in onnxruntime,
where their speed and accuracy were measured.

On the 25 SROIE receipts (``benchmarks/ocr_sroie.md``, round 5) OpenVINO with bf16 reads at word F1 0.918 against
0.917 for onnxruntime fp32, for about 40 % less CPU per receipt; OpenVINO f32 gives onnxruntime's outputs (within
3e-4) at about the same cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from imagelens.models.adapters import openvino_runtime
from imagelens.models.adapters.openvino_runtime import CompiledModel, Precision
from imagelens.models.adapters.ppocr.pipeline import SESSION_CONFIG

RUNTIME_ENV = "IMAGELENS_PPOCR_RUNTIME"
PRECISION_ENV = "IMAGELENS_PPOCR_PRECISION"
Runtime = Literal["openvino", "onnxruntime"]


def chosen_runtime(model_id: str = "ppocr") -> Runtime:
    """The runtime ``IMAGELENS_PPOCR_RUNTIME`` asks for (``auto``: OpenVINO when it is installed)."""
    asked = openvino_runtime.runtime_from_env(RUNTIME_ENV, "onnxruntime")
    if asked == "onnxruntime":
        return "onnxruntime"
    if openvino_runtime.openvino_available():
        return "openvino"
    if asked == "openvino":
        raise openvino_runtime.missing(model_id, RUNTIME_ENV, "onnxruntime")
    return "onnxruntime"


def chosen_precision() -> Precision:
    return openvino_runtime.precision_from_env(PRECISION_ENV)


@dataclass(eq=False)
class Session:
    """One loaded model file: call it with the model's single input, get its first output (a new array)."""

    path: Path
    runtime: Runtime
    #: what the arithmetic is: "f32", "bf16" (OpenVINO's choice on this CPU) or "int8" (a quantised copy)
    precision: str
    _run: Any = field(repr=False)

    def __call__(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(self._run(np.ascontiguousarray(x, dtype=np.float32)))

    def release_idle(self) -> None:
        """Hand back OpenVINO's intermediate buffers when no call is running (onnxruntime frees its own)."""
        if isinstance(self._run, CompiledModel):
            self._run.release_idle()


def open_session(path: Path, model_id: str, *, int8: bool = False) -> Session:
    """A session on ``path`` (a file of model ``model_id``) in the configured runtime (onnxruntime for an int8
    copy). With ``auto``, a file OpenVINO cannot compile falls back to onnxruntime with a warning."""
    runtime = "onnxruntime" if int8 else chosen_runtime(model_id)
    if runtime == "openvino":
        precision = chosen_precision()
        # an operator OpenVINO cannot run: onnxruntime reads the file, unless told not to
        session = openvino_runtime.built_or_fallback(
            model_id, RUNTIME_ENV, path.name, lambda: _openvino_session(path, precision), "onnxruntime"
        )
        if session is not None:
            return session
    return Session(path, "onnxruntime", "int8" if int8 else "f32", _ort_runner(ort_session(path)))


def ort_session(path: Path) -> Any:
    """An onnxruntime CPU session for one PP-OCR model, tuned for a small shared machine.

    Same graph optimisation (all), same thread count (onnxruntime's default: one per physical core) and same
    results as rapidocr's session, but the intra-op threads sleep instead of spinning between the many small
    operators of a PP-OCR forward pass: on a loaded 2-core machine spinning burned ~30 % more CPU for no speed
    (``benchmarks/ocr_sroie.md``).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False  # as rapidocr: no arena growing to the largest batch ever seen
    for key, value in SESSION_CONFIG.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _ort_runner(session: Any) -> Any:
    name = session.get_inputs()[0].name

    def run(x: npt.NDArray[np.float32]) -> Any:
        return session.run(None, {name: x})[0]

    run.session = session  # type: ignore[attr-defined]  # for tests: the onnxruntime session's options
    return run


def _openvino_session(path: Path, precision: Precision) -> Session:
    model = CompiledModel(path, precision)
    return Session(Path(path), "openvino", model.kind, model)
