"""int8 dynamic quantisation of a torch model's ``Linear`` layers (``torch.ao.quantization.quantize_dynamic``).

A model is loaded quantised when its spec says ``options["quantize"] = "int8-dynamic"`` (or
``"int8-dynamic-per-channel"``); the hub sets that for the ids listed in ``IMAGELENS_HUB__QUANTIZE``, by default
Florence-2 (:mod:`imagelens.models.quantization`; ``none`` turns it off).
Adapters that apply it: Florence-2 (whole model) and SigLIP (its vision encoder layers; opt-in only: int8
activations are scaled per batch, so embeddings would depend on batch composition). Not the RT-DETR detector: measured on
the full-size random model, its int8 scores collapsed (the 20 best boxes matched fp32's with IoU 0.008). Weights of
``Linear`` layers become int8 (per tensor), activations are quantised on the fly per call; convolutions, norms and
embeddings stay fp32. Outputs change a little: the agreement with the fp32 path, measured on the full-size random
models, and the speed-up are in ``benchmarks/perf_targets.md``.
"""

from __future__ import annotations

import warnings
from typing import Any

from imagelens.models.quantization import (
    DEFAULT_MODE,
    INT8_DYNAMIC,
    INT8_DYNAMIC_PER_CHANNEL,
    MODES,
    QUANTIZE_OPTION,
    quantize_mode,
    quantized_spec,
)
from imagelens.models.spec import ModelSpec

__all__ = [
    "DEFAULT_MODE",
    "INT8_DYNAMIC",
    "INT8_DYNAMIC_PER_CHANNEL",
    "MODES",
    "QUANTIZE_OPTION",
    "maybe_quantize",
    "quantize_mode",
    "quantized_spec",
]


def maybe_quantize(module: Any, spec: ModelSpec) -> Any:
    """``module`` with its ``Linear`` layers int8-dynamic-quantised when the spec asks for it, else ``module``."""
    mode = quantize_mode(spec)
    if mode is None:
        return module
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with (
        warnings.catch_warnings()
    ):  # torch marks the quantised-tensor constructors deprecated; they still work
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if mode == INT8_DYNAMIC_PER_CHANNEL:  # one int8 scale per output row instead of per tensor
            return quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
        return quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)  # no second copy
