"""The DETR detectors (RT-DETRv2, D-FINE, and the custom detectors fine-tuned from them) in OpenVINO, in f32 by
default: the same arithmetic as torch's, in about two thirds of the time.

``IMAGELENS_DETECTOR_RUNTIME``: ``auto`` (the default: OpenVINO when it is installed and the export works; torch
otherwise, or when the export fails, with a warning), ``openvino`` (required: an error when it cannot run) or
``torch``. ``IMAGELENS_DETECTOR_PRECISION`` (OpenVINO only): ``f32`` (the default) or ``auto`` (OpenVINO's choice:
bf16 on CPUs that compute it natively, about twice as fast again; its effect on real weights' accuracy is not
measured here, so it is opt-in: check it on your own images first).

The network (pixels -> class logits and boxes) is exported once per checkpoint by :mod:`.openvino_export` (a child
process, a few seconds) and stored as OpenVINO IR with f32 weights under
``$XDG_CACHE_HOME/imagelens/detector-openvino`` (``IMAGELENS_DETECTOR_OPENVINO_DIR``). The serving process then never
loads the torch model. Pre- and post-processing stay the adapter's own (numpy), so both runtimes decode alike.

Measured (``benchmarks/perf_targets.md``, full-size random RT-DETRv2-S at 640 px, 2 cores, 2026-12-03): 0.32 s per
image against 0.48 s in torch; on weights whose batch norms were calibrated on real photos (so the query selection
is not a tie), the 20 best detections of 8 COCO images are the same queries, boxes and classes, scores within 1e-5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from imagelens.models.adapters import openvino_export, openvino_runtime
from imagelens.models.adapters.openvino_runtime import Precision
from imagelens.models.caches import user_cache_dir

RUNTIME_ENV = "IMAGELENS_DETECTOR_RUNTIME"
PRECISION_ENV = "IMAGELENS_DETECTOR_PRECISION"
CACHE_ENV = "IMAGELENS_DETECTOR_OPENVINO_DIR"
RECIPE = "detr-onnx17-f32ir-v1"  # bump when the export changes: old cache entries are then never read
#: the function the export child runs (openvino_export.run_exporter)
EXPORTER = f"{__name__}:export_detector"
IR_FILE = "detector.xml"


def chosen_runtime(model_id: str) -> Literal["openvino", "torch"]:
    """Where the detector runs: ``auto`` is OpenVINO whenever it is installed."""
    asked = openvino_runtime.runtime_from_env(RUNTIME_ENV)
    available = openvino_runtime.openvino_available()
    if asked == "openvino" and not available:
        raise openvino_runtime.missing(model_id, RUNTIME_ENV, "torch")
    if asked == "auto":
        return "openvino" if available else "torch"
    return "openvino" if asked == "openvino" else "torch"


def chosen_precision() -> Precision:
    return openvino_runtime.precision_from_env(PRECISION_ENV, default="f32")


def detector_ir(folder: Path, height: int, width: int, cache_dir: Path | None = None) -> Path:
    """The OpenVINO IR of the detector in ``folder`` for ``height`` x ``width`` inputs: cached, or exported now."""
    root = cache_dir or user_cache_dir("detector-openvino", CACHE_ENV)
    size = f"{height}x{width}"
    return openvino_export.exported_ir(EXPORTER, folder, size, root=root, recipe=RECIPE, file_name=IR_FILE)


def export_detector(folder: str, out: str, size: str) -> None:
    """(In the export child.) Load the fp32 checkpoint, export pixels -> (logits, boxes) to ONNX, store it as IR
    with f32 weights in ``out``."""
    import torch
    from transformers import AutoModelForObjectDetection

    class Network(torch.nn.Module):
        """pixel_values (1, 3, H, W) -> class logits (1, Q, C) and normalised cx, cy, w, h boxes (1, Q, 4)."""

        def __init__(self, detector: Any) -> None:
            super().__init__()
            self.detector = detector

        def forward(self, pixel_values: Any) -> Any:
            out = self.detector(pixel_values=pixel_values)
            return out.logits, out.pred_boxes

    height, width = (int(side) for side in size.split("x"))
    model = AutoModelForObjectDetection.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    network = Network(model.eval()).eval()
    onnx_path = Path(out) / "detector.onnx"
    with torch.no_grad():
        torch.onnx.export(
            network,
            (torch.zeros(1, 3, height, width),),
            str(onnx_path),
            dynamo=False,
            opset_version=17,
            input_names=["pixel_values"],
            output_names=["logits", "boxes"],
        )
    del model, network
    openvino_export.onnx_to_ir(onnx_path, Path(out) / IR_FILE, compress_to_fp16=False)


class OpenVinoDetr:
    """The compiled network: ``network(pixel_values)`` -> ``(logits (Q, C), boxes (Q, 4))`` of the one image, from
    any thread. Its intermediate buffers are handed back after each image when no other image is running."""

    def __init__(self, ir: Path, precision: Precision, height: int, width: int) -> None:
        self.ir = ir
        self._model = openvino_runtime.CompiledModel(ir, precision)
        #: the arithmetic OpenVINO chose: "bf16", "f16" or "f32"
        self.precision = self._model.kind
        self._model.warm_up((1, 3, height, width))

    def __call__(
        self, pixel_values: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        try:
            logits, boxes = self._model.outputs(pixel_values)[:2]
            return logits[0], boxes[0]
        finally:
            self._model.release_idle()


def openvino_network(folder: Path, model_id: str, height: int, width: int) -> OpenVinoDetr | None:
    """The detector's network in OpenVINO, or ``None`` to keep torch (``IMAGELENS_DETECTOR_RUNTIME``; by default a
    failed export falls back to torch with a warning)."""
    if chosen_runtime(model_id) != "openvino":
        return None
    precision = chosen_precision()
    return openvino_runtime.built_or_fallback(
        model_id,
        RUNTIME_ENV,
        "detector",
        lambda: OpenVinoDetr(detector_ir(folder, height, width), precision, height, width),
    )


def prepare_network(folder: Path, model_id: str, height: int, width: int) -> Path | None:
    """Export the network now where it will run in OpenVINO (what a first load would otherwise do); the IR, or
    ``None`` (torch: nothing to do; or, by default, a failed export, with a warning)."""
    if chosen_runtime(model_id) != "openvino":
        return None
    return openvino_runtime.built_or_fallback(
        model_id, RUNTIME_ENV, "detector", lambda: detector_ir(folder, height, width)
    )
