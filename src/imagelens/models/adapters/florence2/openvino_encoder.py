"""Florence-2's image encoder (DaViT vision tower + projector) in OpenVINO: by default on CPUs with native bf16.

``IMAGELENS_FLORENCE_ENCODER``: ``auto`` (the default: OpenVINO where it computes bf16 natively, AVX512_BF16 or AMX,
and the export works; torch int8 elsewhere, where OpenVINO's f32 would be slower than torch's int8, or when the
export fails, with a warning), ``openvino`` (required: an error when it cannot run) or ``torch`` (the vision tower in
torch, int8 with the rest of the model). ``IMAGELENS_FLORENCE_PRECISION`` (OpenVINO only): ``auto`` (OpenVINO's
choice: bf16 on AVX512_BF16 / AMX CPUs, f32 elsewhere) or ``f32`` (then ``auto`` keeps torch). The language model
(BART encoder and decoder) stays in torch either way.

The encoder is exported once per model by :mod:`..openvino_export` (in a child process, ~20 s at 768 px, cached by
the weights' content) and stored as OpenVINO IR with fp16 weights under ``$XDG_CACHE_HOME/imagelens/florence-openvino``
(``IMAGELENS_FLORENCE_OPENVINO_DIR``). Later loads read the IR in about a second.

Measured (``benchmarks/perf_targets.md``, full-size random Florence-2-base at 768 px, 2 cores, 2026-12-03): the
six-feature call 4.38 s against 5.82 s with the torch int8 encoder; features cosine 0.9999 to fp32 torch (int8:
0.9991). It was opt-in until the process peak fit the 2.5 GB target: 2,275-2,763 MB in 8 runs then; 2,103 MB once
the int8 load freed the fp32 layers it replaced and SigLIP's image tower went bf16 (``benchmarks/perf_targets.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from imagelens.models.adapters import openvino_export, openvino_runtime, quantize
from imagelens.models.adapters.openvino_runtime import Precision
from imagelens.models.caches import user_cache_dir

ENCODER_ENV = "IMAGELENS_FLORENCE_ENCODER"
PRECISION_ENV = "IMAGELENS_FLORENCE_PRECISION"
CACHE_ENV = "IMAGELENS_FLORENCE_OPENVINO_DIR"
RECIPE = "onnx17-fp16ir-v1"  # bump when the export changes: old cache entries are then never read
#: the function the export child runs (openvino_export.run_exporter)
EXPORTER = f"{__name__}:export_encoder"
IR_FILE = "encoder.xml"


def asked_encoder() -> Literal["auto", "openvino", "torch"]:
    """What ``IMAGELENS_FLORENCE_ENCODER`` asks for (unset: ``auto``); anything else is refused."""
    asked = openvino_runtime.runtime_from_env(ENCODER_ENV)
    return "openvino" if asked == "openvino" else "torch" if asked == "torch" else "auto"


def chosen_encoder(model_id: str) -> Literal["openvino", "torch"]:
    """Where the image encoder runs: ``auto`` is OpenVINO when it is installed and computes bf16 natively here."""
    asked = asked_encoder()
    if asked == "openvino" and not openvino_runtime.openvino_available():
        raise openvino_runtime.missing(model_id, ENCODER_ENV, "torch")
    if asked == "auto":
        usable = chosen_precision() == "auto" and openvino_runtime.openvino_available()
        return "openvino" if usable and quantize.native_bf16() else "torch"
    return asked


def chosen_precision() -> Precision:
    return openvino_runtime.precision_from_env(PRECISION_ENV)


def cache_root() -> Path:
    return user_cache_dir("florence-openvino", CACHE_ENV)


def fingerprint(folder: Path, size: int, cache_dir: Path | None = None) -> str:
    """The cache entry's name: the model folder's weight and config files, the size, OpenVINO, the recipe."""
    return openvino_export.fingerprint(folder, RECIPE, size, cache_dir or cache_root())


def encoder_ir(folder: Path, size: int, cache_dir: Path | None = None) -> Path:
    """The OpenVINO IR (``encoder.xml``) of the Florence-2 model in ``folder`` at ``size`` px: cached, or exported
    now in a child process and stored atomically."""
    root = cache_dir or cache_root()
    return openvino_export.exported_ir(EXPORTER, folder, size, root=root, recipe=RECIPE, file_name=IR_FILE)


def export_encoder(folder: str, out: str, size: str) -> None:
    """(In the export child.) Load the fp32 model, export its image encoder to ONNX, store it as IR with fp16
    weights in ``out``."""
    import torch
    from transformers import Florence2ForConditionalGeneration

    class ImageEncoder(torch.nn.Module):
        """pixel_values (1, 3, S, S) -> the projected image tokens the language model reads (``pooler_output``)."""

        def __init__(self, florence: Any) -> None:
            super().__init__()
            self.florence = florence

        def forward(self, pixel_values: Any) -> Any:
            return self.florence.get_image_features(pixel_values=pixel_values).pooler_output

    model = Florence2ForConditionalGeneration.from_pretrained(
        folder, local_files_only=True, dtype=torch.float32
    )
    model.eval()
    encoder = ImageEncoder(model.model).eval()
    onnx_path = Path(out) / "encoder.onnx"
    side = int(size)
    example = torch.zeros(1, 3, side, side)
    with torch.no_grad():
        torch.onnx.export(
            encoder,
            (example,),
            str(onnx_path),
            dynamo=False,
            opset_version=17,
            input_names=["pixel_values"],
            output_names=["image_features"],
        )
    del model, encoder
    openvino_export.onnx_to_ir(onnx_path, Path(out) / IR_FILE, compress_to_fp16=True)


class OpenVinoEncoder:
    """The compiled encoder: ``encoder(pixel_values)`` -> image features (a torch tensor), from any thread. Its
    intermediate buffers (activations at 768 px) are handed back after each image when no other image is encoding."""

    def __init__(self, ir: Path, precision: Precision, size: int) -> None:

        self.ir = ir
        self._model = openvino_runtime.CompiledModel(ir, precision)
        #: the arithmetic OpenVINO chose: "bf16", "f16" or "f32"
        self.precision = self._model.kind
        self._model.warm_up((1, 3, size, size))

    def __call__(self, pixel_values: Any) -> Any:
        import torch

        try:
            return torch.from_numpy(self._model(pixel_values.numpy()))
        finally:
            self._model.release_idle()
